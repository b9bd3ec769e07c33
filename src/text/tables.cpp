// Lookup helpers over the generated tables (binary searches over sorted arrays).
#include "tables.hpp"

#include <algorithm>
#include <cstring>

namespace xclip::text::tables {

bool RangeSet::contains(char32_t c) const {
  const CodeRange* end = data + size;
  const CodeRange* it =
      std::upper_bound(data, end, c, [](char32_t v, const CodeRange& r) { return v < r.first; });
  return it != data && c <= (it - 1)->last;
}

uint8_t ValueRangeSet::lookup(char32_t c) const {
  const ValueRange* end = data + size;
  const ValueRange* it =
      std::upper_bound(data, end, c, [](char32_t v, const ValueRange& r) { return v < r.first; });
  if (it != data && c <= (it - 1)->last) return (it - 1)->value;
  return 0;
}

bool SeqMap::append(char32_t c, std::u32string& out) const {
  const SeqEntry* end = data + size;
  const SeqEntry* it =
      std::lower_bound(data, end, c, [](const SeqEntry& e, char32_t v) { return e.code < v; });
  if (it == end || it->code != c) return false;
  out.append(pool + it->offset, it->length);
  return true;
}

char32_t CompositionTable::compose(char32_t first, char32_t second) const {
  const Composition* end = data + size;
  const Composition* it = std::lower_bound(data, end, first, [&](const Composition& e, char32_t f) {
    return e.first < f || (e.first == f && e.second < second);
  });
  if (it == end || it->first != first || it->second != second) return 0;
  return it->composite;
}

const char32_t* EntityTable::find(const std::string& name) const {
  const Entity* end = data + size;
  const Entity* it = std::lower_bound(data, end, name, [](const Entity& e, const std::string& n) {
    return std::strcmp(e.name, n.c_str()) < 0;
  });
  if (it == end || name != it->name) return nullptr;
  return it->value;
}

std::size_t EntityTable::longest_name() const {
  std::size_t longest = 0;
  for (std::size_t i = 0; i < size; ++i) longest = std::max(longest, std::strlen(data[i].name));
  return longest;
}

char32_t CharrefFixTable::find(uint32_t code) const {
  const CharrefFix* end = data + size;
  const CharrefFix* it =
      std::lower_bound(data, end, code, [](const CharrefFix& e, uint32_t v) { return e.code < v; });
  if (it == end || it->code != code) return 0;
  return it->replacement;
}

}  // namespace xclip::text::tables
