// The CLIP byte-level BPE tokenizer, exactly as the original (X-CLIP modules/tokenization_clip.py,
// itself OpenAI CLIP's simple_tokenizer): caption cleaning (xclip/text/clean.hpp), the regex
// pre-split into letter runs / single digits / punctuation runs / contractions, GPT-2's
// byte-to-unicode map, and BPE merges by rank.
//
// Vocabulary: OpenAI's `bpe_simple_vocab_16e6.txt.gz` (ids: 256 byte symbols, the same with
// "</w>", one per merge, then <|startoftext|> = 49406 and <|endoftext|> = 49407), or a Hugging
// Face `vocab.json` + `merges.txt` pair (ids from vocab.json).
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "xclip/core/tensor.hpp"

namespace xclip::text {

// One caption as the dataloaders feed it to the model (all int64, length max_words).
struct ModelText {
  std::vector<int64_t> input_ids;    // [SOT] + ids cut to max_words-2 + [EOT], padded with 0
  std::vector<int64_t> input_mask;   // 1 for real tokens (SOT/EOT included), 0 for padding
  std::vector<int64_t> segment_ids;  // all 0
};

// A batch of captions: int64 tensors of shape [B, max_words].
struct TokenBatch {
  Tensor input_ids;
  Tensor input_mask;
};

class ClipTokenizer {
 public:
  static constexpr int64_t kDefaultMaxWords = 32;

  // Loads `bpe_simple_vocab_16e6.txt.gz` (an uncompressed copy is read as well).
  // Throws xclip::Error naming the file when it is missing, unreadable or malformed.
  static ClipTokenizer from_bpe_file(const std::filesystem::path& bpe_path);
  // Loads a Hugging Face CLIP tokenizer's vocab.json + merges.txt.
  static ClipTokenizer from_hf_files(const std::filesystem::path& vocab_json,
                                     const std::filesystem::path& merges_txt);

  ClipTokenizer(ClipTokenizer&&) noexcept;
  ClipTokenizer& operator=(ClipTokenizer&&) noexcept;
  ~ClipTokenizer();

  // BPE ids of a caption, without <|startoftext|> / <|endoftext|> (the original `encode`).
  std::vector<int32_t> encode(std::string_view text) const;
  // The BPE symbols of a caption (the original `tokenize`), e.g. {"a</w>", "man</w>"}.
  std::vector<std::string> tokenize(std::string_view text) const;
  // Ids back to text ("</w>" becomes a space); throws xclip::Error for an unknown id.
  std::string decode(const std::vector<int32_t>& ids) const;

  // The dataloader form: [SOT] + ids, cut to max_words-1 entries, + [EOT], padded with 0.
  // max_words must be at least 2.
  ModelText encode_for_model(std::string_view text, int64_t max_words = kDefaultMaxWords) const;
  TokenBatch encode_batch(const std::vector<std::string>& texts,
                          int64_t max_words = kDefaultMaxWords) const;

  int32_t sot_id() const;
  int32_t eot_id() const;
  std::size_t vocab_size() const;
  const std::string& token(int32_t id) const;  // throws for an unknown id
  // The merges as (left id, right id), in rank order.
  const std::vector<std::pair<int32_t, int32_t>>& merge_pairs() const;

  // Whether the merges are OpenAI CLIP's (bpe_simple_vocab_16e6, recognised by the SHA-256 of the
  // merge list, from the .gz or from a Hugging Face merges.txt): the token ids every CLIP and
  // X-CLIP checkpoint was trained with. Another vocabulary loads (it passed every structural
  // check) but its ids mean nothing to those checkpoints.
  bool is_clip_vocabulary() const;
  const std::string& merges_sha256() const;
  // One line for logs: "OpenAI CLIP vocabulary (48894 merges)" or, for any other, a warning
  // naming its merge count and SHA-256.
  std::string vocabulary_note() const;

  // Writes this vocabulary as a Hugging Face vocab.json + merges.txt pair (atomically).
  void save_hf_files(const std::filesystem::path& vocab_json,
                     const std::filesystem::path& merges_txt) const;

  // The per-word BPE cache (thread-safe). Disabling it also clears it.
  void set_cache_enabled(bool enabled) const;
  void clear_cache() const;
  std::size_t cache_size() const;

 private:
  struct Impl;
  explicit ClipTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Where the CLIP BPE vocabulary is found when no --bpe path is given, in this order:
//   1. $XCLIP_BPE (when set, it must name a file: an error otherwise);
//   2. the installed data folder, installed_data_dir(executable) / "clip" (make install);
//   3. the source tree's data/clip/ (source_data_dir(), fixed when the library was built).
// `executable` defaults to /proc/self/exe. Throws xclip::Error listing every place tried.
std::filesystem::path find_default_bpe_file(const std::filesystem::path& executable = {});
// The same search with another source data folder ("" leaves that step out): for tests.
std::filesystem::path find_default_bpe_file(const std::filesystem::path& executable,
                                            const std::filesystem::path& source_data);

// <exe dir>/../share/xclip: where `make install` puts data/ beside <prefix>/bin/xclip-cli.
// `executable` defaults to /proc/self/exe; "" when it cannot be read.
std::filesystem::path installed_data_dir(const std::filesystem::path& executable = {});
// The absolute path of the source tree's data/ this library was built from ("" when unknown).
std::filesystem::path source_data_dir();

}  // namespace xclip::text
