// UTF-8 conversion, character classes, str.lower() and NFC (see xclip/text/unicode.hpp).
#include "xclip/text/unicode.hpp"

#include <algorithm>

#include "tables.hpp"

namespace xclip::text {
namespace {

constexpr char32_t kReplacement = 0xFFFD;

bool is_continuation(unsigned char b) { return (b & 0xC0) == 0x80; }

// Allowed range of the second byte for a lead byte (Unicode Table 3-7, "well-formed UTF-8");
// returns false for bytes that cannot start a sequence.
bool second_byte_range(unsigned char lead, unsigned char& lo, unsigned char& hi, int& length) {
  lo = 0x80;
  hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) lo = 0xA0;
    if (lead == 0xED) hi = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return false;
  }
  return true;
}

// Decodes one well-formed sequence at `pos`; returns its length, or the length of the maximal
// invalid subpart (at least 1) negated.
int decode_one(std::string_view s, std::size_t pos, char32_t& out) {
  const auto lead = static_cast<unsigned char>(s[pos]);
  if (lead < 0x80) {
    out = lead;
    return 1;
  }
  unsigned char lo, hi;
  int length = 0;
  if (!second_byte_range(lead, lo, hi, length)) return -1;
  char32_t value = lead & (0xFF >> (length + 1));
  for (int i = 1; i < length; ++i) {
    if (pos + i >= s.size()) return -i;
    const auto b = static_cast<unsigned char>(s[pos + i]);
    const bool ok = (i == 1) ? (b >= lo && b <= hi) : is_continuation(b);
    if (!ok) return -i;
    value = (value << 6) | (b & 0x3F);
  }
  out = value;
  return length;
}

// A CESU-8 surrogate pair: ED A0-AF 80-BF ED B0-BF 80-BF.
bool cesu8_pair_at(std::string_view s, std::size_t pos, char32_t& out) {
  if (pos + 6 > s.size()) return false;
  auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[pos + i]); };
  if (b(0) != 0xED || b(1) < 0xA0 || b(1) > 0xAF || !is_continuation(b(2)) || b(3) != 0xED ||
      b(4) < 0xB0 || b(4) > 0xBF || !is_continuation(b(5)))
    return false;
  out = (((b(1) & 0x0F) << 16) | ((b(2) & 0x3F) << 10) | ((b(4) & 0x0F) << 6) | (b(5) & 0x3F)) +
        0x10000;
  return true;
}

}  // namespace

std::u32string utf8_to_u32(std::string_view bytes) {
  std::u32string out;
  out.reserve(bytes.size());
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    char32_t c = 0;
    const int n = decode_one(bytes, pos, c);
    if (n > 0) {
      out.push_back(c);
      pos += n;
    } else {
      out.push_back(kReplacement);
      pos += -n;
    }
  }
  return out;
}

bool is_valid_utf8(std::string_view bytes) {
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    char32_t c = 0;
    const int n = decode_one(bytes, pos, c);
    if (n <= 0) return false;
    pos += static_cast<std::size_t>(n);
  }
  return true;
}

std::optional<std::u32string> decode_utf8_variants(std::string_view bytes) {
  std::u32string out;
  out.reserve(bytes.size());
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    char32_t c = 0;
    const auto lead = static_cast<unsigned char>(bytes[pos]);
    if (lead == 0xC0 && pos + 1 < bytes.size() && static_cast<unsigned char>(bytes[pos + 1]) == 0x80) {
      out.push_back(0);
      pos += 2;
    } else if (lead == 0xED && cesu8_pair_at(bytes, pos, c)) {
      out.push_back(c);
      pos += 6;
    } else {
      const int n = decode_one(bytes, pos, c);
      if (n <= 0) return std::nullopt;
      out.push_back(c);
      pos += n;
    }
  }
  return out;
}

void append_utf8(char32_t c, std::string& out) {
  if ((c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF) c = kReplacement;
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string u32_to_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) append_utf8(c, out);
  return out;
}

bool is_letter(char32_t c) {
  if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
  return tables::kLetters.contains(c);
}

bool is_number(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return tables::kNumbers.contains(c);
}

bool is_decimal(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return tables::kDecimals.contains(c);
}

bool is_word_char(char32_t c) {
  if (c < 0x80) return is_letter(c) || is_number(c) || c == '_';
  return tables::kWordChars.contains(c);
}

bool is_space(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
  return tables::kSpaces.contains(c);
}

// ---- str.lower() ---------------------------------------------------------------------------

namespace {

constexpr char32_t kCapitalSigma = 0x03A3;

// CPython's Final_Sigma test: a cased letter before (skipping case-ignorable characters) and
// no cased letter after (skipping case-ignorable characters).
bool is_final_sigma(std::u32string_view text, std::size_t i) {
  std::size_t j = i;
  char32_t c = 0;
  bool found = false;
  while (j > 0) {
    c = text[--j];
    if (!tables::kCaseIgnorable.contains(c)) {
      found = true;
      break;
    }
  }
  if (!found || !tables::kCased.contains(c)) return false;
  for (j = i + 1; j < text.size(); ++j) {
    c = text[j];
    if (!tables::kCaseIgnorable.contains(c)) return !tables::kCased.contains(c);
  }
  return true;
}

}  // namespace

std::u32string to_lower(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    if (c < 0x80) {
      out.push_back((c >= 'A' && c <= 'Z') ? c + 32 : c);
    } else if (c == kCapitalSigma) {
      out.push_back(is_final_sigma(text, i) ? 0x03C2 : 0x03C3);
    } else if (!tables::kLowerMap.append(c, out)) {
      out.push_back(c);
    }
  }
  return out;
}

// ---- NFC -----------------------------------------------------------------------------------

namespace {

constexpr char32_t kHangulS = 0xAC00, kHangulL = 0x1100, kHangulV = 0x1161, kHangulT = 0x11A7;
constexpr char32_t kHangulLCount = 19, kHangulVCount = 21, kHangulTCount = 28;
constexpr char32_t kHangulNCount = kHangulVCount * kHangulTCount;
constexpr char32_t kHangulSCount = kHangulLCount * kHangulNCount;

uint8_t combining_class(char32_t c) { return c < 0x300 ? 0 : tables::kCombiningClass.lookup(c); }

void decompose(char32_t c, std::u32string& out) {
  if (c >= kHangulS && c < kHangulS + kHangulSCount) {
    const char32_t index = c - kHangulS;
    out.push_back(kHangulL + index / kHangulNCount);
    out.push_back(kHangulV + (index % kHangulNCount) / kHangulTCount);
    if (index % kHangulTCount != 0) out.push_back(kHangulT + index % kHangulTCount);
    return;
  }
  if (!tables::kCanonicalDecomposition.append(c, out)) out.push_back(c);
}

// Canonical ordering: stable sort of every run of non-starters by combining class.
void reorder_marks(std::u32string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    if (combining_class(s[i]) == 0) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < s.size() && combining_class(s[j]) != 0) ++j;
    std::stable_sort(s.begin() + static_cast<std::ptrdiff_t>(i), s.begin() + static_cast<std::ptrdiff_t>(j),
                     [](char32_t a, char32_t b) { return combining_class(a) < combining_class(b); });
    i = j;
  }
}

char32_t compose_pair(char32_t first, char32_t second) {
  if (first >= kHangulL && first < kHangulL + kHangulLCount && second >= kHangulV &&
      second < kHangulV + kHangulVCount) {
    return kHangulS + ((first - kHangulL) * kHangulVCount + (second - kHangulV)) * kHangulTCount;
  }
  if (first >= kHangulS && first < kHangulS + kHangulSCount && (first - kHangulS) % kHangulTCount == 0 &&
      second > kHangulT && second < kHangulT + kHangulTCount) {
    return first + (second - kHangulT);
  }
  return tables::kCompositions.compose(first, second);
}

void compose(std::u32string& s) {
  std::u32string out;
  out.reserve(s.size());
  std::ptrdiff_t starter = -1;
  uint8_t last_class = 0;
  for (char32_t c : s) {
    const uint8_t cls = combining_class(c);
    if (starter >= 0) {
      const bool adjacent = static_cast<std::ptrdiff_t>(out.size()) - 1 == starter;
      const bool unblocked = adjacent || (last_class != 0 && last_class < cls);
      if (unblocked) {
        if (char32_t composite = compose_pair(out[starter], c)) {
          out[starter] = composite;
          continue;
        }
      }
    }
    if (cls == 0) starter = static_cast<std::ptrdiff_t>(out.size());
    out.push_back(c);
    last_class = cls;
  }
  s.swap(out);
}

}  // namespace

std::u32string to_nfc(std::u32string_view text) {
  // Nothing below U+0300 decomposes, combines or is a combining mark.
  if (std::all_of(text.begin(), text.end(), [](char32_t c) { return c < 0x300; }))
    return std::u32string(text);
  std::u32string decomposed;
  decomposed.reserve(text.size() + 8);
  for (char32_t c : text) decompose(c, decomposed);
  reorder_marks(decomposed);
  compose(decomposed);
  return decomposed;
}

}  // namespace xclip::text
