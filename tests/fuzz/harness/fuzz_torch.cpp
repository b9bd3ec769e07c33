// libFuzzer entry point (or, without libFuzzer, driver.cpp's main) for the torch reader.
#include "../targets/fuzz_targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  xclip::fuzz::run_torch(data, size);
  return 0;
}
