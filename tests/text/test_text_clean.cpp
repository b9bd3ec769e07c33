// Caption cleaning pieces against the behaviour of the Python functions the original uses
// (str.lower, unicodedata.normalize('NFC'), html.unescape, re.sub(r'\s+', ...), ftfy 6.3.1).
// Expected values were produced with CPython 3.11 and ftfy 6.3.1.
#include <catch2/catch.hpp>

#include "xclip/text/clean.hpp"
#include "xclip/text/unicode.hpp"

using namespace xclip::text;

namespace {
std::string lower(const std::string& s) { return u32_to_utf8(to_lower(utf8_to_u32(s))); }
std::string nfc(const std::string& s) { return u32_to_utf8(to_nfc(utf8_to_u32(s))); }
std::string unescape(const std::string& s) { return u32_to_utf8(html_unescape(utf8_to_u32(s))); }
std::string fix(const std::string& s) { return u32_to_utf8(ftfy_fix_text(utf8_to_u32(s))); }
bool bad(const std::string& s) { return ftfy_is_bad(utf8_to_u32(s)); }
}  // namespace

TEST_CASE("UTF-8 decoding replaces each maximal invalid subpart with U+FFFD") {
  CHECK(utf8_to_u32("a\xC3\xA9") == U"a\u00E9");
  CHECK(utf8_to_u32("\xE2\x82") == U"\uFFFD");              // truncated sequence: one replacement
  CHECK(utf8_to_u32("\xED\xA0\x80") == U"\uFFFD\uFFFD\uFFFD");  // encoded surrogate: three
  CHECK(utf8_to_u32("\xF0\x80\x80") == U"\uFFFD\uFFFD\uFFFD");  // overlong
  CHECK(utf8_to_u32("\xC0\xAF") == U"\uFFFD\uFFFD");
  CHECK(utf8_to_u32("\xF4\x90\x80\x80") == U"\uFFFD\uFFFD\uFFFD\uFFFD");
  CHECK(u32_to_utf8(U"\U0001F600") == "\xF0\x9F\x98\x80");
  CHECK(is_valid_utf8("caf\xC3\xA9"));
  CHECK_FALSE(is_valid_utf8("caf\xC3"));
  // ftfy's variants: Java's C0 80 and CESU-8 surrogate pairs
  CHECK(decode_utf8_variants("\xC0\x80") == std::u32string(1, U'\0'));
  CHECK(decode_utf8_variants("\xED\xA0\xBD\xED\xB8\x8D") == U"\U0001F60D");
  CHECK_FALSE(decode_utf8_variants("\xED\xA0\xBD").has_value());
}

TEST_CASE("to_lower is Python's str.lower(), final sigma included") {
  CHECK(lower("A MAN IS SINGING") == "a man is singing");
  CHECK(lower("\xCE\xA3\xCE\x91\xCE\xA3 \xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3.") ==
        "\xCF\x83\xCE\xB1\xCF\x82 \xCE\xBF\xCE\xB4\xCE\xBF\xCF\x82.");  // ΣΑΣ ΟΔΟΣ. -> σας οδος.
  CHECK(lower("\xCE\xA3") == "\xCF\x83");                               // lone Σ -> σ
  CHECK(lower("A\xCE\xA3'") == "a\xCF\x82'");                          // apostrophe is case-ignorable
  CHECK(lower("\xC4\xB0") == "i\xCC\x87");                              // İ -> i + combining dot
  CHECK(lower("\xE1\xBA\x9E") == "\xC3\x9F");                           // ẞ -> ß
  CHECK(lower("\xEF\xBC\xA6") == "\xEF\xBD\x86");                       // Ｆ -> ｆ
}

TEST_CASE("to_nfc composes, reorders marks and respects exclusions") {
  CHECK(nfc("e\xCC\x81") == "\xC3\xA9");                      // e + acute -> é
  CHECK(nfc("a\xCC\x82\xCC\xA3") == "\xE1\xBA\xAD");          // a + circumflex + dot below -> ậ
  CHECK(nfc("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8") == "\xEA\xB0\x81");  // Hangul jamo -> 각
  CHECK(nfc("\xE0\xA4\x95\xE0\xA4\xBC") == "\xE0\xA4\x95\xE0\xA4\xBC");  // क + nukta stays (excluded)
  CHECK(nfc("\xE2\x84\xAB") == "\xC3\x85");                   // Angstrom sign -> Å (singleton)
  CHECK(nfc("plain ascii") == "plain ascii");
}

TEST_CASE("html_unescape is Python's html.unescape") {
  CHECK(unescape("&amp;amp; &lt;b&gt;") == "&amp; <b>");
  CHECK(unescape("&notit; &not &ac;") == "\xC2\xACit; \xC2\xAC \xE2\x88\xBE");
  CHECK(unescape("&#65&#x42;&#X43;") == "ABC");
  CHECK(unescape("&#128;&#0;&#xD800;&#x110000;") == "\xE2\x82\xAC\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(unescape("a&#1;b") == "ab");
  CHECK(unescape("&#; &#x; &unknownentity; & ;") == "&#; &#x; &unknownentity; & ;");
  CHECK(unescape("&#99999999999999999999999;") == "\xEF\xBF\xBD");
}

TEST_CASE("whitespace_clean collapses every Unicode whitespace run and strips") {
  CHECK(u32_to_utf8(whitespace_clean(U"  a\u3000b\x1c\t c\u00A0\u2028d  ")) == "a b c d");
  CHECK(whitespace_clean(U"\u200Bx") == U"\u200Bx");  // zero-width space is not whitespace
  CHECK(whitespace_clean(U" \n ").empty());
}

TEST_CASE("ftfy: mojibake is repaired, legitimate text is left alone") {
  CHECK(fix("s\xC3\x83\xC2\xB3") == "s\xC3\xB3");  // sÃ³ -> só
  CHECK(fix("The Mona Lisa doesn\xC3\x83\xC6\x92\xC3\x82\xC2\xA2\xC3\x83\xC2\xA2\xC3\xA2\xE2\x82\xAC\xC5\xA1"
            "\xC3\x82\xC2\xAC\xC3\x83\xC2\xA2\xC3\xA2\xE2\x82\xAC\xC5\xBE\xC3\x82\xC2\xA2t have eyebrows.") ==
        "The Mona Lisa doesn't have eyebrows.");  // UTF-8 read as Windows-1252 three times
  CHECK(fix("voil\xC3\x83 le travail") == "voil\xC3\xA0 le travail");  // 'Ã ' whose 0xA0 became a space
  CHECK(fix("Hi guys \xC3\xAD\xC2\xA0\xC2\xBD\xC3\xAD\xC2\xB8\xC2\x8D") == "Hi guys \xF0\x9F\x98\x8D");  // CESU-8
  CHECK(fix("\xC3\xA2\xE2\x82\xAC\xC5\x93lossy decoding\xC3\xA2\xE2\x82\xAC\xEF\xBF\xBD") ==
        "\"lossy decoding\xEF\xBF\xBD");
  CHECK(fix("parl\xC3\xA9\xC2\x85 Tu") == "parl\xC3\xA9\xE2\x80\xA6 Tu");  // C1 control -> ellipsis
  CHECK(fix("#\xE2\x95\xA8\xE2\x94\x90\xE2\x95\xA4\xC3\x87") == "#\xD0\xBF\xD1\x80");  // code page 437
  // left alone
  for (const char* fine : {"na\xC3\xAFve fa\xC3\xA7" "ade", "caf\xC3\xA9 au lait", "$100 dollars and 50\xC2\xA2",
                           "HUHLL \xC3\x95\xE2\x80\xA6", "4288\xC3\x97\xE2\x80\xA6", "(-1/2)! = \xE2\x88\x9A\xCF\x80"}) {
    INFO(fine);
    CHECK(fix(fine) == fine);
  }
}

TEST_CASE("ftfy: entities, quotes, ligatures, width, escapes and controls") {
  CHECK(fix("&ntilde; &Ntilde; &NTILDE; &nTILDE;") == "\xC3\xB1 \xC3\x91 \xC3\x91 &nTILDE;");
  CHECK(fix("BUNDESSTRA&SZLIG;E") == "BUNDESSTRASSE");
  CHECK(fix("&amp;amp;") == "&");                     // repeated until nothing changes
  CHECK(fix("<b>&amp;</b>") == "<b>&amp;</b>");       // a '<' turns entity decoding off
  CHECK(fix("x &amp; y\n<p>\n&amp;") == "x & y\n<p>\n&amp;");  // ... for the rest of the text
  CHECK(fix("\xE2\x80\x9Csmart\xE2\x80\x9D \xE2\x80\x98single\xE2\x80\x99") == "\"smart\" 'single'");
  CHECK(fix("\xEF\xAC\x82u\xEF\xAC\x83" "e\xEF\xAC\x86") == "fluffiest");
  CHECK(fix("\xEF\xBC\xAC\xEF\xBC\xAF\xEF\xBC\xB5\xEF\xBC\xA4\xE3\x80\x80\xEF\xBD\x8E") == "LOUD n");
  CHECK(fix("\x1B[36;44mblue\x1B[0m") == "blue");
  CHECK(fix("control\x07" "char\xEF\xBB\xBF") == "controlchar");
  CHECK(fix("a\r\nb\rc\xE2\x80\xA8" "d") == "a\nb\nc\nd");
}

TEST_CASE("ftfy's mojibake heuristic") {
  CHECK(bad("\xC3\x83\xC2\xA9"));             // Ã©
  CHECK(bad("\xC2\x80"));                     // a C1 control
  CHECK_FALSE(bad("caf\xC3\xA9"));
  CHECK_FALSE(bad("\xE2\x80\x9Cquoted\xE2\x80\x9D"));
  CHECK_FALSE(bad("plain ascii"));
}

TEST_CASE("clean_caption: the whole cleaning of the original tokenizer") {
  CHECK(clean_caption(std::string("  Someone\xE2\x80\x99s &amp;amp; \xE2\x80\x9CQUOTED\xE2\x80\x9D\tTEXT  ")) ==
        "someone's & \"quoted\" text");
  CHECK(clean_caption(std::string("a &amp;lt;b&amp;gt; tag")) == "a <b> tag");
  CHECK(clean_caption(std::string("<i>&amp;amp;lt;</i>")) == "<i>&lt;</i>");  // ftfy off; html.unescape twice
  CHECK(clean_caption(std::string("")).empty());
}
