// io::check_output_writable: the early check before long work whose result goes to a file.
#include <catch2/catch.hpp>
#include <fstream>

#include "test_util.hpp"
#include "xclip/core/error.hpp"
#include "xclip/io/file_bytes.hpp"

using namespace xclip;
namespace fs = std::filesystem;

TEST_CASE("check_output_writable: makes the folder, leaves no probe and no change behind", "[io][output_check]") {
  const fs::path dir = test::temp_dir("output_check_ok");
  io::check_output_writable(dir / "new/deeper/out.json", "--eval_json");
  CHECK(fs::is_directory(dir / "new/deeper"));
  CHECK(std::vector<fs::path>(fs::directory_iterator(dir / "new/deeper"), {}).empty());

  std::ofstream(dir / "kept.json") << "old";
  io::check_output_writable(dir / "kept.json", "--eval_json");
  std::ifstream in(dir / "kept.json");
  std::string text;
  in >> text;
  CHECK(text == "old");
  CHECK(std::vector<fs::path>(fs::directory_iterator(dir), {}).size() == 2);  // new/ and kept.json
}

TEST_CASE("check_output_writable: a folder, a file in the way or an unwritable place is an error naming it",
          "[io][output_check]") {
  const fs::path dir = test::temp_dir("output_check_bad");
  fs::create_directories(dir / "folder");
  CHECK_THROWS_WITH(io::check_output_writable(dir / "folder", "--save_sim"),
                    Catch::Contains("--save_sim") && Catch::Contains("is a folder"));
  std::ofstream(dir / "file") << "x";
  CHECK_THROWS_WITH(io::check_output_writable(dir / "file/out.npy", "--save_sim"),
                    Catch::Contains("file/out.npy") && Catch::Contains("cannot create the folder"));
  // /proc accepts no new files, even from root (a chmod'ed folder would not stop root).
  if (fs::is_directory("/proc/self"))
    CHECK_THROWS_WITH(io::check_output_writable("/proc/self/xclip_out.json", "metrics JSON"),
                      Catch::Contains("/proc/self/xclip_out.json") && Catch::Contains("cannot write in /proc/self"));
}
