// Unicode helpers with Python's semantics, for the CLIP tokenizer's text cleaning: UTF-8
// conversion, character classes as Python's str / re see them, str.lower() and NFC.
// Character data comes from tables generated offline from Python's unicodedata
// (tools/unicode/gen_text_tables.py).
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace xclip::text {

// UTF-8 -> code points. Invalid input is replaced like Python's bytes.decode('utf-8',
// 'replace'): each maximal invalid subpart becomes one U+FFFD.
std::u32string utf8_to_u32(std::string_view bytes);

// Is `bytes` well-formed UTF-8 (no overlong forms, surrogates or values above U+10FFFF)?
bool is_valid_utf8(std::string_view bytes);

// Strict UTF-8 decoding with ftfy's "utf-8-variants" extensions (C0 80 is U+0000; a CESU-8
// surrogate pair is the supplementary character it encodes); nullopt on any invalid sequence.
std::optional<std::u32string> decode_utf8_variants(std::string_view bytes);

// Code points -> UTF-8. Surrogate code points are written as U+FFFD.
std::string u32_to_utf8(std::u32string_view text);
void append_utf8(char32_t c, std::string& out);

bool is_letter(char32_t c);      // general category L*
bool is_number(char32_t c);      // general category N*
bool is_decimal(char32_t c);     // str.isdecimal()
bool is_word_char(char32_t c);   // \w of Python's re: str.isalnum() or '_'
bool is_space(char32_t c);       // str.isspace()

// Python str.lower(): full lower-case mappings plus the Final_Sigma rule for U+03A3.
std::u32string to_lower(std::u32string_view text);

// Unicode normalization form C, as unicodedata.normalize('NFC', text).
std::u32string to_nfc(std::u32string_view text);

}  // namespace xclip::text
