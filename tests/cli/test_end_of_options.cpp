// "--" ends the options in every xclip-cli subcommand (src/cli/args.cpp, and extract's own --help
// scan): what follows is positional even when it starts with "--". Run as the built binary.
#include <catch2/catch.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "test_cli_util.hpp"
#include "test_util.hpp"

using namespace xclip;
namespace fs = std::filesystem;

namespace {

using Run = test::CliRun;

// Runs `xclip-cli ARGS` in `dir` (ARGS is shell text: quote what needs it).
Run cli(const fs::path& dir, const std::string& args) { return test::run_cli(dir, args); }

std::string bpe_flag() {
  return " --bpe '" + (test::source_root() / "data/clip/bpe_simple_vocab_16e6.txt.gz").string() + "'";
}

#define REQUIRE_CLI()                                                                                \
  if (!fs::exists(test::cli_path())) XCLIP_SKIP("xclip-cli is not built next to the test binary (" << test::cli_path().string() << ")")

}  // namespace

TEST_CASE("end of options: tokenize takes a caption that starts and ends with --", "[cli][args]") {
  REQUIRE_CLI();
  const fs::path dir = test::temp_dir("cli_end_of_options");
  Run r = cli(dir, "tokenize --tokens" + bpe_flag() + " -- '-- a caption --' --tokens");
  INFO(r.err);
  REQUIRE(r.status == 0);
  const nlohmann::json j = nlohmann::json::parse(r.out);
  REQUIRE(j.size() == 2);
  CHECK(j.at(0).at("text") == "-- a caption --");
  CHECK(j.at(0).at("tokens") == nlohmann::json({"--</w>", "a</w>", "caption</w>", "--</w>"}));
  CHECK(j.at(1).at("text") == "--tokens");  // after --, a flag's name is a caption
  // Without --, the same caption is read as an (unknown) flag.
  r = cli(dir, "tokenize" + bpe_flag() + " '-- a caption --'");
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("unknown flag"));
}

TEST_CASE("end of options: other subcommands take a file name that starts with --", "[cli][args]") {
  REQUIRE_CLI();
  const fs::path dir = test::temp_dir("cli_end_of_options_files");
  // metrics: the positional is the matrix file; the error is about the file, not a flag.
  Run r = cli(dir, "metrics -- --missing.npy");
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("--missing.npy"));
  CHECK_THAT(r.err, !Catch::Contains("unknown flag"));
  r = cli(dir, "verify -- --no_bundle");
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("--no_bundle"));
  CHECK_THAT(r.err, !Catch::Contains("unknown flag"));
  // The video commands exist when the build has FFmpeg: train (TrainFlags) and extract (its own
  // --help scan) treat what follows -- as positional too.
  const Run help = cli(dir, "--help");
  if (help.out.find("extract") == std::string::npos) return;
  r = cli(dir, "train -- --epochs");
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("unexpected argument '--epochs'"));
  r = cli(dir, "extract --out x -- --help");
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("unexpected argument '--help'"));
}
