// Every xclip-cli command printed in REPRODUCE.md names a real subcommand and only flags that
// subcommand knows: a recipe a user copies must not stop at "unknown flag" hours into setting up.
// Each command is run with --help appended, which parses every flag (an unknown one is an error)
// and then prints the usage instead of working.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "test_cli_util.hpp"
#include "test_util.hpp"

using namespace xclip;
namespace fs = std::filesystem;

namespace {

// The commands of the ```sh blocks that start with build/xclip-cli (indented or not), continuation lines joined,
// comments (" # ...") dropped.
std::vector<std::string> documented_commands(const fs::path& markdown) {
  std::ifstream in(markdown);
  REQUIRE(in.good());
  std::vector<std::string> commands;
  std::string line, pending;
  bool in_shell = false;
  while (std::getline(in, line)) {
    if (line.rfind("```", 0) == 0) {
      in_shell = !in_shell && line == "```sh";
      continue;
    }
    if (!in_shell) continue;
    line.erase(0, line.find_first_not_of(' '));  // commands inside a shell loop are indented
    if (pending.empty() && line.rfind("build/xclip-cli ", 0) != 0) continue;
    if (const size_t hash = line.find(" #"); hash != std::string::npos) line.resize(hash);
    const bool continued = !line.empty() && line.back() == '\\';
    if (continued) line.pop_back();
    pending += line + " ";
    if (!continued) {
      commands.push_back(pending);
      pending.clear();
    }
  }
  return commands;
}

}  // namespace

TEST_CASE("REPRODUCE.md: every documented xclip-cli command parses", "[cli][docs]") {
  if (!fs::exists(test::cli_path())) XCLIP_SKIP("xclip-cli is not built next to the test binary");
  const std::vector<std::string> commands = documented_commands(test::source_root() / "REPRODUCE.md");
  // Sections 3 to 6: extract, train (MSR-VTT B/32 and B/16, DiDeMo), eval, metrics, convert.
  REQUIRE(commands.size() >= 7);
  const fs::path dir = test::temp_dir("cli_reproduce_commands");
  int trains = 0, trains_in_published_regime = 0;
  for (std::string command : commands) {
    INFO(command);
    command.erase(0, std::string("build/xclip-cli ").size());
    const bool is_train = command.rfind("train ", 0) == 0;
    trains += is_train;
    if (is_train && command.find("--official_fp16") != std::string::npos &&
        command.find("--world_size_grad_scale") != std::string::npos && command.find("--device cuda") != std::string::npos &&
        command.find("--chunk_clips") != std::string::npos)
      ++trains_in_published_regime;
    // $D and $split are left as they are: with --help nothing is read. The model settings files
    // of data/configs/ are read while the flags are parsed: from this checkout.
    for (size_t at = command.find(" data/configs/"); at != std::string::npos; at = command.find(" data/configs/", at + 1))
      command.replace(at + 1, 4, (test::source_root() / "data").string());
    test::CliRun r = test::run_cli(dir, command + " --help");
    INFO(r.err);
    CHECK(r.status == 0);
    CHECK_THAT(r.out, Catch::Contains("usage"));
  }
  CHECK(trains >= 3);
  CHECK(trains_in_published_regime == trains);  // sections 4 to 6: the published regime, whole batch on one GPU
}
