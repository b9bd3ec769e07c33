// The CLIP tokenizer's caption cleaning: basic_clean, whitespace_clean, lower().
#include <algorithm>

#include "xclip/text/clean.hpp"
#include "xclip/text/unicode.hpp"

namespace xclip::text {

std::u32string strip_spaces(std::u32string_view text) {
  std::size_t begin = 0, end = text.size();
  while (begin < end && is_space(text[begin])) ++begin;
  while (end > begin && is_space(text[end - 1])) --end;
  return std::u32string(text.substr(begin, end - begin));
}

std::u32string whitespace_clean(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  bool in_space = false;
  for (char32_t c : text) {
    if (is_space(c)) {
      in_space = true;
      continue;
    }
    if (in_space && !out.empty()) out.push_back(' ');
    in_space = false;
    out.push_back(c);
  }
  return out;  // leading and trailing runs were dropped: already stripped
}

std::u32string clean_caption(std::u32string_view text) {
  std::u32string basic = strip_spaces(html_unescape(html_unescape(ftfy_fix_text(text))));
  return to_lower(whitespace_clean(basic));
}

std::string clean_caption(std::string_view utf8) { return u32_to_utf8(clean_caption(utf8_to_u32(utf8))); }

}  // namespace xclip::text
