// The BPE vocabulary behind ClipTokenizer: symbols as ids, merges keyed by id pairs, and the
// loaders for OpenAI's bpe_simple_vocab_16e6.txt.gz and Hugging Face's vocab.json + merges.txt.
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace xclip::text::detail {

struct BpeMerge {
  int32_t rank;
  int32_t merged;  // id of the concatenated symbol
};

struct BpeVocabulary {
  std::vector<std::string> tokens;                     // id -> symbol (UTF-8); "" for gaps
  std::unordered_map<std::string, int32_t> ids;        // symbol -> id
  std::array<int32_t, 256> byte_symbol{};              // id of each byte's symbol
  std::array<int32_t, 256> byte_word_end{};            // id of the same symbol + "</w>"
  std::unordered_map<uint64_t, BpeMerge> merges;       // key: pair_key(left, right)
  std::vector<std::pair<int32_t, int32_t>> merge_list;  // (left, right) in rank order
  int32_t sot = -1;
  int32_t eot = -1;
  // SHA-256 of the merges as used ("left right\n" each, in rank order): the same for OpenAI's
  // .gz and a Hugging Face merges.txt of one vocabulary, so the CLIP vocabulary is recognised in
  // either form (kClipMergesSha256).
  std::string merges_sha256;
};

// merges_sha256 of OpenAI's bpe_simple_vocab_16e6.txt.gz (the 48894 merges CLIP uses), as
// Python computes it from the file: lines [1, 48895) of the gunzipped text, each "left right\n".
inline constexpr const char* kClipMergesSha256 = "d308b7377a8ceaa9707a21614fe8c831b9196e197b7aeb69833359362907af02";

inline uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

// GPT-2's bytes_to_unicode(): printable bytes map to themselves, the other 68 to U+0100 onward,
// in the dictionary order the original builds (printable bytes first).
struct ByteUnicodeEntry {
  unsigned char byte;
  char32_t code;
};
const std::array<ByteUnicodeEntry, 256>& bytes_to_unicode();
char32_t byte_to_unicode(unsigned char byte);
int byte_from_unicode(char32_t code);  // -1 when `code` is not a byte symbol

BpeVocabulary load_bpe_gz(const std::filesystem::path& path);
BpeVocabulary load_hf(const std::filesystem::path& vocab_json, const std::filesystem::path& merges_txt);

}  // namespace xclip::text::detail
