// The built xclip-cli outside this checkout: a copy in a temporary folder with no ../shared beside
// it, run with an environment that has no XCLIP_* variable, finds the CLIP vocabulary by itself
// (the installed data folder first, else the source tree's data/) and trains one tiny step.
#include <catch2/catch.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "test_cli_util.hpp"
#include "test_util.hpp"

using namespace xclip;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct Run {
  int status = -1;
  std::string out, err;
};

// Runs `CLI ARGS` in `cwd` with only PATH, HOME and one compute thread in the environment
// (env -i: no XCLIP_* variable, nothing inherited from the test's own environment).
Run run_clean(const fs::path& cli, const fs::path& cwd, const std::string& args) {
  const fs::path out = cwd / "stdout.txt", err = cwd / "stderr.txt";
  std::string env = "env -i PATH=/usr/bin:/bin HOME='" + cwd.string() + "' OMP_NUM_THREADS=1";
  // A toolkit outside the system folders (CUDA) may be found only through LD_LIBRARY_PATH.
  if (const char* ld = std::getenv("LD_LIBRARY_PATH"); ld && *ld) env += std::string(" LD_LIBRARY_PATH='") + ld + "'";
  const std::string cmd = "cd '" + cwd.string() + "' && " + env + " '" + cli.string() + "' " + args + " > '" +
                          out.string() + "' 2> '" + err.string() + "'";
  const int status = std::system(cmd.c_str());
  Run r;
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

// A copy of the built binary at ROOT/bin/xclip-cli, and ROOT/work as the folder it runs in.
fs::path copy_cli(const fs::path& root) {
  fs::create_directories(root / "bin");
  fs::create_directories(root / "work");
  const fs::path cli = root / "bin" / "xclip-cli";
  fs::copy_file(test::cli_path(), cli, fs::copy_options::overwrite_existing);
  // Neither the binary's folder nor the working folder has a ../shared beside it.
  REQUIRE_FALSE(fs::exists(root / "shared"));
  REQUIRE_FALSE(fs::exists(root.parent_path() / "shared"));
  return cli;
}

const fs::path kVocab = "bpe_simple_vocab_16e6.txt.gz";

}  // namespace

TEST_CASE("standalone: a copied xclip-cli tokenizes with the source tree's data/ vocabulary by default", "[e2e][standalone]") {
  const fs::path root = test::temp_dir("standalone_tokenize") / "nested";
  const fs::path cli = copy_cli(root);
  const std::string caption = "'a cat sits on the mat'";
  const Run found = run_clean(cli, root / "work", "tokenize " + caption);
  INFO(found.err);
  REQUIRE(found.status == 0);
  // The same ids as with the committed vocabulary named explicitly.
  const fs::path committed = test::source_root() / "data" / "clip" / kVocab;
  const Run named = run_clean(cli, root / "work", "tokenize --bpe '" + committed.string() + "' " + caption);
  REQUIRE(named.status == 0);
  CHECK(found.out == named.out);
  const nlohmann::json j = nlohmann::json::parse(found.out);
  CHECK(j.at(0).at("text") == "a cat sits on the mat");
  CHECK(j.at(0).at("ids").size() == 6);
  CHECK(j.at(0).at("input_ids").at(0) == 49406);  // <|startoftext|>
}

TEST_CASE("standalone: an installed layout's data folder comes before the source tree's", "[e2e][standalone]") {
  // <prefix>/bin/xclip-cli with <prefix>/share/xclip/clip/: a damaged vocabulary there must be the
  // one read (and named in the error), which shows the installed folder is looked at first.
  const fs::path prefix = test::temp_dir("standalone_prefix") / "prefix";
  const fs::path cli = copy_cli(prefix);
  fs::create_directories(prefix / "share/xclip/clip");
  std::ofstream(prefix / "share/xclip/clip" / kVocab) << "not a gzip file";
  const Run damaged = run_clean(cli, prefix / "work", "tokenize 'a cat'");
  CHECK(damaged.status == 1);
  CHECK_THAT(damaged.err, Catch::Contains((prefix / "share/xclip/clip" / kVocab).string()));
  fs::copy_file(test::source_root() / "data" / "clip" / kVocab, prefix / "share/xclip/clip" / kVocab,
                fs::copy_options::overwrite_existing);
  const Run good = run_clean(cli, prefix / "work", "tokenize 'a cat'");
  INFO(good.err);
  CHECK(good.status == 0);
}

TEST_CASE("standalone: a copied xclip-cli synthesises a tiny dataset and trains one step", "[e2e][standalone]") {
  const fs::path root = test::temp_dir("standalone_train") / "nested";
  const fs::path cli = copy_cli(root);
  const fs::path work = root / "work";
  const Run synth = run_clean(cli, work, "synth --out data --train 12 --test 4 --size 32 --fps 2 --seconds 2 "
                                          "--captions 1 --threads 1");
  INFO(synth.err);
  REQUIRE(synth.status == 0);
  // One epoch of one batch of 12: one optimizer step, then the evaluation on the 4 test videos.
  const Run train = run_clean(
      cli, work,
      "train --init random --data_path data --features_path data/videos --output_dir out --epochs 1 "
      "--batch_size 12 --batch_size_val 4 --max_words 8 --max_frames 2 --vision_width 32 --vision_layers 1 "
      "--patch 8 --image_resolution 32 --text_width 32 --text_layers 1 --embed_dim 32 --head_width 16 "
      "--cross_num_hidden_layers 1 --n_display 0 --keep_checkpoints 1");
  INFO(train.out << train.err);
  REQUIRE(train.status == 0);
  CHECK_THAT(train.out, Catch::Contains("1 optimizer steps"));
  CHECK(fs::exists(work / "out/checkpoint.0/model.safetensors"));
  CHECK(fs::exists(work / "out/test_metrics.json"));
}
