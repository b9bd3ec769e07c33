// xclip-cli tokenize: CLIP BPE ids of captions, as JSON (one object per caption).
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "args.hpp"
#include "command.hpp"
#include "xclip/core/error.hpp"
#include "xclip/text/tokenizer.hpp"

namespace xclip::cli {
namespace {

constexpr const char* kUsage =
    "usage: xclip-cli tokenize [options] [--] TEXT...   (no TEXT, or '-': one caption per stdin line;\n"
    "                       after --, every argument is a caption, even one that starts with --)\n"
    "  --bpe PATH           bpe_simple_vocab_16e6.txt.gz (default: $XCLIP_BPE, else clip/ of the installed\n"
    "                       data folder <exe dir>/../share/xclip, else the source tree's data/clip/)\n"
    "  --vocab PATH --merges PATH   a Hugging Face vocab.json + merges.txt instead of --bpe\n"
    "  --max_words N        length of the model input (default 32): [SOT] + ids + [EOT], 0-padded\n"
    "  --tokens             also print the BPE symbols\n"
    "prints a JSON array of {\"text\", \"ids\", \"input_ids\", \"input_mask\"[, \"tokens\"]}\n";

text::ClipTokenizer load_tokenizer(const Args& args) {
  const bool hf = args.has("vocab") || args.has("merges");
  if (hf) {
    XCLIP_CHECK(args.has("vocab") && args.has("merges"), "--vocab and --merges must be given together");
    XCLIP_CHECK(!args.has("bpe"), "give either --bpe or --vocab/--merges, not both");
    return text::ClipTokenizer::from_hf_files(*args.get("vocab"), *args.get("merges"));
  }
  if (auto bpe = args.get("bpe")) return text::ClipTokenizer::from_bpe_file(*bpe);
  return text::ClipTokenizer::from_bpe_file(text::find_default_bpe_file());
}

std::vector<std::string> captions_from(const Args& args) {
  std::vector<std::string> texts = args.positional();
  if (texts.empty() || (texts.size() == 1 && texts[0] == "-")) {
    texts.clear();
    std::string line;
    while (std::getline(std::cin, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      texts.push_back(line);
    }
  }
  return texts;
}

int run_tokenize(const std::vector<std::string>& argv) {
  const Args args(argv, {"bpe", "vocab", "merges", "max_words"}, {"tokens", "help"});
  if (args.flag("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  const int64_t max_words = args.get_int("max_words", text::ClipTokenizer::kDefaultMaxWords);
  XCLIP_CHECK(max_words >= 2, "--max_words must be at least 2, got ", max_words);
  const text::ClipTokenizer tokenizer = load_tokenizer(args);
  if (!tokenizer.is_clip_vocabulary()) std::fprintf(stderr, "%s\n", tokenizer.vocabulary_note().c_str());

  nlohmann::json out = nlohmann::json::array();
  for (const std::string& caption : captions_from(args)) {
    nlohmann::json item;
    item["text"] = caption;  // invalid UTF-8 is replaced when the JSON is written
    item["ids"] = tokenizer.encode(caption);
    const text::ModelText model = tokenizer.encode_for_model(caption, max_words);
    item["input_ids"] = model.input_ids;
    item["input_mask"] = model.input_mask;
    if (args.flag("tokens")) item["tokens"] = tokenizer.tokenize(caption);
    out.push_back(std::move(item));
  }
  std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return 0;
}

const CommandRegistrar kRegister{Command{"tokenize", "CLIP BPE token ids of captions, as JSON", run_tokenize}};

}  // namespace
}  // namespace xclip::cli
