// Text helpers of the pickle reader: the protocol-0 text arguments and latin-1 bytes.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace xclip::io::pickle::text {

// Decimal integer with optional sign; false when empty, malformed or outside int64.
bool parse_int(std::string_view s, int64_t& out);
// A Python float repr ("1.5", "-inf", "nan", "1e300"); false when malformed.
bool parse_float(std::string_view s, double& out);
// UTF-8 text whose code points are all <= U+00FF -> those code points as bytes; false otherwise.
bool utf8_to_latin1(const std::string& utf8, std::string& out);
// Appends the UTF-8 encoding of a code point (invalid ones become U+FFFD).
void append_utf8(std::string& out, uint32_t cp);
// UNICODE opcode argument: latin-1 text with \uXXXX and \UXXXXXXXX escapes -> UTF-8.
std::string decode_raw_unicode_escape(std::string_view s);
// STRING opcode argument: a quoted Python 2 str literal ('...' or "...") with backslash escapes.
bool decode_python_string_literal(std::string_view s, std::string& out);

}  // namespace xclip::io::pickle::text
