// ClipTokenizer file helpers: exporting the vocabulary in Hugging Face form and finding the
// default BPE vocabulary.
#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "xclip/core/error.hpp"
#include "xclip/io/file_bytes.hpp"
#include "xclip/text/tokenizer.hpp"

namespace xclip::text {
namespace {

constexpr const char* kBpeFileName = "bpe_simple_vocab_16e6.txt.gz";

}  // namespace

void ClipTokenizer::save_hf_files(const std::filesystem::path& vocab_json,
                                  const std::filesystem::path& merges_txt) const {
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  std::string merges = "#version: 0.2\n";
  for (std::size_t id = 0; id < vocab_size(); ++id) {
    try {
      vocab[token(static_cast<int32_t>(id))] = id;
    } catch (const Error&) {
      // a gap in a Hugging Face vocabulary: nothing to write
    }
  }
  for (const auto& [left, right] : merge_pairs()) merges += token(left) + " " + token(right) + "\n";
  io::write_text_file_atomically(vocab_json, vocab.dump());
  io::write_text_file_atomically(merges_txt, merges);
}

std::filesystem::path find_default_bpe_file(const std::filesystem::path& executable) {
  const std::filesystem::path relative = std::filesystem::path("..") / "shared" / "assets" / "clip" / kBpeFileName;
  std::vector<std::filesystem::path> tried;
  std::error_code ec;
  if (const char* env = std::getenv("XCLIP_BPE"); env && *env) {
    if (std::filesystem::is_regular_file(env, ec)) return env;
    tried.push_back(std::string(env) + " (from XCLIP_BPE)");
  }
  std::vector<std::filesystem::path> bases = {std::filesystem::current_path(ec)};
  if (!executable.empty()) {
    std::filesystem::path dir = std::filesystem::absolute(executable, ec).parent_path();
    for (int up = 0; up < 4 && !dir.empty(); ++up, dir = dir.parent_path()) {
      bases.push_back(dir);
      if (dir == dir.root_path()) break;
    }
  }
  for (const auto& base : bases) {
    const std::filesystem::path candidate = (base / relative).lexically_normal();
    if (std::find(tried.begin(), tried.end(), candidate) != tried.end()) continue;
    if (std::filesystem::is_regular_file(candidate, ec)) return candidate;
    tried.push_back(candidate);
  }
  std::string list;
  for (const auto& t : tried) list += "\n  " + t.string();
  throw Error(format("CLIP BPE vocabulary (", kBpeFileName, ") not found; tried:", list,
                     "\npass --bpe PATH or set XCLIP_BPE"));
}

}  // namespace xclip::text
