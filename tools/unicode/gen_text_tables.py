#!/usr/bin/python3
"""Generate the C++ data tables used by the CLIP tokenizer's text cleaning (src/text/).

Run offline, from the repository root, with the Debian interpreter (no third-party modules):

    /usr/bin/python3 tools/unicode/gen_text_tables.py src/text

It writes eight files (one or two tables each, so each stays readable and under 800 lines), each
starting with a comment that names this command and the Unicode version of the interpreter's
`unicodedata`:

  unicode_classes.cpp        letter / number / decimal / word / whitespace classes (as Python's str
                             and re see them) and the Final_Sigma properties of str.lower().
  unicode_mappings.cpp       str.lower() mappings and the full-width map of ftfy's
                             fix_character_width.
  unicode_decomposition.cpp  NFC data: canonical decompositions.
  unicode_composition.cpp    NFC data: combining classes and primary compositions.
  html_entities.cpp          html.entities.html5.
  html_charrefs.cpp          the upper-cased entity names ftfy also decodes (e.g. &EACUTE;) and
                             html.unescape's invalid-charref tables.
  mojibake_charmaps.cpp      the single-byte code pages ftfy tries (with its "sloppy" variants) and
                             the UTF-8 "clue" classes of its inconsistent-UTF-8 fixer.
  mojibake_badness.cpp       the character categories of ftfy's mojibake heuristic and the
                             sequence patterns built from them.

The mojibake data reproduces the behaviour of ftfy 6.3.1 (MIT license, Robyn Speer and
contributors), the version the reference tokenizer cases were made with.
"""
import codecs
import html
import html.entities
import os
import sys
import unicodedata

MAX_CP = 0x110000
HANGUL_FIRST, HANGUL_LAST = 0xAC00, 0xD7A3


def header(command_note):
    return (
        "// GENERATED FILE - do not edit by hand.\n"
        f"// Made by: /usr/bin/python3 tools/unicode/gen_text_tables.py src/text\n"
        f"// Python {sys.version.split()[0]}, unicodedata (Unicode) {unicodedata.unidata_version}.\n"
        f"// {command_note}\n"
        '#include "tables.hpp"\n\n'
        "namespace xclip::text::tables {\n\n"
    )


FOOTER = "}  // namespace xclip::text::tables\n"


def write_table_file(out_dir, file_name, note, body):
    """One generated file: the header, the tables, the namespace's end."""
    with open(os.path.join(out_dir, file_name), "w", encoding="utf-8") as f:
        f.write(header(note) + body + FOOTER)


def to_ranges(codes):
    codes = sorted(set(codes))
    ranges = []
    for c in codes:
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    return ranges


def emit_range_set(name, codes):
    ranges = to_ranges(codes)
    lines = [f"static const CodeRange {name}_data[] = {{"]
    row = []
    for first, last in ranges:
        row.append(f"{{0x{first:X}, 0x{last:X}}}")
        if len(row) == 6:
            lines.append("    " + ", ".join(row) + ",")
            row = []
    if row:
        lines.append("    " + ", ".join(row) + ",")
    lines.append("};")
    lines.append(f"const RangeSet {name} = {{{name}_data, {len(ranges)}}};\n")
    return "\n".join(lines) + "\n"


def emit_seq_map(name, mapping):
    """mapping: {code point: str}. Emits a sorted SeqMap array plus its code point pool."""
    pool = []
    entries = []
    for cp in sorted(mapping):
        value = mapping[cp]
        entries.append((cp, len(pool), len(value)))
        pool.extend(ord(ch) for ch in value)
    out = [f"static const char32_t {name}_pool[] = {{"]
    for i in range(0, len(pool), 10):
        out.append("    " + ", ".join(f"0x{c:X}" for c in pool[i:i + 10]) + ",")
    out.append("};")
    out.append(f"static const SeqEntry {name}_entries[] = {{")
    for i in range(0, len(entries), 5):
        out.append("    " + ", ".join(f"{{0x{c:X}, {o}, {n}}}" for c, o, n in entries[i:i + 5]) + ",")
    out.append("};")
    out.append(f"const SeqMap {name} = {{{name}_entries, {len(entries)}, {name}_pool}};\n")
    return "\n".join(out) + "\n"


def u32_literal(text):
    return 'U"' + "".join(f"\\U{ord(c):08X}" for c in text) + '"'


# ---------------------------------------------------------------------------------------------
# unicode_classes.cpp, unicode_mappings.cpp, unicode_decomposition.cpp, unicode_composition.cpp
# ---------------------------------------------------------------------------------------------
def final_sigma_properties():
    """Case_Ignorable and Cased as CPython's str.lower() uses them for the Final_Sigma rule.

    unicodedata does not expose these properties, so they are read back from lower() itself:
    'A' + c + 'Σ' ends in final sigma iff c is case-ignorable or cased, and c + 'Σ' ends in final
    sigma iff c is cased and not case-ignorable (an ignorable c is skipped, leaving nothing cased
    before the sigma). CPython skips ignorable characters before testing Cased, so the Cased
    property only matters for characters that are not case-ignorable.
    """
    ignorable, cased = [], []
    for cp in range(MAX_CP):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        with_cased_before = ("A" + c + "\u03a3").lower()[-1] == "\u03c2"
        alone = (c + "\u03a3").lower()[-1] == "\u03c2"
        if alone:
            cased.append(cp)
        elif with_cased_before:
            ignorable.append(cp)
    return ignorable, cased


def nfc_tables():
    decomposition, combining, compositions = {}, {}, []
    for cp in range(MAX_CP):
        if 0xD800 <= cp <= 0xDFFF or HANGUL_FIRST <= cp <= HANGUL_LAST:
            continue
        c = chr(cp)
        ccc = unicodedata.combining(c)
        if ccc:
            combining[cp] = ccc
        nfd = unicodedata.normalize("NFD", c)
        if nfd != c:
            decomposition[cp] = nfd
        raw = unicodedata.decomposition(c)
        if raw and not raw.startswith("<"):
            parts = [int(p, 16) for p in raw.split()]
            # A primary composite: its two-character canonical decomposition composes back.
            if len(parts) == 2 and unicodedata.normalize("NFC", chr(parts[0]) + chr(parts[1])) == c:
                compositions.append((parts[0], parts[1], cp))
    compositions.sort()
    return decomposition, combining, compositions


def emit_combining(combining):
    ranges = []
    for cp in sorted(combining):
        v = combining[cp]
        if ranges and ranges[-1][1] == cp - 1 and ranges[-1][2] == v:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp, v])
    out = ["static const ValueRange kCombiningClass_data[] = {"]
    for i in range(0, len(ranges), 5):
        out.append("    " + ", ".join(f"{{0x{a:X}, 0x{b:X}, {v}}}" for a, b, v in ranges[i:i + 5]) + ",")
    out.append("};")
    out.append(f"const ValueRangeSet kCombiningClass = {{kCombiningClass_data, {len(ranges)}}};\n")
    return "\n".join(out) + "\n"


def emit_compositions(compositions):
    out = ["static const Composition kCompositions_data[] = {"]
    for i in range(0, len(compositions), 4):
        out.append("    " + ", ".join(f"{{0x{a:X}, 0x{b:X}, 0x{c:X}}}" for a, b, c in compositions[i:i + 4]) + ",")
    out.append("};")
    out.append(f"const CompositionTable kCompositions = {{kCompositions_data, {len(compositions)}}};\n")
    return "\n".join(out) + "\n"


def width_map():
    """ftfy's fix_character_width: NFKC of the halfwidth/fullwidth block, and U+3000 -> space."""
    mapping = {0x3000: " "}
    for cp in range(0xFF01, 0xFFF0):
        alternate = unicodedata.normalize("NFKC", chr(cp))
        if alternate != chr(cp):
            mapping[cp] = alternate
    return mapping


def write_unicode_tables(out_dir):
    chars = [chr(cp) for cp in range(MAX_CP)]
    letters = [cp for cp in range(MAX_CP) if unicodedata.category(chars[cp]).startswith("L")]
    numbers = [cp for cp in range(MAX_CP) if unicodedata.category(chars[cp]).startswith("N")]
    decimals = [cp for cp in range(MAX_CP) if chars[cp].isdecimal()]
    words = [cp for cp in range(MAX_CP) if chars[cp].isalnum() or chars[cp] == "_"]
    spaces = [cp for cp in range(MAX_CP) if chars[cp].isspace()]
    lower = {cp: chars[cp].lower() for cp in range(MAX_CP)
             if not 0xD800 <= cp <= 0xDFFF and chars[cp].lower() != chars[cp]}
    ignorable, cased = final_sigma_properties()
    decomposition, combining, compositions = nfc_tables()

    classes = "// General category L* (the \\p{L} of the tokenizer's split pattern).\n"
    classes += emit_range_set("kLetters", letters)
    classes += "// General category N* (\\p{N}).\n"
    classes += emit_range_set("kNumbers", numbers)
    classes += "// str.isdecimal() (\\d of Python's re on str).\n"
    classes += emit_range_set("kDecimals", decimals)
    classes += "// str.isalnum() or '_' (\\w of Python's re on str).\n"
    classes += emit_range_set("kWordChars", words)
    classes += "// str.isspace() (\\s of Python's re on str, and str.strip()).\n"
    classes += emit_range_set("kSpaces", spaces)
    classes += "// Case_Ignorable, as str.lower()'s Final_Sigma rule sees it.\n"
    classes += emit_range_set("kCaseIgnorable", ignorable)
    classes += "// Cased and not Case_Ignorable (the only Cased characters the rule can test).\n"
    classes += emit_range_set("kCased", cased)
    write_table_file(out_dir, "unicode_classes.cpp",
                     "Unicode character classes for text cleaning and the tokenizer's pre-split.", classes)

    mappings = "// str.lower() of each single character that changes (U+03A3 handled by the rule).\n"
    mappings += emit_seq_map("kLowerMap", lower)
    mappings += "// ftfy fix_character_width: U+3000 and U+FF01..U+FFEF to their NFKC forms.\n"
    mappings += emit_seq_map("kWidthMap", width_map())
    write_table_file(out_dir, "unicode_mappings.cpp",
                     "Per-character mappings: lower-casing and ftfy's width fix.", mappings)

    decompositions = "// Full canonical decomposition (NFD of one character), Hangul syllables excluded.\n"
    decompositions += emit_seq_map("kCanonicalDecomposition", decomposition)
    write_table_file(out_dir, "unicode_decomposition.cpp", "Canonical decompositions (NFC, first half).",
                     decompositions)

    composition = "// Canonical combining class (non-zero only).\n"
    composition += emit_combining(combining)
    composition += "// Primary composites: (first, second) -> composite, sorted by (first, second).\n"
    composition += emit_compositions(compositions)
    write_table_file(out_dir, "unicode_composition.cpp",
                     "Canonical combining classes and primary composites (NFC, second half).", composition)


# ---------------------------------------------------------------------------------------------
# html_entities.cpp, html_charrefs.cpp
# ---------------------------------------------------------------------------------------------
def ftfy_uppercase_entities():
    """Upper-cased names of lower-case entities, decoded by ftfy when html.unescape would not."""
    extra = {}
    for name, char in html.entities.html5.items():
        if name.endswith(";") and name == name.lower():
            entity_upper = "&" + name.upper()
            if html.unescape(entity_upper) == entity_upper:
                extra[name.upper()] = char.upper()
    return extra


def emit_entities(name, table):
    out = [f"static const Entity {name}_data[] = {{"]
    keys = sorted(table)  # byte order == std::string order for ASCII names
    for i in range(0, len(keys), 3):  # three a line keeps the two tables under 800 lines each
        out.append("    " + " ".join(f'{{"{key}", {u32_literal(table[key])}}},' for key in keys[i:i + 3]))
    out.append("};")
    out.append(f"const EntityTable {name} = {{{name}_data, {len(table)}}};\n")
    return "\n".join(out) + "\n"


def write_html_tables(out_dir):
    for key in html.entities.html5:
        assert key.isascii() and '"' not in key and "\\" not in key, key
    entities = "// html.entities.html5 (names without '&'; some also appear without ';').\n"
    entities += emit_entities("kHtml5Entities", html.entities.html5)
    write_table_file(out_dir, "html_entities.cpp", "HTML5 named character references (html.entities.html5).",
                     entities)
    extra = "// ftfy's extra upper-case names (without '&', with ';') -> upper-cased character.\n"
    extra += emit_entities("kUppercaseEntities", ftfy_uppercase_entities())
    invalid_charrefs = html._invalid_charrefs
    out = ["// html._invalid_charrefs: numeric references replaced as browsers do.",
           "static const CharrefFix kInvalidCharrefs_data[] = {"]
    for code in sorted(invalid_charrefs):
        out.append(f"    {{0x{code:X}, 0x{ord(invalid_charrefs[code]):X}}},")
    out.append("};")
    out.append(f"const CharrefFixTable kInvalidCharrefs = {{kInvalidCharrefs_data, {len(invalid_charrefs)}}};\n")
    out.append("// html._invalid_codepoints: numeric references that decode to nothing.")
    out.append("static const CodeRange kInvalidCodepoints_data[] = {")
    ranges = to_ranges(html._invalid_codepoints)
    for i in range(0, len(ranges), 6):
        out.append("    " + ", ".join(f"{{0x{a:X}, 0x{b:X}}}" for a, b in ranges[i:i + 6]) + ",")
    out.append("};")
    out.append(f"const RangeSet kInvalidCodepoints = {{kInvalidCodepoints_data, {len(ranges)}}};\n")
    extra += "\n".join(out) + "\n"
    write_table_file(out_dir, "html_charrefs.cpp",
                     "ftfy's upper-case entity names and html.unescape's numeric-reference rules.", extra)


# ---------------------------------------------------------------------------------------------
# mojibake_charmaps.cpp, mojibake_badness.cpp
# ---------------------------------------------------------------------------------------------
# The single-byte encodings ftfy tries, in its order. "sloppy-" code pages decode their
# unassigned bytes as Latin-1 does, and byte 0x1A stands for U+FFFD.
CHARMAP_ENCODINGS = [
    ("latin-1", "latin-1", False),
    ("sloppy-windows-1252", "cp1252", True),
    ("sloppy-windows-1251", "cp1251", True),
    ("sloppy-windows-1250", "cp1250", True),
    ("sloppy-windows-1253", "cp1253", True),
    ("sloppy-windows-1254", "cp1254", True),
    ("sloppy-windows-1257", "cp1257", True),
    ("iso-8859-2", "iso-8859-2", False),
    ("macroman", "mac_roman", False),
    ("cp437", "cp437", False),
]


def decode_table(codec, sloppy):
    all_bytes = bytes(range(256))
    if not sloppy:
        table = all_bytes.decode(codec)
    else:
        chars = list(all_bytes.decode("latin-1"))
        for i, ch in enumerate(all_bytes.decode(codec, errors="replace")):
            if ch != "\ufffd":
                chars[i] = ch
        chars[0x1A] = "\ufffd"
        table = "".join(chars)
    assert len(set(table)) == 256, codec  # one byte per character: encoding is a plain inverse
    return table


def N(name):
    return unicodedata.lookup(name)


def span(first, last):
    return "".join(chr(c) for c in range(ord(first), ord(last) + 1))


# Character categories of ftfy's mojibake heuristic (ftfy/badness.py, 6.3.1).
CATEGORIES = {
    "common": [N(n) for n in (
        "NO-BREAK SPACE", "SOFT HYPHEN", "MIDDLE DOT", "ACUTE ACCENT", "EN DASH", "EM DASH",
        "HORIZONTAL BAR", "HORIZONTAL ELLIPSIS", "RIGHT SINGLE QUOTATION MARK")],
    "c1": [span("\x80", "\x9f")],
    "bad": [N(n) for n in (
        "BROKEN BAR", "CURRENCY SIGN", "DIAERESIS", "NOT SIGN", "MACRON", "CEDILLA",
        "LATIN SMALL LETTER F WITH HOOK", "MODIFIER LETTER CIRCUMFLEX ACCENT", "CARON", "BREVE",
        "OGONEK", "SMALL TILDE", "DAGGER", "DOUBLE DAGGER", "PER MILLE SIGN", "REVERSED NOT SIGN",
        "LOZENGE", "REPLACEMENT CHARACTER", "FEMININE ORDINAL INDICATOR",
        "MASCULINE ORDINAL INDICATOR")],
    "law": [N("PILCROW SIGN"), N("SECTION SIGN")],
    "currency": [N(n) for n in ("CENT SIGN", "POUND SIGN", "YEN SIGN", "PESETA SIGN", "EURO SIGN")],
    "start_punctuation": [N(n) for n in (
        "INVERTED EXCLAMATION MARK", "LEFT-POINTING DOUBLE ANGLE QUOTATION MARK",
        "INVERTED QUESTION MARK", "COPYRIGHT SIGN", "GREEK TONOS", "GREEK DIALYTIKA TONOS",
        "LEFT SINGLE QUOTATION MARK", "SINGLE LOW-9 QUOTATION MARK", "LEFT DOUBLE QUOTATION MARK",
        "DOUBLE LOW-9 QUOTATION MARK", "BULLET", "SINGLE LEFT-POINTING ANGLE QUOTATION MARK")]
        + ["\uf8ff"],
    "end_punctuation": [N(n) for n in (
        "REGISTERED SIGN", "RIGHT-POINTING DOUBLE ANGLE QUOTATION MARK", "DOUBLE ACUTE ACCENT",
        "RIGHT DOUBLE QUOTATION MARK", "SINGLE RIGHT-POINTING ANGLE QUOTATION MARK",
        "TRADE MARK SIGN")],
    "numeric": [N(n) for n in (
        "SUPERSCRIPT TWO", "SUPERSCRIPT THREE", "SUPERSCRIPT ONE", "PLUS-MINUS SIGN",
        "VULGAR FRACTION ONE QUARTER", "VULGAR FRACTION ONE HALF",
        "VULGAR FRACTION THREE QUARTERS", "MULTIPLICATION SIGN", "MICRO SIGN", "DIVISION SIGN",
        "FRACTION SLASH", "PARTIAL DIFFERENTIAL", "INCREMENT", "N-ARY PRODUCT", "N-ARY SUMMATION",
        "SQUARE ROOT", "INFINITY", "INTERSECTION", "INTEGRAL", "ALMOST EQUAL TO", "NOT EQUAL TO",
        "IDENTICAL TO", "LESS-THAN OR EQUAL TO", "GREATER-THAN OR EQUAL TO", "NUMERO SIGN")],
    "kaomoji": [span("Ò", "Ö"), span("Ù", "Ü"), span("ò", "ö"), span("ø", "ü")] + [N(n) for n in (
        "LATIN CAPITAL LETTER O WITH DOUBLE ACUTE", "LATIN CAPITAL LETTER O WITH MACRON",
        "LATIN CAPITAL LETTER U WITH MACRON", "LATIN CAPITAL LETTER U WITH OGONEK",
        "DEGREE SIGN")],
    "upper_accented": [span("\xc0", "\xd1")] + [N("LATIN CAPITAL " + n) for n in (
        "LETTER O WITH STROKE", "LETTER U WITH DIAERESIS", "LETTER Y WITH ACUTE",
        "LETTER A WITH BREVE", "LETTER A WITH MACRON", "LETTER A WITH OGONEK",
        "LETTER C WITH ACUTE", "LETTER C WITH CARON", "LETTER D WITH CARON",
        "LETTER D WITH STROKE", "LETTER E WITH OGONEK", "LETTER E WITH CARON",
        "LETTER E WITH MACRON", "LETTER E WITH DOT ABOVE", "LETTER G WITH BREVE",
        "LETTER G WITH CEDILLA", "LETTER I WITH DOT ABOVE", "LETTER I WITH MACRON",
        "LETTER K WITH CEDILLA", "LETTER L WITH ACUTE", "LETTER L WITH CARON",
        "LETTER L WITH STROKE", "LETTER L WITH CEDILLA", "LETTER N WITH ACUTE",
        "LETTER N WITH CARON", "LETTER N WITH CEDILLA", "LIGATURE OE", "LETTER R WITH CARON",
        "LETTER S WITH ACUTE", "LETTER S WITH CEDILLA", "LETTER S WITH CARON",
        "LETTER T WITH CEDILLA", "LETTER T WITH CARON", "LETTER U WITH RING ABOVE",
        "LETTER U WITH DOUBLE ACUTE", "LETTER Y WITH DIAERESIS", "LETTER Z WITH ACUTE",
        "LETTER Z WITH DOT ABOVE", "LETTER Z WITH CARON")]
        + [N("CYRILLIC CAPITAL LETTER GHE WITH UPTURN")],
    "lower_accented": [N("LATIN SMALL LETTER SHARP S"), span("\xe0", "\xf1")]
        + [N("LATIN SMALL " + n) for n in (
            "LETTER A WITH BREVE", "LETTER A WITH OGONEK", "LETTER A WITH MACRON",
            "LETTER C WITH ACUTE", "LETTER C WITH CARON", "LETTER D WITH CARON",
            "LETTER D WITH STROKE", "LETTER E WITH OGONEK", "LETTER E WITH CARON",
            "LETTER E WITH MACRON", "LETTER E WITH DOT ABOVE", "LETTER G WITH BREVE",
            "LETTER G WITH CEDILLA", "LETTER I WITH OGONEK", "LETTER I WITH MACRON",
            "LETTER K WITH CEDILLA", "LETTER L WITH ACUTE", "LETTER L WITH CARON",
            "LETTER L WITH STROKE", "LETTER L WITH CEDILLA", "LIGATURE OE", "LETTER R WITH ACUTE",
            "LETTER S WITH ACUTE", "LETTER S WITH CEDILLA", "LETTER S WITH CARON",
            "LETTER T WITH CARON", "LETTER U WITH DIAERESIS", "LETTER Z WITH ACUTE",
            "LETTER Z WITH DOT ABOVE", "LETTER Z WITH CARON")]
        + [N("CYRILLIC SMALL LETTER GHE WITH UPTURN"), N("LATIN SMALL LIGATURE FI"),
           N("LATIN SMALL LIGATURE FL")],
    "upper_common": [N("LATIN CAPITAL LETTER THORN"),
                     span(N("GREEK CAPITAL LETTER ALPHA"), N("GREEK CAPITAL LETTER OMEGA"))]
        + [N("GREEK CAPITAL LETTER " + n) for n in (
            "ALPHA WITH TONOS", "EPSILON WITH TONOS", "ETA WITH TONOS", "IOTA WITH TONOS",
            "OMICRON WITH TONOS", "UPSILON WITH TONOS", "OMEGA WITH TONOS",
            "IOTA WITH DIALYTIKA", "UPSILON WITH DIALYTIKA")]
        + [span(N("CYRILLIC CAPITAL LETTER IO"), N("CYRILLIC CAPITAL LETTER YA"))],
    "lower_common": [span(N("GREEK SMALL LETTER ALPHA"), N("GREEK SMALL LETTER OMEGA"))]
        + [N("GREEK SMALL LETTER " + n) for n in (
            "ALPHA WITH TONOS", "EPSILON WITH TONOS", "ETA WITH TONOS", "IOTA WITH TONOS",
            "UPSILON WITH DIALYTIKA AND TONOS")]
        + [span(N("CYRILLIC SMALL LETTER A"), N("CYRILLIC SMALL LETTER DZHE"))],
    "box": ["│┌┐┘├┤┬┼",
            span(N("BOX DRAWINGS DOUBLE HORIZONTAL"),
                 N("BOX DRAWINGS DOUBLE VERTICAL AND HORIZONTAL")),
            "▀▄█▌▐░▒▓"],
}
CATEGORIES = {k: "".join(v) for k, v in CATEGORIES.items()}

# Special pattern elements (the C++ side knows them by these names).
SPACE, OPT_SPACE, WORD, ANY, START = "\\s", "\\s?", "\\w", ".", "^"


def cls(*parts):
    """A character class: category names and literal character strings, unioned."""
    chars = ""
    for p in parts:
        chars += CATEGORIES.get(p, p) if p in CATEGORIES else p
    return ("class", chars)


def neg(chars):
    return ("negclass", chars)


ASCII_LOWER = "abcdefghijklmnopqrstuvwxyz"
ASCII_LETTERS = ASCII_LOWER + ASCII_LOWER.upper()

# The heuristic's unlikely sequences: text "is bad" when any of them occurs anywhere.
BADNESS_PATTERNS = [
    [cls("c1")],
    [cls("bad", "lower_accented", "upper_accented", "box", "start_punctuation", "end_punctuation",
         "currency", "numeric", "law"), cls("bad")],
    [cls(ASCII_LETTERS), cls("lower_common", "upper_common"), cls("bad")],
    [cls("bad"), cls("lower_accented", "upper_accented", "box", "start_punctuation",
                     "end_punctuation", "currency", "numeric", "law")],
    [cls("lower_accented", "lower_common", "box", "end_punctuation", "currency", "numeric"),
     cls("upper_accented")],
    [cls("box", "end_punctuation", "currency", "numeric"), cls("lower_accented")],
    [cls("lower_accented", "box", "end_punctuation"), cls("currency")],
    [SPACE, cls("upper_accented"), cls("currency")],
    [cls("upper_accented", "box"), cls("numeric", "law")],
    [cls("lower_accented", "upper_accented", "box", "currency", "end_punctuation"),
     cls("start_punctuation"), cls("numeric")],
    [cls("lower_accented", "upper_accented", "currency", "numeric", "box", "law"),
     cls("end_punctuation"), cls("start_punctuation")],
    [cls("currency", "numeric", "box"), cls("start_punctuation")],
    [cls(ASCII_LOWER), cls("upper_accented"), cls("start_punctuation", "currency")],
    [cls("box"), cls("kaomoji")],
    [cls("lower_accented", "upper_accented", "currency", "numeric", "start_punctuation",
         "end_punctuation", "law"), cls("box")],
    [cls("box"), cls("end_punctuation")],
    [cls("lower_accented", "upper_accented"), cls("start_punctuation", "end_punctuation"), WORD],
    # the ligature oe when not followed by an unaccented Latin letter
    [cls("Œœ"), neg(ASCII_LETTERS)],
    # degree signs after capital letters
    [cls("upper_accented"), cls("°")],
    # common Windows-1252 two-character mojibake
    [cls("ÂÃÎÐ"), cls("€œŠš¢£Ÿž\xa0\xad®©°·»", "start_punctuation", "end_punctuation", "–—´")],
    [cls("×"), cls("²³")],
    # Windows-1252 mojibake of Arabic: four characters
    [cls("ØÙ"), cls("common", "currency", "bad", "numeric", "start_punctuation", "ŸŠ®°µ»"),
     cls("ØÙ"), cls("common", "currency", "bad", "numeric", "start_punctuation", "ŸŠ®°µ»")],
    # Windows-1252 mojibake starting three-byte South Asian letters
    [cls("à"), cls("²µ¹¼½¾")],
    # MacRoman mojibake
    [cls("√"), cls("±∂†≠®™´≤≥¥µø")],
    [cls("≈"), cls("°¢")],
    [cls("‚"), cls("Ä"), cls("ìîïòôúùû†°¢π")],
    [cls("‚"), cls("âó"), cls("àä°ê")],
    # Windows-1251 mojibake of U+2000-range characters, Latin-1 and Cyrillic
    [cls("в"), cls("Ђ")],
    [cls("ВГРС"), cls("c1", "bad", "start_punctuation", "end_punctuation", "currency", "°µ"),
     cls("ВГРС")],
    [cls("Г"), cls("ў"), cls("В"), cls("Ђ"), cls("В"), ANY, cls(ASCII_LETTERS + " ")],
    # Windows-1252 encodings of 'à', 'á' and U+00A0 itself
    [cls("Ã"), cls("\xa0¡")],
    [cls(ASCII_LOWER), OPT_SPACE, cls("ÃÂ"), cls(" ")],
    [START, cls("ÃÂ"), cls(" ")],
    # Â before a common character it encodes
    [cls(ASCII_LOWER + ".,?!", "end_punctuation"), cls("Â"),
     cls(" ", "start_punctuation", "end_punctuation")],
    # Windows-1253 mojibake
    [cls("β"), cls("€"), cls("™\xa0Ά\xad®°")],
    [cls("ΒΓΞΟ"), cls("c1", "bad", "start_punctuation", "end_punctuation", "currency", "°"),
     cls("ΒΓΞΟ")],
    # Windows-1257 mojibake of U+2000-range characters
    [cls("ā"), cls("€")],
]


def utf8_clues(tables):
    """Classes of characters that single-byte mojibake of UTF-8 is made of (ftfy chardata).

    first_of_2/3/4: characters that one of the Latin-like code pages decodes from a UTF-8 lead
    byte (0xC2-0xDF, 0xE0-0xEF, 0xF0 or 0xF3); continuation: from 0x80-0xBF (plus space, for a
    lost U+00A0); continuation_strict: the same without the characters that commonly stand for
    themselves next to mojibake (spaces, dashes, quotes, bullet, ellipsis).
    """
    latin_like = ["latin-1", "sloppy-windows-1252", "sloppy-windows-1250", "sloppy-windows-1251",
                  "sloppy-windows-1253", "sloppy-windows-1254", "sloppy-windows-1257"]

    def chars_of(byte_values):
        out = set()
        for enc in latin_like:
            for b in byte_values:
                ch = tables[enc][b]
                if ch.isalpha() or ch in "\u00d7":  # letters (and the multiplication sign)
                    out.add(ch)
        return out

    first2 = chars_of(range(0xC2, 0xE0))
    first3 = chars_of(range(0xE0, 0xF0))
    first4 = chars_of([0xF0, 0xF3])
    cont = set(chr(c) for c in range(0x80, 0xC0)) | {" "}
    for enc in latin_like:
        for b in range(0x80, 0xC0):
            cont.add(tables[enc][b])
    # Same set as ftfy's list: the Latin-like code pages' 0x80-0xBF characters, excluding the
    # Latin-1 look-alikes that are not mojibake clues (other symbols such as '¤' are already
    # inside 0x80-0xBF).
    strict_excluded = set(" \u2013\u2014\u2015\u2018\u2019\u201a\u201c\u201d\u201e\u2022\u2026")
    strict = {c for c in cont if c not in strict_excluded}
    return first2, first3, first4, cont, strict


def write_mojibake_tables(out_dir):
    tables = {name: decode_table(codec, sloppy) for name, codec, sloppy in CHARMAP_ENCODINGS}
    text = "static const Charmap kCharmaps_data[] = {\n"
    for name, _codec, sloppy in CHARMAP_ENCODINGS:
        text += f'    {{"{name}", {str(sloppy).lower()}, {{\n'
        table = tables[name]
        for i in range(0, 256, 8):
            text += "        " + ", ".join(f"0x{ord(c):X}" for c in table[i:i + 8]) + ",\n"
        text += "    }},\n"
    text += "};\n"
    text += f"const CharmapList kCharmaps = {{kCharmaps_data, {len(CHARMAP_ENCODINGS)}}};\n\n"
    charmaps = text

    # Pattern element classes.
    text = ""
    elements = []
    patterns = []
    for pattern in BADNESS_PATTERNS:
        start = len(elements)
        for el in pattern:
            elements.append(el)
        patterns.append((start, len(pattern)))
    class_sets = {}
    for i, el in enumerate(elements):
        if isinstance(el, tuple):
            class_sets[i] = el[1]
    for i, chars in class_sets.items():
        text += emit_range_set(f"kBadnessClass{i}", [ord(c) for c in chars])
    text += "static const PatternElement kBadnessElements[] = {\n"
    kinds = {SPACE: "Space", OPT_SPACE: "OptionalSpace", WORD: "Word", ANY: "AnyButNewline",
             START: "Start"}
    for i, el in enumerate(elements):
        if isinstance(el, tuple):
            kind = "Class" if el[0] == "class" else "NegatedClass"
            text += f"    {{PatternElement::Kind::{kind}, &kBadnessClass{i}}},\n"
        else:
            text += f"    {{PatternElement::Kind::{kinds[el]}, nullptr}},\n"
    text += "};\n"
    text += "static const Pattern kBadnessPatterns_data[] = {\n"
    for start, count in patterns:
        text += f"    {{kBadnessElements + {start}, {count}}},\n"
    text += "};\n"
    text += f"const PatternList kBadnessPatterns = {{kBadnessPatterns_data, {len(patterns)}}};\n\n"
    write_table_file(out_dir, "mojibake_badness.cpp",
                     "ftfy's badness patterns (ftfy 6.3.1 behaviour; ftfy is MIT-licensed).", text)

    text = charmaps
    first2, first3, first4, cont, strict = utf8_clues(tables)
    text += "// Characters that Latin-like code pages decode from UTF-8 lead / continuation bytes.\n"
    text += emit_range_set("kUtf8FirstOf2", [ord(c) for c in first2])
    text += emit_range_set("kUtf8FirstOf3", [ord(c) for c in first3])
    text += emit_range_set("kUtf8FirstOf4", [ord(c) for c in first4])
    text += emit_range_set("kUtf8Continuation", [ord(c) for c in cont])
    text += emit_range_set("kUtf8ContinuationStrict", [ord(c) for c in strict])
    write_table_file(out_dir, "mojibake_charmaps.cpp",
                     "The code pages ftfy tries and UTF-8 clues (ftfy 6.3.1 behaviour; ftfy is MIT-licensed).", text)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: /usr/bin/python3 tools/unicode/gen_text_tables.py OUT_DIR")
    out_dir = sys.argv[1]
    write_unicode_tables(out_dir)
    write_html_tables(out_dir)
    write_mojibake_tables(out_dir)


if __name__ == "__main__":
    main()
