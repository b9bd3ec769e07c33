// HTML character references: Python's html.unescape and ftfy's stricter unescape_html.
#include <string>

#include "tables.hpp"
#include "xclip/text/clean.hpp"
#include "xclip/text/unicode.hpp"

namespace xclip::text {
namespace {

bool is_ascii_digit(char32_t c) { return c >= '0' && c <= '9'; }
bool is_ascii_hex(char32_t c) {
  return is_ascii_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}
bool is_ascii_alnum(char32_t c) { return is_ascii_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'); }

int digit_value(char32_t c) {
  if (is_ascii_digit(c)) return static_cast<int>(c - '0');
  return static_cast<int>((c | 0x20) - 'a' + 10);
}

// Python's _replace_charref for a numeric reference; the digits may be arbitrarily long, so the
// value saturates above the largest code point (any such value decodes to U+FFFD).
std::u32string numeric_charref(std::u32string_view digits, int base) {
  uint64_t value = 0;
  for (char32_t d : digits) {
    value = value * static_cast<uint64_t>(base) + static_cast<uint64_t>(digit_value(d));
    if (value > 0x10FFFF) value = 0x110000;
  }
  if (char32_t fix = tables::kInvalidCharrefs.find(static_cast<uint32_t>(value))) return {fix};
  if ((value >= 0xD800 && value <= 0xDFFF) || value > 0x10FFFF) return {0xFFFD};
  if (tables::kInvalidCodepoints.contains(static_cast<char32_t>(value))) return {};
  return {static_cast<char32_t>(value)};
}

std::string ascii_key(std::u32string_view name) {
  std::string key;
  for (char32_t c : name) {
    if (c >= 0x80) return {};  // entity names are ASCII: no match possible
    key.push_back(static_cast<char>(c));
  }
  return key;
}

// Python's named-reference rule: the whole name, else its longest known prefix (>= 2 chars).
std::u32string named_charref(std::u32string_view name) {
  const std::string key = ascii_key(name);
  if (!key.empty()) {
    if (const char32_t* value = tables::kHtml5Entities.find(key)) return value;
  }
  for (std::size_t x = name.size() - 1; x >= 2; --x) {
    const std::string prefix = ascii_key(name.substr(0, x));
    if (prefix.empty()) continue;
    if (const char32_t* value = tables::kHtml5Entities.find(prefix)) {
      std::u32string out(value);
      out.append(name.substr(x));
      return out;
    }
  }
  std::u32string out = U"&";
  out.append(name);
  return out;
}

bool excluded_from_name(char32_t c) {
  return c == '\t' || c == '\n' || c == '\f' || c == ' ' || c == '<' || c == '&' || c == '#' ||
         c == ';';
}

// Matches Python's _charref regex at text[pos] == '&'; returns the length matched (0: none)
// and appends the replacement.
std::size_t match_charref(std::u32string_view text, std::size_t pos, std::u32string& out) {
  const std::size_t n = text.size();
  std::size_t i = pos + 1;
  if (i < n && text[i] == '#') {
    std::size_t j = i + 1;
    int base = 10;
    if (j < n && (text[j] == 'x' || text[j] == 'X')) {
      base = 16;
      ++j;
    }
    const std::size_t digits_begin = j;
    while (j < n && (base == 16 ? is_ascii_hex(text[j]) : is_ascii_digit(text[j]))) ++j;
    if (j > digits_begin) {
      out += numeric_charref(text.substr(digits_begin, j - digits_begin), base);
      if (j < n && text[j] == ';') ++j;
      return j - pos;
    }
    return 0;  // '#' cannot start a name either
  }
  std::size_t j = i;
  while (j < n && j - i < 32 && !excluded_from_name(text[j])) ++j;
  if (j == i) return 0;
  if (j < n && text[j] == ';') ++j;
  out += named_charref(text.substr(i, j - i));
  return j - pos;
}

}  // namespace

std::u32string html_unescape(std::u32string_view text) {
  if (text.find(U'&') == std::u32string_view::npos) return std::u32string(text);
  std::u32string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (text[pos] == '&') {
      if (std::size_t used = match_charref(text, pos, out)) {
        pos += used;
        continue;
      }
    }
    out.push_back(text[pos++]);
  }
  return out;
}

// ftfy: "&#?[0-9A-Za-z]{1,24};" replaced only when it is a known entity with ';', an upper-case
// variant ftfy adds, or a numeric reference that html.unescape consumes whole.
std::u32string ftfy_unescape_html(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  const std::size_t n = text.size();
  while (pos < n) {
    if (text[pos] != '&') {
      out.push_back(text[pos++]);
      continue;
    }
    std::size_t i = pos + 1;
    const bool numeric = i < n && text[i] == '#';
    if (numeric) ++i;
    std::size_t j = i;
    while (j < n && j - i < 24 && is_ascii_alnum(text[j])) ++j;
    if (j == i || j >= n || text[j] != ';') {
      out.push_back(text[pos++]);
      continue;
    }
    const std::u32string_view entity = text.substr(pos, j + 1 - pos);  // "&...;"
    const std::string key = ascii_key(entity.substr(1));
    std::u32string replacement;
    if (const char32_t* v = tables::kHtml5Entities.find(key)) {
      replacement = v;
    } else if (const char32_t* u = tables::kUppercaseEntities.find(key)) {
      replacement = u;
    } else if (numeric) {
      replacement = html_unescape(entity);
      if (replacement.find(U';') != std::u32string::npos) replacement = entity;
    } else {
      replacement = entity;
    }
    out += replacement;
    pos = j + 1;
  }
  return out;
}

}  // namespace xclip::text
