// ftfy's mojibake detectors: the "badness" heuristic (sequences of characters that are far
// more likely to be mis-decoded UTF-8 than intended text) and the finder of UTF-8-looking
// runs used to repair mojibake embedded in otherwise correct text.
#include "ftfy_internal.hpp"
#include "tables.hpp"
#include "xclip/text/clean.hpp"
#include "xclip/text/unicode.hpp"

namespace xclip::text {
namespace {

using tables::PatternElement;

bool element_matches(const PatternElement& e, char32_t c) {
  switch (e.kind) {
    case PatternElement::Kind::Class: return e.set->contains(c);
    case PatternElement::Kind::NegatedClass: return !e.set->contains(c);
    case PatternElement::Kind::Space: return is_space(c);
    case PatternElement::Kind::Word: return is_word_char(c);
    case PatternElement::Kind::AnyButNewline: return c != '\n';
    default: return false;
  }
}

// Does `pattern` (from element `k` on) match `text` at `pos`? Patterns are short fixed
// sequences; an optional space tries both ways.
bool pattern_matches_at(const tables::Pattern& pattern, std::size_t k, std::u32string_view text,
                        std::size_t pos) {
  for (; k < pattern.size; ++k) {
    const PatternElement& e = pattern.elements[k];
    if (e.kind == PatternElement::Kind::Start) {
      if (pos != 0) return false;
      continue;
    }
    if (e.kind == PatternElement::Kind::OptionalSpace) {
      if (pos < text.size() && is_space(text[pos]) && pattern_matches_at(pattern, k + 1, text, pos + 1))
        return true;
      continue;
    }
    if (pos >= text.size() || !element_matches(e, text[pos])) return false;
    ++pos;
  }
  return true;
}

bool is_utf8_continuation_char(char32_t c) { return tables::kUtf8Continuation.contains(c); }

// Length of one "lead + continuations" group at pos (0 when none), trying the 2-, 3- and
// 4-character forms in that order as the regex alternation does.
std::size_t utf8_group_at(std::u32string_view text, std::size_t pos) {
  struct Form {
    const tables::RangeSet* lead;
    std::size_t continuations;
  };
  const Form forms[] = {{&tables::kUtf8FirstOf2, 1}, {&tables::kUtf8FirstOf3, 2}, {&tables::kUtf8FirstOf4, 3}};
  for (const Form& f : forms) {
    if (pos + f.continuations >= text.size() || !f.lead->contains(text[pos])) continue;
    bool ok = true;
    for (std::size_t i = 1; i <= f.continuations && ok; ++i) ok = is_utf8_continuation_char(text[pos + i]);
    if (ok) return f.continuations + 1;
  }
  return 0;
}

}  // namespace

bool ftfy_is_bad(std::u32string_view text) {
  for (std::size_t pos = 0; pos < text.size(); ++pos) {
    if (text[pos] < 0x80 && text[pos] != ' ' && !(text[pos] >= 'a' && text[pos] <= 'z') &&
        !(text[pos] >= 'A' && text[pos] <= 'Z') && text[pos] != '.' && text[pos] != ',' &&
        text[pos] != '?' && text[pos] != '!' && !is_space(text[pos]))
      continue;  // no pattern starts with any other ASCII character
    for (std::size_t p = 0; p < tables::kBadnessPatterns.size; ++p) {
      if (pattern_matches_at(tables::kBadnessPatterns.data[p], 0, text, pos)) return true;
    }
  }
  return false;
}

namespace ftfy {

// UTF8_DETECTOR_RE: (?<![strict continuation]) (lead continuation{1,3})+ , leftmost matches,
// each repetition taking the first form that fits (nothing follows the group, so the regex
// never backtracks into an earlier repetition).
std::vector<std::pair<std::size_t, std::size_t>> find_utf8_runs(std::u32string_view text) {
  std::vector<std::pair<std::size_t, std::size_t>> runs;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const bool preceded_by_strict = pos > 0 && tables::kUtf8ContinuationStrict.contains(text[pos - 1]);
    std::size_t end = pos;
    if (!preceded_by_strict) {
      while (std::size_t len = utf8_group_at(text, end)) end += len;
    }
    if (end > pos) {
      runs.emplace_back(pos, end);
      pos = end;
    } else {
      ++pos;
    }
  }
  return runs;
}

}  // namespace ftfy
}  // namespace xclip::text
