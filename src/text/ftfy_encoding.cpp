// ftfy.fix_encoding: undo text that was encoded as UTF-8 and decoded in a single-byte code page
// (possibly several times), following the decision steps of ftfy 6.3.1.
#include <algorithm>
#include <optional>
#include <stdexcept>
#include <unordered_map>

#include "ftfy_internal.hpp"
#include "tables.hpp"
#include "xclip/text/clean.hpp"
#include "xclip/text/unicode.hpp"

namespace xclip::text {
namespace {

// A code page with its inverse (one byte per character; the generator checks uniqueness).
struct Codepage {
  const tables::Charmap* map;
  std::unordered_map<char32_t, unsigned char> encode;
};

const std::vector<Codepage>& codepages() {
  static const std::vector<Codepage> pages = [] {
    std::vector<Codepage> out;
    for (std::size_t i = 0; i < tables::kCharmaps.size; ++i) {
      Codepage page{&tables::kCharmaps.data[i], {}};
      for (int b = 0; b < 256; ++b) page.encode.emplace(page.map->decode[b], static_cast<unsigned char>(b));
      out.push_back(std::move(page));
    }
    return out;
  }();
  return pages;
}

bool is_ascii(std::u32string_view text) {
  return std::all_of(text.begin(), text.end(), [](char32_t c) { return c < 0x80; });
}

// text.encode(codepage), or nullopt when some character is not in it.
std::optional<std::string> encode_in(const Codepage& page, std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    auto it = page.encode.find(c);
    if (it == page.encode.end()) return std::nullopt;
    out.push_back(static_cast<char>(it->second));
  }
  return out;
}

const Codepage& codepage_named(std::string_view name) {
  for (const Codepage& p : codepages())
    if (name == p.map->name) return p;
  throw std::logic_error("ftfy: missing code page table");
}

// text.encode('latin-1').decode('windows-1252') with strict errors: the five bytes that
// Windows-1252 leaves unassigned fail (its sloppy table maps them to themselves).
std::optional<std::u32string> latin1_as_windows1252(std::u32string_view text) {
  const tables::Charmap& cp1252 = *codepage_named("sloppy-windows-1252").map;
  std::u32string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (c < 0x80) {
      out.push_back(c);
      continue;
    }
    const char32_t decoded = cp1252.decode[c];
    if (c < 0xA0 && decoded == c) return std::nullopt;
    out.push_back(decoded);
  }
  return out;
}

bool has_c1_control(std::u32string_view text) {
  return std::any_of(text.begin(), text.end(), [](char32_t c) { return c >= 0x80 && c <= 0x9F; });
}

std::u32string decode_inconsistent_utf8(std::u32string_view text) {
  const auto runs = ftfy::find_utf8_runs(text);
  if (runs.empty()) return std::u32string(text);
  std::u32string out;
  std::size_t pos = 0;
  for (auto [begin, end] : runs) {
    out.append(text.substr(pos, begin - pos));
    const std::u32string_view piece = text.substr(begin, end - begin);
    // Only strictly shorter pieces are re-fixed, so the recursion ends.
    if (piece.size() < text.size() && ftfy_is_bad(piece))
      out += ftfy_fix_encoding(piece);
    else
      out.append(piece);
    pos = end;
  }
  out.append(text.substr(pos));
  return out;
}

// One step of ftfy's _fix_encoding_one_step_and_explain.
std::u32string fix_encoding_one_step(std::u32string_view text) {
  if (text.empty() || is_ascii(text) || !ftfy_is_bad(text)) return std::u32string(text);

  bool latin1_possible = false;
  for (const Codepage& page : codepages()) {
    std::optional<std::string> bytes = encode_in(page, text);
    if (!bytes) continue;
    if (std::string_view(page.map->name) == "latin-1") latin1_possible = true;
    if (std::string_view(page.map->name) != "macroman" && ftfy::has_altered_utf8(*bytes))
      *bytes = ftfy::restore_byte_a0(*bytes);
    if (page.map->sloppy) *bytes = ftfy::replace_lossy_sequences(*bytes);
    if (std::optional<std::u32string> fixed = decode_utf8_variants(*bytes)) return *fixed;
  }

  if (!ftfy::find_utf8_runs(text).empty()) {
    std::u32string fixed = decode_inconsistent_utf8(text);
    if (fixed != text) return fixed;
  }
  // Latin-1 that was meant as Windows-1252 (its C1 controls are really punctuation).
  if (latin1_possible) {
    if (std::optional<std::u32string> fixed = latin1_as_windows1252(text); fixed && *fixed != text)
      return *fixed;
  }
  if (has_c1_control(text)) return ftfy::fix_c1_controls(text);
  return std::u32string(text);
}

}  // namespace

std::u32string ftfy_fix_encoding(std::u32string_view text) {
  std::u32string current(text);
  // ftfy loops until nothing changes; every change either decodes bytes (shortening the text)
  // or removes mojibake, so this ends quickly. The cap only guards against a cycle.
  for (int step = 0; step < 1000; ++step) {
    std::u32string next = fix_encoding_one_step(current);
    if (next == current) break;
    current.swap(next);
  }
  return current;
}

namespace ftfy {

// C1 controls read as their Windows-1252 characters (as web browsers do).
std::u32string fix_c1_controls(std::u32string_view text) {
  const tables::Charmap& cp1252 = *codepage_named("sloppy-windows-1252").map;
  std::u32string out(text);
  for (char32_t& c : out)
    if (c >= 0x80 && c <= 0x9F) c = cp1252.decode[c];
  return out;
}

}  // namespace ftfy
}  // namespace xclip::text
