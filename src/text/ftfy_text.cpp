// ftfy.fix_text with the default configuration, and its simple character-level fixers.
#include <algorithm>

#include "ftfy_internal.hpp"
#include "tables.hpp"
#include "xclip/text/clean.hpp"
#include "xclip/text/unicode.hpp"

namespace xclip::text {
namespace ftfy {
namespace {

// ftfy.chardata.LIGATURES: Latin typographic ligatures and legacy digraphs.
struct Ligature {
  char32_t code;
  const char32_t* letters;
};
constexpr Ligature kLigatures[] = {
    {0x0132, U"IJ"}, {0x0133, U"ij"}, {0x0149, U"\u02BCn"}, {0x01C4, U"D\u017D"}, {0x01C5, U"D\u017E"},
    {0x01C6, U"d\u017E"}, {0x01C7, U"LJ"}, {0x01C8, U"Lj"}, {0x01C9, U"lj"}, {0x01CA, U"NJ"},
    {0x01CB, U"Nj"}, {0x01CC, U"nj"}, {0x01F1, U"DZ"}, {0x01F2, U"Dz"}, {0x01F3, U"dz"},
    {0xFB00, U"ff"}, {0xFB01, U"fi"}, {0xFB02, U"fl"}, {0xFB03, U"ffi"}, {0xFB04, U"ffl"},
    {0xFB05, U"\u017Ft"}, {0xFB06, U"st"},
};

bool is_removed_control(char32_t c) {
  return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) ||
         c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

bool is_ascii_letter(char32_t c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }

}  // namespace

std::u32string fix_latin_ligatures(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    const auto* it = std::find_if(std::begin(kLigatures), std::end(kLigatures),
                                  [c](const Ligature& l) { return l.code == c; });
    if (c >= 0x132 && it != std::end(kLigatures))
      out += it->letters;
    else
      out.push_back(c);
  }
  return out;
}

std::u32string fix_character_width(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (char32_t c : text)
    if (c < 0x3000 || !tables::kWidthMap.append(c, out)) out.push_back(c);
  return out;
}

std::u32string uncurl_quotes(std::u32string_view text) {
  std::u32string out(text);
  for (char32_t& c : out) {
    if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) c = '\'';
    else if (c >= 0x201C && c <= 0x201F) c = '"';
  }
  return out;
}

std::u32string fix_line_breaks(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;  // CRLF -> LF
    out.push_back((c == '\r' || c == 0x2028 || c == 0x2029 || c == 0x85) ? U'\n' : c);
  }
  return out;
}

std::u32string fix_surrogates(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    if (c >= 0xD800 && c <= 0xDBFF && i + 1 < text.size() && text[i + 1] >= 0xDC00 && text[i + 1] <= 0xDFFF) {
      out.push_back(0x10000 + (c - 0xD800) * 0x400 + (text[i + 1] - 0xDC00));
      ++i;
    } else {
      out.push_back((c >= 0xD800 && c <= 0xDFFF) ? U'\uFFFD' : c);
    }
  }
  return out;
}

// "\033\[((?:\d|;)*)([a-zA-Z])"
std::u32string remove_terminal_escapes(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] == 0x1B && i + 1 < text.size() && text[i + 1] == '[') {
      std::size_t j = i + 2;
      while (j < text.size() && (is_decimal(text[j]) || text[j] == ';')) ++j;
      if (j < text.size() && is_ascii_letter(text[j])) {
        i = j + 1;
        continue;
      }
    }
    out.push_back(text[i++]);
  }
  return out;
}

std::u32string remove_control_chars(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (char32_t c : text)
    if (!is_removed_control(c)) out.push_back(c);
  return out;
}

namespace {

// fix_and_explain for one segment (a line): apply every fixer until the text stops changing.
std::u32string fix_segment(std::u32string text, bool unescape_html) {
  for (int pass = 0; pass < 1000; ++pass) {
    const std::u32string original = text;
    if (unescape_html) text = ftfy_unescape_html(text);
    text = ftfy_fix_encoding(text);
    text = fix_c1_controls(text);
    text = fix_latin_ligatures(text);
    text = fix_character_width(text);
    text = uncurl_quotes(text);
    text = fix_line_breaks(text);
    text = fix_surrogates(text);
    text = remove_terminal_escapes(text);
    text = remove_control_chars(text);
    text = to_nfc(text);
    if (text == original) break;
  }
  return text;
}

// Plain printable ASCII (plus tab and newline) without '&' passes through every fixer unchanged.
bool nothing_to_fix(std::u32string_view text) {
  return std::all_of(text.begin(), text.end(), [](char32_t c) {
    return (c >= 0x20 && c < 0x7F && c != '&') || c == '\t' || c == '\n';
  });
}

}  // namespace
}  // namespace ftfy

std::u32string ftfy_fix_text(std::u32string_view text) {
  if (ftfy::nothing_to_fix(text)) return std::u32string(text);
  constexpr std::size_t kMaxSegment = 1000000;  // ftfy's max_decode_length
  std::u32string out;
  out.reserve(text.size());
  bool unescape_html = true;  // "auto": turned off for good once a segment contains '<'
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find(U'\n', pos);
    end = (end == std::u32string_view::npos) ? text.size() : end + 1;
    end = std::min(end, pos + kMaxSegment);
    const std::u32string_view segment = text.substr(pos, end - pos);
    if (unescape_html && segment.find(U'<') != std::u32string_view::npos) unescape_html = false;
    out += ftfy::fix_segment(std::u32string(segment), unescape_html);
    pos = end;
  }
  return out;
}

}  // namespace xclip::text
