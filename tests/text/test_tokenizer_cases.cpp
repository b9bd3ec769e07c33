// The reference cases made with the original tokenizer (X-CLIP tokenization_clip.py, ftfy 6.3.1):
// every case's ids, BPE symbols and max_words=32 model inputs must match exactly.
#include <catch2/catch.hpp>

#include "tokenizer_fixture.hpp"

using xclip::text::ClipTokenizer;

namespace {

template <class T>
std::vector<T> json_ints(const nlohmann::json& j) {
  return j.get<std::vector<T>>();
}

}  // namespace

TEST_CASE("tokenizer reproduces every reference case (ids, tokens, input_ids_32, input_mask_32)") {
  XCLIP_REQUIRE_TOKENIZER(tok);
  auto cases_path = xclip::test::shared_tokenizer_cases();
  if (!cases_path) XCLIP_SKIP("../shared/testdata/tokenizer_cases.json is absent");
  const nlohmann::json cases = xclip::test::load_tokenizer_cases(*cases_path);
  REQUIRE(cases.size() == 180);

  std::size_t passed = 0;
  for (const auto& c : cases) {
    const std::string text = c.at("text").get<std::string>();
    INFO("case text: " << text);
    const std::vector<int32_t> ids = tok->encode(text);
    const xclip::text::ModelText model = tok->encode_for_model(text, 32);
    const bool ok = ids == json_ints<int32_t>(c.at("ids")) &&
                    tok->tokenize(text) == c.at("tokens").get<std::vector<std::string>>() &&
                    model.input_ids == json_ints<int64_t>(c.at("input_ids_32")) &&
                    model.input_mask == json_ints<int64_t>(c.at("input_mask_32")) &&
                    model.segment_ids == json_ints<int64_t>(c.at("segment_ids_32"));
    CHECK(ok);
    if (ok) ++passed;
  }
  std::cout << "tokenizer reference cases passed: " << passed << " / " << cases.size() << "\n";
  CHECK(passed == cases.size());
}

TEST_CASE("tokenizer reference cases: the spec's worked examples") {
  XCLIP_REQUIRE_TOKENIZER(tok);
  CHECK(tok->encode("a man is playing a guitar.") == std::vector<int32_t>{320, 786, 533, 1629, 320, 5084, 269});
  CHECK(tok->encode("Don't stop 2023 &amp; 5,000 videos!!") ==
        std::vector<int32_t>{847, 713, 1691, 273, 271, 273, 274, 261, 276, 267, 271, 271, 271, 6081, 748});
  CHECK(tok->encode("  Multiple   spaces\tand\nnewlines  ") == std::vector<int32_t>{6470, 9006, 537, 1218, 3418});
  CHECK(tok->vocab_size() == 49408);
  CHECK(tok->sot_id() == 49406);
  CHECK(tok->eot_id() == 49407);
  CHECK(tok->token(0) == "!");
  CHECK(tok->token(256) == "!</w>");
  CHECK(tok->token(512) == "in");
}
