// libFuzzer entry point (or, without libFuzzer, driver.cpp's main) for the npy reader.
#include "../targets/fuzz_targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  xclip::fuzz::run_npy(data, size);
  return 0;
}
