// Caption cleaning exactly as the original CLIP tokenizer (X-CLIP modules/tokenization_clip.py):
//   text = whitespace_clean(basic_clean(text)).lower()
//   basic_clean(text) = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
// ftfy.fix_text is re-implemented with the behaviour of ftfy 6.3.1's default configuration
// (mojibake repair, HTML entities unless the line has '<', terminal escapes, C1 controls,
// Latin ligatures, character width, curly quotes, line breaks, surrogates, control characters,
// NFC). Everything works on code points (std::u32string), like Python's str.
#pragma once
#include <string>
#include <string_view>

namespace xclip::text {

// The whole cleaning pipeline of the tokenizer: UTF-8 in, cleaned lower-case UTF-8 out.
std::string clean_caption(std::string_view utf8);
std::u32string clean_caption(std::u32string_view text);

// ftfy.fix_text(text) with the default TextFixerConfig.
std::u32string ftfy_fix_text(std::u32string_view text);

// ftfy.fix_encoding(text): the mojibake repair steps only.
std::u32string ftfy_fix_encoding(std::u32string_view text);

// ftfy.badness.is_bad(text): does the text contain a sequence typical of mojibake?
bool ftfy_is_bad(std::u32string_view text);

// ftfy.fixes.unescape_html: entities that end in ';' (plus upper-cased Latin ones) only.
std::u32string ftfy_unescape_html(std::u32string_view text);

// Python's html.unescape (HTML5 rules, including references without ';').
std::u32string html_unescape(std::u32string_view text);

// Python's str.strip() (Unicode whitespace) and re.sub(r'\s+', ' ', text).strip().
std::u32string strip_spaces(std::u32string_view text);
std::u32string whitespace_clean(std::u32string_view text);

}  // namespace xclip::text
