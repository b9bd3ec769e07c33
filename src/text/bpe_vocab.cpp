// Loading the CLIP BPE vocabulary (see bpe_vocab.hpp). Every problem with an input file is an
// xclip::Error that names the file and, where it applies, the line.
#include "bpe_vocab.hpp"

#include <zlib.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "xclip/core/error.hpp"
#include "xclip/core/sha256.hpp"
#include "xclip/io/json_file.hpp"
#include "xclip/text/unicode.hpp"

namespace xclip::text::detail {
namespace {

// The original keeps lines [1, 49152-256-2+1) of the merges file: 48894 merges.
constexpr std::size_t kMergeCount = 49152 - 256 - 2;
constexpr const char* kStartOfText = "<|startoftext|>";
constexpr const char* kEndOfText = "<|endoftext|>";

std::string utf8_of(char32_t c) {
  std::string s;
  append_utf8(c, s);
  return s;
}

void require_file(const std::filesystem::path& path, const char* what) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw Error(format(what, " not found: '", path.string(), "'"));
  if (std::filesystem::is_directory(path, ec))
    throw Error(format(what, " '", path.string(), "' is a directory, not a file"));
}

// Reads a gzip file (or, transparently, a plain one) completely.
std::string read_gzip_file(const std::filesystem::path& path) {
  require_file(path, "CLIP BPE vocabulary file");
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) throw Error(format("cannot open CLIP BPE vocabulary file '", path.string(), "'"));
  std::string content;
  std::vector<char> buffer(1 << 16);
  int n = 0;
  while ((n = gzread(file, buffer.data(), static_cast<unsigned>(buffer.size()))) > 0)
    content.append(buffer.data(), static_cast<std::size_t>(n));
  int errnum = Z_OK;
  const char* message = gzerror(file, &errnum);
  const std::string detail = message ? message : "";
  gzclose(file);
  if (n < 0 || (errnum != Z_OK && errnum != Z_STREAM_END))
    throw Error(format("CLIP BPE vocabulary file '", path.string(),
                       "' is corrupt or truncated (gzip: ", detail, ")"));
  return content;
}

std::string read_text_file(const std::filesystem::path& path, const char* what) {
  require_file(path, what);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(format("cannot open ", what, " '", path.string(), "'"));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(format("cannot read ", what, " '", path.string(), "'"));
  return ss.str();
}

void require_utf8(const std::string& content, const std::filesystem::path& path) {
  if (!is_valid_utf8(content))
    throw Error(format("'", path.string(), "' is not UTF-8 text"));
}

std::vector<std::string> split_lines(const std::string& content) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = content.find('\n', start);
    if (end == std::string::npos) {
      lines.push_back(content.substr(start));
      return lines;
    }
    lines.push_back(content.substr(start, end - start));
    start = end + 1;
  }
}

// A merge line "left right" (Python's str.split(): runs of whitespace).
std::pair<std::string, std::string> parse_merge(const std::string& line, std::size_t line_number,
                                                const std::filesystem::path& path) {
  std::vector<std::string> parts;
  std::string current;
  for (char ch : line) {
    if (ch == ' ' || ch == '\t' || ch == '\r') {
      if (!current.empty()) parts.push_back(std::move(current));
      current.clear();
    } else {
      current.push_back(ch);
    }
  }
  if (!current.empty()) parts.push_back(std::move(current));
  if (parts.size() != 2)
    throw Error(format("'", path.string(), "' line ", line_number,
                       ": expected a merge of two symbols separated by a space, found '", line, "'"));
  return {parts[0], parts[1]};
}

int32_t require_id(const BpeVocabulary& v, const std::string& symbol, const std::filesystem::path& path,
                   const std::string& where) {
  auto it = v.ids.find(symbol);
  if (it == v.ids.end())
    throw Error(format("'", path.string(), "'", where, ": symbol '", symbol, "' is not in the vocabulary"));
  return it->second;
}

// Fills byte symbols, merges and the special ids once `tokens`/`ids` are known.
void link_vocabulary(BpeVocabulary& v, const std::vector<std::pair<std::string, std::string>>& merges,
                     std::size_t first_merge_line, const std::filesystem::path& path) {
  for (const auto& entry : bytes_to_unicode()) {
    const std::string symbol = utf8_of(entry.code);
    v.byte_symbol[entry.byte] = require_id(v, symbol, path, "");
    v.byte_word_end[entry.byte] = require_id(v, symbol + "</w>", path, "");
  }
  v.merges.reserve(merges.size() * 2);
  v.merge_list.reserve(merges.size());
  Sha256 fingerprint;
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    const std::string where = format(" line ", first_merge_line + rank);
    const int32_t l = require_id(v, left, path, where);
    const int32_t r = require_id(v, right, path, where);
    const int32_t merged = require_id(v, left + right, path, where);
    // The original's dict(zip(merges, range(...))) would let a repeated pair take its last rank,
    // silently changing how words split: no CLIP vocabulary repeats one, so a repeat is damage.
    const auto [it, fresh] = v.merges.try_emplace(pair_key(l, r), BpeMerge{static_cast<int32_t>(rank), merged});
    if (!fresh)
      throw Error(format("'", path.string(), "'", where, ": the merge '", left, " ", right, "' repeats line ",
                         first_merge_line + std::size_t(it->second.rank),
                         " (a damaged or edited merge list: the token ids would change)"));
    v.merge_list.emplace_back(l, r);
    fingerprint.update(left + " " + right + "\n");
  }
  v.merges_sha256 = fingerprint.hex_digest();
  v.sot = require_id(v, kStartOfText, path, "");
  v.eot = require_id(v, kEndOfText, path, "");
}

}  // namespace

const std::array<ByteUnicodeEntry, 256>& bytes_to_unicode() {
  static const std::array<ByteUnicodeEntry, 256> table = [] {
    std::array<ByteUnicodeEntry, 256> t{};
    std::array<bool, 256> printable{};
    std::size_t n = 0;
    for (int b = 0; b < 256; ++b) {
      printable[b] = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      if (printable[b]) t[n++] = {static_cast<unsigned char>(b), static_cast<char32_t>(b)};
    }
    char32_t next = 256;
    for (int b = 0; b < 256; ++b)
      if (!printable[b]) t[n++] = {static_cast<unsigned char>(b), next++};
    return t;
  }();
  return table;
}

char32_t byte_to_unicode(unsigned char byte) {
  static const std::array<char32_t, 256> forward = [] {
    std::array<char32_t, 256> f{};
    for (const auto& e : bytes_to_unicode()) f[e.byte] = e.code;
    return f;
  }();
  return forward[byte];
}

int byte_from_unicode(char32_t code) {
  if (code < 256) {
    const bool printable = (code >= '!' && code <= '~') || (code >= 0xA1 && code <= 0xAC) || code >= 0xAE;
    return printable ? static_cast<int>(code) : -1;
  }
  for (const auto& e : bytes_to_unicode())
    if (e.code == code) return e.byte;
  return -1;
}

BpeVocabulary load_bpe_gz(const std::filesystem::path& path) {
  const std::string content = read_gzip_file(path);
  require_utf8(content, path);
  const std::vector<std::string> lines = split_lines(content);
  if (lines.size() < kMergeCount + 1)
    throw Error(format("CLIP BPE vocabulary file '", path.string(), "' has ", lines.size(),
                       " lines; expected a header line and at least ", kMergeCount, " merges"));
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(kMergeCount);
  for (std::size_t i = 1; i <= kMergeCount; ++i) merges.push_back(parse_merge(lines[i], i + 1, path));

  BpeVocabulary v;
  v.tokens.reserve(512 + kMergeCount + 2);
  for (const auto& e : bytes_to_unicode()) v.tokens.push_back(utf8_of(e.code));
  for (const auto& e : bytes_to_unicode()) v.tokens.push_back(utf8_of(e.code) + "</w>");
  for (const auto& [left, right] : merges) v.tokens.push_back(left + right);
  v.tokens.emplace_back(kStartOfText);
  v.tokens.emplace_back(kEndOfText);
  for (std::size_t id = 0; id < v.tokens.size(); ++id) {
    const auto [it, fresh] = v.ids.try_emplace(v.tokens[id], static_cast<int32_t>(id));
    // Token ids are positions in this list: a repeated symbol would give the later id to both.
    if (!fresh)
      throw Error(format("CLIP BPE vocabulary file '", path.string(), "' line ", id - 512 + 2, ": the merge makes '",
                         v.tokens[id], "', which line ", std::size_t(it->second) - 512 + 2,
                         " already made (a damaged merge list: the vocabulary would have ", v.tokens.size() - 1,
                         " distinct tokens instead of ", v.tokens.size(), ")"));
  }
  link_vocabulary(v, merges, 2, path);
  return v;
}

BpeVocabulary load_hf(const std::filesystem::path& vocab_json, const std::filesystem::path& merges_txt) {
  BpeVocabulary v;
  nlohmann::json json;
  // {symbol: id}: one level; anything nested is refused while parsing.
  json = io::parse_json(read_text_file(vocab_json, "Hugging Face vocab.json"), "'" + vocab_json.string() + "'", 1);
  if (!json.is_object() || json.empty())
    throw Error(format("'", vocab_json.string(), "' must be a JSON object mapping symbols to ids"));
  for (const auto& [symbol, id] : json.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= (int64_t{1} << 24))
      throw Error(format("'", vocab_json.string(), "': symbol '", symbol, "' has an invalid id ", io::json_excerpt(id, 60)));
    const auto index = static_cast<std::size_t>(id.get<int64_t>());
    if (index >= v.tokens.size()) v.tokens.resize(index + 1);
    if (!v.tokens[index].empty())
      throw Error(format("'", vocab_json.string(), "': symbols '", v.tokens[index], "' and '", symbol,
                         "' have the same id ", index));
    v.tokens[index] = symbol;
    v.ids[symbol] = static_cast<int32_t>(index);
  }

  std::string content = read_text_file(merges_txt, "Hugging Face merges.txt");
  require_utf8(content, merges_txt);
  std::vector<std::string> lines = split_lines(content);
  while (!lines.empty() && lines.back().find_first_not_of(" \t\r") == std::string::npos) lines.pop_back();
  const std::size_t first = (!lines.empty() && lines[0].starts_with("#")) ? 1 : 0;
  std::vector<std::pair<std::string, std::string>> merges;
  for (std::size_t i = first; i < lines.size() && merges.size() < kMergeCount; ++i)
    merges.push_back(parse_merge(lines[i], i + 1, merges_txt));
  link_vocabulary(v, merges, first + 1, merges_txt);
  // The vocabulary the merges imply: 512 byte symbols, one token per merge, two special tokens
  // (49408 for CLIP). A merges.txt cut short or from another model would shift every id after it.
  const std::size_t implied = 512 + merges.size() + 2;
  if (v.tokens.size() != implied || v.ids.size() != implied)
    throw Error(format("'", merges_txt.string(), "' has ", merges.size(), " merges, which make a vocabulary of ", implied,
                       " tokens, but '", vocab_json.string(), "' has ", v.ids.size(), " symbols with ids up to ",
                       v.tokens.size() - 1, " (truncated or mismatched files)"));
  return v;
}

}  // namespace xclip::text::detail
