// ftfy's byte-level transcoders (restore_byte_a0, replace_lossy_sequences): small fixed-length
// byte patterns tried in order at each position, as Python's re.sub does with an alternation.
#include <array>
#include <bitset>
#include <initializer_list>

#include "ftfy_internal.hpp"

namespace xclip::text::ftfy {
namespace {

using ByteSet = std::bitset<256>;
using BytePattern = std::vector<ByteSet>;

ByteSet bytes_in(std::initializer_list<std::pair<int, int>> ranges) {
  ByteSet set;
  for (auto [lo, hi] : ranges)
    for (int b = lo; b <= hi; ++b) set.set(static_cast<std::size_t>(b));
  return set;
}
ByteSet byte(int b) { return bytes_in({{b, b}}); }

bool matches_at(std::string_view s, std::size_t pos, const BytePattern& p) {
  if (pos + p.size() > s.size()) return false;
  for (std::size_t i = 0; i < p.size(); ++i)
    if (!p[i].test(static_cast<unsigned char>(s[pos + i]))) return false;
  return true;
}

// Length of the first alternative matching at pos, 0 when none does.
std::size_t first_match(std::string_view s, std::size_t pos, const std::vector<BytePattern>& alts) {
  for (const BytePattern& p : alts)
    if (matches_at(s, pos, p)) return p.size();
  return 0;
}

// UTF-8 sequences whose 0xA0 byte was turned into a space.
const std::vector<BytePattern>& altered_utf8() {
  static const std::vector<BytePattern> alts = [] {
    const ByteSet space = byte(0x20);
    const ByteSet cont = bytes_in({{0x80, 0xBF}});
    const ByteSet cont_no_85_a0 = bytes_in({{0x80, 0x84}, {0x86, 0x9F}, {0xA1, 0xBF}});
    return std::vector<BytePattern>{
        {bytes_in({{0xC2, 0xC3}, {0xC5, 0xC5}, {0xCE, 0xCE}, {0xD0, 0xD0}, {0xD9, 0xD9}}), space},
        {bytes_in({{0xE2, 0xE3}}), space, cont_no_85_a0},
        {bytes_in({{0xE0, 0xE3}}), cont_no_85_a0, space},
        {byte(0xF0), space, cont, cont},
        {byte(0xF0), cont, space, cont},
        {byte(0xF0), cont, cont, space},
    };
  }();
  return alts;
}

// UTF-8 sequences with bytes lost to U+FFFD (0x1A) or '?'.
const std::vector<BytePattern>& lossy_utf8() {
  static const std::vector<BytePattern> alts = [] {
    const ByteSet sub = byte(0x1A);
    const ByteSet sub_or_q = bytes_in({{0x1A, 0x1A}, {'?', '?'}});
    const ByteSet sub_or_cont = bytes_in({{0x1A, 0x1A}, {0x80, 0xBF}});
    const ByteSet any_of_three = bytes_in({{0x1A, 0x1A}, {'?', '?'}, {0x80, 0xBF}});
    const ByteSet ed = byte(0xED);
    const ByteSet lead3 = bytes_in({{0xE0, 0xEF}});
    const ByteSet lead4 = bytes_in({{0xF0, 0xF4}});
    return std::vector<BytePattern>{
        {bytes_in({{0xC2, 0xDF}}), sub},
        {bytes_in({{0xC2, 0xC3}}), byte('?')},
        {ed, bytes_in({{0xA0, 0xAF}}), sub_or_q, ed, bytes_in({{0xB0, 0xBF}}), any_of_three},
        {ed, bytes_in({{0xA0, 0xAF}}), any_of_three, ed, bytes_in({{0xB0, 0xBF}}), sub_or_q},
        {lead3, sub_or_q, sub_or_cont},
        {lead3, sub_or_cont, sub_or_q},
        {lead4, sub_or_q, sub_or_cont, sub_or_cont},
        {lead4, sub_or_cont, sub_or_q, sub_or_cont},
        {lead4, sub_or_cont, sub_or_cont, sub_or_q},
        {sub},
    };
  }();
  return alts;
}

// "\xc3 (?! |quele|quela|quilo|s )": a lone "Ã " that stands for the word "à".
bool is_a_grave_word(std::string_view s, std::size_t pos) {
  if (pos + 2 > s.size() || static_cast<unsigned char>(s[pos]) != 0xC3 || s[pos + 1] != ' ') return false;
  const std::size_t next = pos + 2;
  for (std::string_view follow : {" ", "quele", "quela", "quilo", "s "})
    if (s.substr(next).starts_with(follow)) return false;
  return true;
}

}  // namespace

bool has_altered_utf8(std::string_view bytes) {
  for (std::size_t pos = 0; pos < bytes.size(); ++pos)
    if (first_match(bytes, pos, altered_utf8())) return true;
  return false;
}

std::string restore_byte_a0(std::string_view bytes) {
  std::string spaced;
  spaced.reserve(bytes.size() + 4);
  for (std::size_t pos = 0; pos < bytes.size();) {
    if (is_a_grave_word(bytes, pos)) {
      spaced += "\xC3\xA0 ";
      pos += 2;
    } else {
      spaced.push_back(bytes[pos++]);
    }
  }
  std::string out;
  out.reserve(spaced.size());
  for (std::size_t pos = 0; pos < spaced.size();) {
    if (std::size_t len = first_match(spaced, pos, altered_utf8())) {
      for (std::size_t i = 0; i < len; ++i) out.push_back(spaced[pos + i] == ' ' ? '\xA0' : spaced[pos + i]);
      pos += len;
    } else {
      out.push_back(spaced[pos++]);
    }
  }
  return out;
}

std::string replace_lossy_sequences(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (std::size_t pos = 0; pos < bytes.size();) {
    if (std::size_t len = first_match(bytes, pos, lossy_utf8())) {
      out += "\xEF\xBF\xBD";
      pos += len;
    } else {
      out.push_back(bytes[pos++]);
    }
  }
  return out;
}

}  // namespace xclip::text::ftfy
