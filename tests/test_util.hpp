// Shared helpers for the Catch2 tests.
#pragma once
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace xclip::test {

// The source checkout (compile-time), for fixtures committed under tests/ and data/.
inline std::filesystem::path source_root() { return XCLIP_SOURCE_ROOT; }

// The shared folder beside the checkout (../shared), or $XCLIP_SHARED; nullopt when absent.
// Tests that need it call SKIP("../shared is absent: ...") when this returns nullopt.
inline std::optional<std::filesystem::path> shared_dir() {
  if (const char* env = std::getenv("XCLIP_SHARED"); env && *env) {
    if (std::filesystem::is_directory(env)) return std::filesystem::path(env);
    return std::nullopt;
  }
  auto p = source_root().parent_path() / "shared";
  if (std::filesystem::is_directory(p)) return p;
  return std::nullopt;
}

// A fresh empty temporary directory for one test. ctest runs test cases as parallel processes
// (-j), and two cases may ask for the same name (a shared fixture), so the folder is per process:
// xclip_test_<name>_<pid>. Folders of earlier runs with the same name are removed first.
inline std::filesystem::path temp_dir(const std::string& name) {
  namespace fs = std::filesystem;
  const std::string prefix = "xclip_test_" + name + "_";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(fs::temp_directory_path(), ec)) {
    const std::string file = entry.path().filename().string();
    const bool same_name = file.size() > prefix.size() && file.starts_with(prefix) &&
                           file.find_first_not_of("0123456789", prefix.size()) == std::string::npos;
    if (!same_name) continue;
    // Only folders of processes that are gone: a running test's folder is not touched.
    const std::string pid = file.substr(prefix.size());
    if (!fs::exists("/proc/" + pid)) fs::remove_all(entry.path(), ec);
  }
  auto p = fs::temp_directory_path() / (prefix + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

// A copy of `src` at `out` with `bytes` zero bytes from `offset` on: damaged data inside a file
// that still opens (when the range lies inside the media data).
inline std::filesystem::path zeroed_copy(const std::filesystem::path& src, const std::filesystem::path& out,
                                         size_t offset, size_t bytes) {
  std::ifstream in(src, std::ios::binary);
  std::vector<char> data((std::istreambuf_iterator<char>(in)), {});
  if (offset + bytes > data.size())
    throw std::runtime_error("zeroed_copy: " + src.string() + " has only " + std::to_string(data.size()) + " bytes");
  std::fill(data.begin() + std::ptrdiff_t(offset), data.begin() + std::ptrdiff_t(offset + bytes), 0);
  std::ofstream(out, std::ios::binary).write(data.data(), std::streamsize(data.size()));
  return out;
}

}  // namespace xclip::test

#include <iostream>
// Marks the running test as skipped (ctest matches "XCLIP_SKIP") with the reason, and returns.
#define XCLIP_SKIP(reason)                                         \
  do {                                                             \
    std::cout << "XCLIP_SKIP: " << reason << std::endl;            \
    return;                                                        \
  } while (0)
