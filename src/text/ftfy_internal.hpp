// Pieces of the ftfy re-implementation shared between its source files.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace xclip::text::ftfy {

// Runs of characters that look like UTF-8 read in a single-byte code page: [begin, end) pairs,
// leftmost first, not preceded by a strict continuation character.
std::vector<std::pair<std::size_t, std::size_t>> find_utf8_runs(std::u32string_view text);

// Byte-level transcoders applied before re-decoding as UTF-8.
std::string restore_byte_a0(std::string_view bytes);
std::string replace_lossy_sequences(std::string_view bytes);
bool has_altered_utf8(std::string_view bytes);

// The simple character-level fixers, in the order fix_text applies them.
std::u32string fix_c1_controls(std::u32string_view text);
std::u32string fix_latin_ligatures(std::u32string_view text);
std::u32string fix_character_width(std::u32string_view text);
std::u32string uncurl_quotes(std::u32string_view text);
std::u32string fix_line_breaks(std::u32string_view text);
std::u32string fix_surrogates(std::u32string_view text);
std::u32string remove_terminal_escapes(std::u32string_view text);
std::u32string remove_control_chars(std::u32string_view text);

}  // namespace xclip::text::ftfy
