// xclip-cli: one binary, one subcommand per file (see command.hpp).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "command.hpp"

namespace xclip::cli {
std::map<std::string, Command>& command_registry() {
  static std::map<std::string, Command> registry;
  return registry;
}
}  // namespace xclip::cli

static void print_help() {
  std::printf(
      "xclip-cli — X-CLIP (multi-grained contrastive video-text retrieval) in C++/CUDA\n\n"
      "usage: xclip-cli COMMAND [options]\n\ncommands:\n");
  for (const auto& [name, cmd] : xclip::cli::command_registry())
    std::printf("  %-10s %s\n", name.c_str(), cmd.summary.c_str());
  std::printf("\n`xclip-cli COMMAND --help` describes a command's options; `--` ends them (what follows is\n"
              "an argument even if it starts with --).\n");
}

// OpenMP threads that finish a parallel region spin for a while before they sleep (libgomp's
// default). When the cores are shared (our own decoding threads during training, or anything else
// on the machine), a spinning thread holds the core that the thread the next barrier waits for
// needs: on the 2-core build machine under load, the text tower's GEMMs ran at 3 GFLOP/s with the
// default and at 110 GFLOP/s with passive waiting (docs/BENCHMARKS.md). libgomp reads
// OMP_WAIT_POLICY once, at start-up, so unless the user chose a policy, xclip-cli restarts itself
// once with OMP_WAIT_POLICY=passive. If the restart fails it carries on with the default.
static void prefer_passive_openmp_wait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) return;
  setenv("OMP_WAIT_POLICY", "passive", 1);
  execv("/proc/self/exe", argv);
}

int main(int argc, char** argv) {
  prefer_passive_openmp_wait(argv);
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ||
      std::string(argv[1]) == "help") {
    print_help();
    return argc < 2 ? 1 : 0;
  }
  auto& registry = xclip::cli::command_registry();
  auto it = registry.find(argv[1]);
  if (it == registry.end()) {
    std::fprintf(stderr, "xclip-cli: unknown command '%s' (see xclip-cli --help)\n", argv[1]);
    return 2;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  try {
    return it->second.run(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xclip-cli %s: error: %s\n", argv[1], e.what());
    return 1;
  }
}
