// The readers under fuzzing, one entry point each, shared by the libFuzzer harnesses, the plain
// driver (tests/fuzz/harness/driver.cpp) and the regression corpus replay (test_regressions.cpp).
// Each takes the raw bytes of one input file and returns true when the reader accepted it, false
// when it refused it with xclip::Error. Anything else (another exception, a crash, a hang, an
// ASan report) is a bug in the reader.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace xclip::fuzz {

struct Target {
  const char* name;  // also the folder of its regression corpus: tests/fuzz/regressions/<name>/
  bool (*run)(const uint8_t* data, size_t size);
};

// Every target this build has (annotations and video need the FFmpeg data library).
const std::vector<Target>& targets();
const Target* find_target(const std::string& name);

bool run_npy(const uint8_t* data, size_t size);
bool run_safetensors(const uint8_t* data, size_t size);
bool run_torch(const uint8_t* data, size_t size);  // zip / legacy checkpoints and plain pickles
bool run_config(const uint8_t* data, size_t size);
bool run_annotations(const uint8_t* data, size_t size);
bool run_video(const uint8_t* data, size_t size);

// A folder of this process for readers that take a path (removed at exit).
const std::filesystem::path& scratch_dir();
// Writes `data` to scratch_dir()/name and returns its path.
std::filesystem::path scratch_file(const std::string& name, const uint8_t* data, size_t size);

}  // namespace xclip::fuzz
