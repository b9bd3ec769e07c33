// Shared helpers for the Catch2 tests.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

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

// A fresh empty temporary directory for one test (removed at the start of the next run).
inline std::filesystem::path temp_dir(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() / ("xclip_test_" + name);
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p;
}

}  // namespace xclip::test

#include <iostream>
// Marks the running test as skipped (ctest matches "XCLIP_SKIP") with the reason, and returns.
#define XCLIP_SKIP(reason)                                         \
  do {                                                             \
    std::cout << "XCLIP_SKIP: " << reason << std::endl;            \
    return;                                                        \
  } while (0)
