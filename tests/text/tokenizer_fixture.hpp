// Shared helpers for the tokenizer tests: the BPE file (the committed data/clip/ copy) and the
// reference cases in ../shared.
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "test_util.hpp"
#include "xclip/io/json_file.hpp"
#include "xclip/text/tokenizer.hpp"

namespace xclip::test {

inline std::optional<std::filesystem::path> bpe_file() {
  auto p = source_root() / "data" / "clip" / "bpe_simple_vocab_16e6.txt.gz";
  if (!std::filesystem::is_regular_file(p)) return std::nullopt;
  return p;
}

inline std::optional<std::filesystem::path> shared_tokenizer_cases() {
  auto shared = shared_dir();
  if (!shared) return std::nullopt;
  auto p = *shared / "testdata" / "tokenizer_cases.json";
  if (!std::filesystem::is_regular_file(p)) return std::nullopt;
  return p;
}

// The tokenizer loaded once for all tests of the executable (loading parses 48894 merges).
inline const text::ClipTokenizer* shared_tokenizer() {
  static const std::optional<text::ClipTokenizer> tokenizer = []() -> std::optional<text::ClipTokenizer> {
    auto path = bpe_file();
    if (!path) return std::nullopt;
    return text::ClipTokenizer::from_bpe_file(*path);
  }();
  return tokenizer ? &*tokenizer : nullptr;
}

inline nlohmann::json load_tokenizer_cases(const std::filesystem::path& path) {
  return io::read_json_file(path, "tokenizer cases").at("cases");
}

}  // namespace xclip::test

#define XCLIP_REQUIRE_TOKENIZER(name)                                                      \
  const xclip::text::ClipTokenizer* name = xclip::test::shared_tokenizer();              \
  if (!name) XCLIP_SKIP("data/clip/bpe_simple_vocab_16e6.txt.gz is absent from the checkout: " \
                        "the CLIP BPE vocabulary is needed")
