// Running the built xclip-cli from a test, the way a user would: the binary sits beside the test
// executables in the build folder, and its output is captured in files of the test's folder.
#pragma once
#include <catch2/catch.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include "test_util.hpp"

namespace xclip::test {

// xclip-cli beside the running test binary (it may not exist: callers skip then).
inline std::filesystem::path cli_path() {
  char exe[4096] = {0};
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  REQUIRE(n > 0);
  return std::filesystem::path(std::string(exe, size_t(n))).parent_path() / "xclip-cli";
}

struct CliRun {
  int status = -1;  // the exit status; -1 when the command did not exit normally
  std::string out, err;
};

// Runs `xclip-cli ARGS` from `dir` (relative paths in ARGS are relative to it) with one OpenMP
// thread, as the tests share the machine; stdout and stderr are kept in dir/stdout.txt and
// dir/stderr.txt.
// `shell_prefix` runs in the same shell first (e.g. "ulimit -f 1024; "); `wrapper` comes before the
// binary on its command line (e.g. "setpriv --reuid=65534 ").
inline CliRun run_cli(const std::filesystem::path& dir, const std::string& args, const std::string& shell_prefix = "",
                      const std::string& wrapper = "") {
  const std::string cmd = shell_prefix + "cd '" + dir.string() + "' && OMP_NUM_THREADS=1 " + wrapper + "'" +
                          cli_path().string() + "' " + args + " > stdout.txt 2> stderr.txt";
  const int status = std::system(cmd.c_str());
  auto captured = [&](const char* name) {
    std::ifstream in(dir / name, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, captured("stdout.txt"), captured("stderr.txt")};
}

// --bpe with ../shared's CLIP vocabulary when there is one (else the binary finds data/clip/).
inline std::string bpe_flag() {
  auto shared = test::shared_dir();
  const std::filesystem::path bpe = shared ? *shared / "assets/clip/bpe_simple_vocab_16e6.txt.gz" : std::filesystem::path();
  return std::filesystem::exists(bpe) ? " --bpe '" + bpe.string() + "'" : std::string();
}

// A folder with a tiny synthetic MSR-VTT-layout dataset in data/: 12 training videos (video0..11)
// and 4 test videos (video12..15), 2 s at 2 fps, 32 px, one caption each.
inline std::filesystem::path synth_dataset(const std::string& name) {
  const std::filesystem::path dir = temp_dir(name);
  const CliRun s =
      run_cli(dir, "synth --out data --train 12 --test 4 --size 32 --fps 2 --seconds 2 --captions 1 --threads 1");
  INFO(s.err);
  REQUIRE(s.status == 0);
  return dir;
}

// A tiny model from scratch and the flags of synth_dataset()'s data.
inline const std::string kTinyModelFlags =
    " --data_path data --features_path data/videos --init random --max_words 8 --max_frames 2 --vision_width 32"
    " --vision_layers 1 --patch 8 --image_resolution 32 --text_width 32 --text_layers 1 --embed_dim 32"
    " --head_width 16 --cross_num_hidden_layers 1 --batch_size_val 4";

// `p` in single quotes, for run_cli's command line.
inline std::string shell_quoted(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

// The names in `dir` other than run_cli's captured output (a leftover temporary file would show).
inline std::set<std::string> files_besides_output(const std::filesystem::path& dir) {
  std::set<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n != "stdout.txt" && n != "stderr.txt") names.insert(n);
  }
  return names;
}

}  // namespace xclip::test
