// ClipTokenizer: cleaning, the pre-split of the original's regex, BPE with a per-word cache, and
// the dataloader / batch forms.
#include "xclip/text/tokenizer.hpp"

#include <mutex>
#include <unordered_map>

#include "bpe_merge.hpp"
#include "bpe_vocab.hpp"
#include "xclip/core/error.hpp"
#include "xclip/text/clean.hpp"
#include "xclip/text/unicode.hpp"

namespace xclip::text {
namespace {

constexpr std::string_view kStartOfText = "<|startoftext|>";
constexpr std::string_view kEndOfText = "<|endoftext|>";
constexpr std::size_t kMaxCacheEntries = std::size_t{1} << 20;

// The split pattern is compiled with IGNORECASE; after lower() the only characters besides the
// ASCII letter itself that can still match one of its literals are U+017F (long s) for 's'.
bool literal_char_matches(char32_t c, char literal) {
  return c == static_cast<char32_t>(literal) || (literal == 's' && c == 0x017F);
}

std::size_t literal_at(std::u32string_view text, std::size_t pos, std::string_view literal) {
  if (text.size() - pos < literal.size()) return 0;
  for (std::size_t i = 0; i < literal.size(); ++i)
    if (!literal_char_matches(text[pos + i], literal[i])) return 0;
  return literal.size();
}

// Length of the regex match starting at pos, or 0 (whitespace matches nothing):
//   <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
std::size_t piece_at(std::u32string_view text, std::size_t pos) {
  const char32_t c = text[pos];
  if (c == '<') {
    for (std::string_view special : {kStartOfText, kEndOfText})
      if (std::size_t n = literal_at(text, pos, special)) return n;
  } else if (c == '\'') {
    for (std::string_view contraction : {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"})
      if (std::size_t n = literal_at(text, pos, contraction)) return n;
  }
  if (is_letter(c)) {
    std::size_t end = pos + 1;
    while (end < text.size() && is_letter(text[end])) ++end;
    return end - pos;
  }
  if (is_number(c)) return 1;
  if (is_space(c)) return 0;
  std::size_t end = pos + 1;
  while (end < text.size() && !is_space(text[end]) && !is_letter(text[end]) && !is_number(text[end])) ++end;
  return end - pos;
}

}  // namespace

struct ClipTokenizer::Impl {
  detail::BpeVocabulary vocab;
  mutable std::mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache;
  mutable bool cache_enabled = true;

  void encode_piece(const std::string& piece, std::vector<int32_t>& out) const {
    if (piece == kStartOfText) return out.push_back(vocab.sot);
    if (piece == kEndOfText) return out.push_back(vocab.eot);
    {
      std::lock_guard<std::mutex> lock(cache_mutex);
      if (cache_enabled) {
        auto it = cache.find(piece);
        if (it != cache.end()) {
          out.insert(out.end(), it->second.begin(), it->second.end());
          return;
        }
      }
    }
    std::vector<int32_t> ids;
    detail::bpe_encode_piece(vocab, piece, ids);
    out.insert(out.end(), ids.begin(), ids.end());
    std::lock_guard<std::mutex> lock(cache_mutex);
    if (!cache_enabled) return;
    if (cache.size() >= kMaxCacheEntries) cache.clear();
    cache.emplace(piece, std::move(ids));
  }

  std::vector<int32_t> encode(std::string_view text) const {
    const std::u32string cleaned = clean_caption(utf8_to_u32(text));
    std::vector<int32_t> ids;
    ids.reserve(cleaned.size() / 3 + 4);
    std::string piece;
    for (std::size_t pos = 0; pos < cleaned.size();) {
      const std::size_t n = piece_at(cleaned, pos);
      if (n == 0) {
        ++pos;
        continue;
      }
      piece.clear();
      for (std::size_t i = pos; i < pos + n; ++i) append_utf8(cleaned[i], piece);
      encode_piece(piece, ids);
      pos += n;
    }
    return ids;
  }

  const std::string& token(int32_t id) const {
    if (id < 0 || static_cast<std::size_t>(id) >= vocab.tokens.size() || vocab.tokens[id].empty())
      throw Error(format("CLIP tokenizer: unknown token id ", id, " (vocabulary size ", vocab.tokens.size(), ")"));
    return vocab.tokens[id];
  }
};

ClipTokenizer::ClipTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ClipTokenizer::ClipTokenizer(ClipTokenizer&&) noexcept = default;
ClipTokenizer& ClipTokenizer::operator=(ClipTokenizer&&) noexcept = default;
ClipTokenizer::~ClipTokenizer() = default;

ClipTokenizer ClipTokenizer::from_bpe_file(const std::filesystem::path& bpe_path) {
  auto impl = std::make_unique<Impl>();
  impl->vocab = detail::load_bpe_gz(bpe_path);
  return ClipTokenizer(std::move(impl));
}

ClipTokenizer ClipTokenizer::from_hf_files(const std::filesystem::path& vocab_json,
                                           const std::filesystem::path& merges_txt) {
  auto impl = std::make_unique<Impl>();
  impl->vocab = detail::load_hf(vocab_json, merges_txt);
  return ClipTokenizer(std::move(impl));
}

bool ClipTokenizer::is_clip_vocabulary() const { return impl_->vocab.merges_sha256 == detail::kClipMergesSha256; }
const std::string& ClipTokenizer::merges_sha256() const { return impl_->vocab.merges_sha256; }

std::string ClipTokenizer::vocabulary_note() const {
  const std::size_t merges = impl_->vocab.merge_list.size();
  if (is_clip_vocabulary()) return format("OpenAI CLIP vocabulary (", merges, " merges)");
  return format("warning: not OpenAI CLIP's BPE vocabulary (", merges, " merges, merge-list SHA-256 ",
                impl_->vocab.merges_sha256.substr(0, 16), "...): its token ids do not match CLIP or X-CLIP checkpoints");
}

std::vector<int32_t> ClipTokenizer::encode(std::string_view text) const { return impl_->encode(text); }

std::vector<std::string> ClipTokenizer::tokenize(std::string_view text) const {
  std::vector<std::string> tokens;
  for (int32_t id : impl_->encode(text)) tokens.push_back(impl_->token(id));
  return tokens;
}

std::string ClipTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string bytes;
  for (int32_t id : ids) {
    for (char32_t c : utf8_to_u32(impl_->token(id))) {
      const int b = detail::byte_from_unicode(c);
      if (b < 0) throw Error(format("CLIP tokenizer: token ", id, " holds a character outside the byte alphabet"));
      bytes.push_back(static_cast<char>(b));
    }
  }
  std::string text = u32_to_utf8(utf8_to_u32(bytes));  // invalid UTF-8 -> U+FFFD, as 'replace'
  std::string out;
  out.reserve(text.size());
  for (std::size_t pos = 0; pos < text.size();) {
    if (text.compare(pos, 4, "</w>") == 0) {
      out.push_back(' ');
      pos += 4;
    } else {
      out.push_back(text[pos++]);
    }
  }
  return out;
}

ModelText ClipTokenizer::encode_for_model(std::string_view text, int64_t max_words) const {
  if (max_words < 2)
    throw Error(format("CLIP tokenizer: max_words must be at least 2 (start and end tokens), got ", max_words));
  const std::vector<int32_t> ids = encode(text);
  const auto words = static_cast<std::size_t>(max_words);
  ModelText out;
  out.input_ids.reserve(words);
  out.input_ids.push_back(impl_->vocab.sot);
  for (std::size_t i = 0; i < ids.size() && out.input_ids.size() < words - 1; ++i) out.input_ids.push_back(ids[i]);
  out.input_ids.push_back(impl_->vocab.eot);
  out.input_mask.assign(out.input_ids.size(), 1);
  out.input_ids.resize(words, 0);
  out.input_mask.resize(words, 0);
  out.segment_ids.assign(words, 0);
  return out;
}

TokenBatch ClipTokenizer::encode_batch(const std::vector<std::string>& texts, int64_t max_words) const {
  if (max_words < 2)
    throw Error(format("CLIP tokenizer: max_words must be at least 2 (start and end tokens), got ", max_words));
  const auto batch = static_cast<int64_t>(texts.size());
  std::vector<int64_t> ids, mask;
  ids.reserve(texts.size() * static_cast<std::size_t>(max_words));
  mask.reserve(ids.capacity());
  for (const std::string& text : texts) {
    ModelText one = encode_for_model(text, max_words);
    ids.insert(ids.end(), one.input_ids.begin(), one.input_ids.end());
    mask.insert(mask.end(), one.input_mask.begin(), one.input_mask.end());
  }
  return TokenBatch{Tensor::from_vector<int64_t>(ids, Shape{batch, max_words}),
                    Tensor::from_vector<int64_t>(mask, Shape{batch, max_words})};
}

int32_t ClipTokenizer::sot_id() const { return impl_->vocab.sot; }
int32_t ClipTokenizer::eot_id() const { return impl_->vocab.eot; }
std::size_t ClipTokenizer::vocab_size() const { return impl_->vocab.tokens.size(); }
const std::string& ClipTokenizer::token(int32_t id) const { return impl_->token(id); }
const std::vector<std::pair<int32_t, int32_t>>& ClipTokenizer::merge_pairs() const {
  return impl_->vocab.merge_list;
}

void ClipTokenizer::set_cache_enabled(bool enabled) const {
  std::lock_guard<std::mutex> lock(impl_->cache_mutex);
  impl_->cache_enabled = enabled;
  if (!enabled) impl_->cache.clear();
}

void ClipTokenizer::clear_cache() const {
  std::lock_guard<std::mutex> lock(impl_->cache_mutex);
  impl_->cache.clear();
}

std::size_t ClipTokenizer::cache_size() const {
  std::lock_guard<std::mutex> lock(impl_->cache_mutex);
  return impl_->cache.size();
}

}  // namespace xclip::text
