// ClipTokenizer behaviour beyond the reference cases: the model-input form, batches, decode,
// the Hugging Face vocabulary path, edge inputs, and the BPE merge order.
#include <catch2/catch.hpp>
#include <map>
#include <random>

#include "tokenizer_fixture.hpp"
#include "xclip/core/error.hpp"

using xclip::text::ClipTokenizer;

TEST_CASE("encode_for_model: [SOT] + ids cut to max_words-1 + [EOT], padded with 0") {
  XCLIP_REQUIRE_TOKENIZER(tok);
  const std::string text = "a man is playing a guitar while two dogs run around the stage in 1999";
  const std::vector<int32_t> ids = tok->encode(text);
  REQUIRE(ids.size() > 10);

  const xclip::text::ModelText cut = tok->encode_for_model(text, 8);
  REQUIRE(cut.input_ids.size() == 8);
  CHECK(cut.input_ids.front() == tok->sot_id());
  CHECK(cut.input_ids.back() == tok->eot_id());
  for (int i = 1; i < 7; ++i) CHECK(cut.input_ids[i] == ids[i - 1]);  // max_words-2 caption tokens
  CHECK(cut.input_mask == std::vector<int64_t>(8, 1));
  CHECK(cut.segment_ids == std::vector<int64_t>(8, 0));

  const xclip::text::ModelText padded = tok->encode_for_model(text, 64);
  REQUIRE(padded.input_ids.size() == 64);
  const std::size_t real = ids.size() + 2;
  CHECK(padded.input_ids[real - 1] == tok->eot_id());
  for (std::size_t i = real; i < 64; ++i) {
    CHECK(padded.input_ids[i] == 0);
    CHECK(padded.input_mask[i] == 0);
  }
  CHECK(std::count(padded.input_mask.begin(), padded.input_mask.end(), 1) == static_cast<long>(real));

  // exactly max_words-2 caption tokens fit without cutting
  const xclip::text::ModelText exact = tok->encode_for_model(text, static_cast<int64_t>(real));
  CHECK(exact.input_ids == std::vector<int64_t>(padded.input_ids.begin(), padded.input_ids.begin() + real));

  CHECK_THROWS_AS(tok->encode_for_model(text, 1), xclip::Error);
}

TEST_CASE("empty and blank captions give just [SOT, EOT]") {
  XCLIP_REQUIRE_TOKENIZER(tok);
  for (const char* blank : {"", " ", "\t\n  \r\n", "\xE3\x80\x80"}) {  // the last: U+3000 ideographic space
    INFO("caption: '" << blank << "'");
    CHECK(tok->encode(blank).empty());
    const xclip::text::ModelText m = tok->encode_for_model(blank, 32);
    CHECK(m.input_ids[0] == tok->sot_id());
    CHECK(m.input_ids[1] == tok->eot_id());
    CHECK(std::all_of(m.input_ids.begin() + 2, m.input_ids.end(), [](int64_t v) { return v == 0; }));
    CHECK(std::count(m.input_mask.begin(), m.input_mask.end(), 1) == 2);
  }
}

TEST_CASE("encode_batch stacks encode_for_model rows into int64 [B, max_words] tensors") {
  XCLIP_REQUIRE_TOKENIZER(tok);
  const std::vector<std::string> texts = {"a dog runs", "", "someone is cooking pasta in a kitchen"};
  const xclip::text::TokenBatch batch = tok->encode_batch(texts, 16);
  CHECK(batch.input_ids.shape() == xclip::Shape{3, 16});
  CHECK(batch.input_mask.shape() == xclip::Shape{3, 16});
  CHECK(batch.input_ids.dtype() == xclip::DType::i64);
  std::vector<int64_t> ids, mask;
  for (const auto& t : texts) {
    auto m = tok->encode_for_model(t, 16);
    ids.insert(ids.end(), m.input_ids.begin(), m.input_ids.end());
    mask.insert(mask.end(), m.input_mask.begin(), m.input_mask.end());
  }
  CHECK(batch.input_ids.to_vector<int64_t>() == ids);
  CHECK(batch.input_mask.to_vector<int64_t>() == mask);
  CHECK(tok->encode_batch({}, 16).input_ids.shape() == xclip::Shape{0, 16});
}

TEST_CASE("decode turns ids back into the cleaned text, '</w>' as spaces") {
  XCLIP_REQUIRE_TOKENIZER(tok);
  CHECK(tok->decode(tok->encode("A man is playing a guitar.")) == "a man is playing a guitar . ");
  CHECK(tok->decode(tok->encode("naïve café — 東京")) == "naïve café — 東京 ");
  CHECK(tok->decode({tok->sot_id(), 320, tok->eot_id()}) == "<|startoftext|>a <|endoftext|>");
  CHECK(tok->decode({}).empty());
  CHECK_THROWS_AS(tok->decode({49408}), xclip::Error);
  CHECK_THROWS_AS(tok->decode({-1}), xclip::Error);
  // a lone UTF-8 lead byte (0xC3, symbol 'Ã') decodes to U+FFFD, as bytes.decode(.., 'replace')
  int32_t lead_byte_id = -1;
  for (int32_t id = 0; id < 256; ++id)
    if (tok->token(id) == "\xC3\x83") lead_byte_id = id;
  REQUIRE(lead_byte_id >= 0);
  CHECK(tok->decode({lead_byte_id}) == "\xEF\xBF\xBD");
}

TEST_CASE("very long inputs: a long caption and a single enormous word finish and round-trip") {
  XCLIP_REQUIRE_TOKENIZER(tok);
  std::string caption;
  for (int i = 0; i < 20000; ++i) caption += "a man is playing a guitar. ";
  const std::vector<int32_t> ids = tok->encode(caption);
  CHECK(ids.size() == 7u * 20000u);
  CHECK(tok->encode_for_model(caption, 32).input_ids.back() == tok->eot_id());

  std::string word;
  for (int i = 0; i < 50000; ++i) word += "abcab"[i % 5];  // one 50,000-letter word
  const std::vector<int32_t> word_ids = tok->encode(word);
  CHECK(word_ids.size() > 1000);
  CHECK(tok->decode(word_ids) == word + " ");

  std::string digits(100000, '7');  // digits split one by one
  CHECK(tok->encode(digits).size() == 100000);
}

TEST_CASE("invalid UTF-8 input is replaced, not rejected") {
  XCLIP_REQUIRE_TOKENIZER(tok);
  const std::vector<int32_t> replaced = tok->encode("ab\xFF\xFE cd");
  const std::vector<int32_t> explicit_fffd = tok->encode("ab\xEF\xBF\xBD\xEF\xBF\xBD cd");
  CHECK(replaced == explicit_fffd);
  CHECK_NOTHROW(tok->encode(std::string("\x00\x01\x02\x80\xC0", 5)));
}

namespace {

// The original's quadratic bpe(): find the lowest-ranked adjacent pair, merge every occurrence
// left to right, repeat. Used as the reference for the heap-based implementation.
std::vector<std::string> reference_bpe(std::vector<std::string> word,
                                       const std::map<std::pair<std::string, std::string>, int>& ranks) {
  while (word.size() > 1) {
    int best = -1;
    std::pair<std::string, std::string> bigram;
    for (std::size_t i = 0; i + 1 < word.size(); ++i) {
      auto it = ranks.find({word[i], word[i + 1]});
      if (it != ranks.end() && (best < 0 || it->second < best)) {
        best = it->second;
        bigram = it->first;
      }
    }
    if (best < 0) break;
    std::vector<std::string> merged;
    for (std::size_t i = 0; i < word.size();) {
      if (i + 1 < word.size() && word[i] == bigram.first && word[i + 1] == bigram.second) {
        merged.push_back(bigram.first + bigram.second);
        i += 2;
      } else {
        merged.push_back(word[i++]);
      }
    }
    word.swap(merged);
  }
  return word;
}

}  // namespace

TEST_CASE("BPE merges match the original's quadratic algorithm on random words") {
  XCLIP_REQUIRE_TOKENIZER(tok);
  std::map<std::pair<std::string, std::string>, int> ranks;
  int rank = 0;
  for (const auto& [l, r] : tok->merge_pairs()) ranks[{tok->token(l), tok->token(r)}] = rank++;

  std::mt19937 rng(1234);
  const std::string letters = "aaabcdeeefghiiijklmnooopqrstuuuvwxyz";
  for (int trial = 0; trial < 300; ++trial) {
    std::string word;
    const int len = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < len; ++i) word += letters[rng() % letters.size()];
    if (trial % 3 == 0) word = word.substr(0, 2) + word.substr(0, 2) + word.substr(0, 2) + word;  // repeats
    std::vector<std::string> symbols;
    for (std::size_t i = 0; i < word.size(); ++i) symbols.push_back(std::string(1, word[i]) + (i + 1 == word.size() ? "</w>" : ""));
    std::vector<std::string> got;
    for (int32_t id : tok->encode(word)) got.push_back(tok->token(id));
    INFO("word: " << word);
    CHECK(got == reference_bpe(symbols, ranks));
  }
}

TEST_CASE("the per-word cache changes nothing but speed") {
  XCLIP_REQUIRE_TOKENIZER(tok);
  const std::string text = "the quick brown fox jumps over the lazy dog again and again";
  tok->clear_cache();
  const auto cold = tok->encode(text);
  CHECK(tok->cache_size() > 0);
  CHECK(tok->encode(text) == cold);
  tok->set_cache_enabled(false);
  CHECK(tok->cache_size() == 0);
  CHECK(tok->encode(text) == cold);
  CHECK(tok->cache_size() == 0);
  tok->set_cache_enabled(true);
}
