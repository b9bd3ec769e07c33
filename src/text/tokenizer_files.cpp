// ClipTokenizer file helpers: exporting the vocabulary in Hugging Face form and finding the
// default BPE vocabulary (the copy in the installed data folder or in the source tree's data/, so
// that a binary works without anything beside its checkout).
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

std::filesystem::path installed_data_dir(const std::filesystem::path& executable) {
  std::error_code ec;
  std::filesystem::path exe = executable;
  if (exe.empty()) exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (exe.empty()) return {};
  // make install puts the binary in <prefix>/bin and the data in <prefix>/share/xclip.
  return (std::filesystem::absolute(exe, ec).parent_path() / ".." / "share" / "xclip").lexically_normal();
}

std::filesystem::path source_data_dir() {
#ifdef XCLIP_SOURCE_DATA_DIR
  return XCLIP_SOURCE_DATA_DIR;
#else
  return {};
#endif
}

std::filesystem::path find_default_bpe_file(const std::filesystem::path& executable) {
  return find_default_bpe_file(executable, source_data_dir());
}

std::filesystem::path find_default_bpe_file(const std::filesystem::path& executable,
                                            const std::filesystem::path& source_data) {
  std::error_code ec;
  // An explicit choice that does not exist is an error, not a reason to quietly take another file.
  if (const char* env = std::getenv("XCLIP_BPE"); env && *env) {
    XCLIP_CHECK(std::filesystem::is_regular_file(env, ec), "XCLIP_BPE=", env, ": no such file (unset it to use the ",
                kBpeFileName, " of the data folder)");
    return env;
  }
  std::vector<std::filesystem::path> candidates;
  if (const auto installed = installed_data_dir(executable); !installed.empty())
    candidates.push_back(installed / "clip" / kBpeFileName);
  if (!source_data.empty()) candidates.push_back(source_data / "clip" / kBpeFileName);
  std::string tried;
  for (const auto& candidate : candidates) {
    if (std::filesystem::is_regular_file(candidate, ec)) return candidate;
    tried += "\n  " + candidate.string();
  }
  throw Error(format("CLIP BPE vocabulary (", kBpeFileName, ") not found; XCLIP_BPE is not set and these are absent:",
                     tried, "\npass --bpe PATH or set XCLIP_BPE"));
}

}  // namespace xclip::text
