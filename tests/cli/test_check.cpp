// xclip-cli check: every video of the splits read once with the run's frame rule; every missing,
// empty, unreadable or partly corrupt video named in a table and in JSON; exit status 1 when any.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "test_cli_util.hpp"
#include "test_util.hpp"
#include "xclip/core/error.hpp"
#include "xclip/io/json_file.hpp"

using namespace xclip;
namespace fs = std::filesystem;
using test::run_cli;

namespace {

// An MSR-VTT test split (MSRVTT_JSFUSION_test.csv) listing `ids`, and an empty training split.
void write_msrvtt(const fs::path& dir, const std::vector<std::string>& ids) {
  std::ofstream csv(dir / "MSRVTT_JSFUSION_test.csv");
  csv << "key,vid_key,video_id,sentence\n";
  for (size_t i = 0; i < ids.size(); ++i) csv << "ret" << i << ",msr" << i << "," << ids[i] << ",caption " << i << "\n";
  std::ofstream(dir / "MSRVTT_train.9k.csv") << "video_id\n";
  std::ofstream(dir / "MSRVTT_data.json") << R"({"sentences": []})";
}

std::optional<fs::path> media_dir() {
  auto shared = test::shared_dir();
  if (!shared || !fs::exists(*shared / "media/manifest.json")) return std::nullopt;
  return *shared / "media";
}

}  // namespace

TEST_CASE("check: every broken file of the media zoo named, exit status 1, JSON", "[cli][check]") {
  auto media = media_dir();
  if (!media) XCLIP_SKIP("../shared/media is absent: the zoo is needed for this test");
  const fs::path dir = test::temp_dir("cli_check_zoo");
  // The broken files by the zoo's own manifests: expected "error", and "partial" (cut short).
  std::set<std::string> broken;
  for (const char* file : {"manifest.json", "manifest_time.json"}) {
    const nlohmann::json manifest = io::read_json_file(*media / file, "media manifest");
    for (const auto& [name, entry] : manifest["files"].items())
      if (entry["expected"] == "error" || entry["expected"] == "partial") broken.insert(fs::path(name).stem().string());
  }
  REQUIRE(broken.size() >= 4);
  std::vector<std::string> ids;
  for (const auto& e : fs::directory_iterator(*media)) {
    const std::string ext = e.path().extension().string();
    if (e.is_regular_file() && ext != ".json" && ext != ".md") ids.push_back(e.path().stem().string());
  }
  write_msrvtt(dir, ids);
  const test::CliRun r = run_cli(dir, "check --data_path . --features_path '" + media->string() +
                                          "' --split test --max_frames 12 --slice_framepos 2 --size 32"
                                          " --num_thread_reader 2 --json report.json");
  INFO(r.out << r.err);
  CHECK(r.status == 1);
  for (const std::string& id : broken) CHECK_THAT(r.out, Catch::Contains(id));
  CHECK_THAT(r.out, Catch::Contains("partly corrupt") && Catch::Contains("unreadable") && Catch::Contains("empty"));
  CHECK_THAT(r.out, Catch::Contains(format(broken.size(), " of ", ids.size(), " videos cannot be used fully")));
  CHECK_THAT(r.err, Catch::Contains("clips/s") && Catch::Contains("ETA"));
  const nlohmann::json report = io::read_json_file(dir / "report.json", "check report");
  std::set<std::string> named;
  for (const auto& p : report.at("problems")) named.insert(p.at("video_id").get<std::string>());
  CHECK(named == broken);
  CHECK(report.at("counts").at("partly corrupt") == 1);
  CHECK(report.at("videos_checked") == ids.size());
}

TEST_CASE("check: a file with zeroed middle bytes is partly corrupt, a missing one is named, a clean split is 0",
          "[cli][check]") {
  auto media = media_dir();
  if (!media) XCLIP_SKIP("../shared/media is absent: the zoo video to damage is needed for this test");
  const fs::path dir = test::temp_dir("cli_check_damage");
  fs::create_directories(dir / "videos");
  const fs::path intact = *media / "h264_30fps_320x240.mp4";
  fs::copy_file(intact, dir / "videos/good.mp4");
  test::zeroed_copy(intact, dir / "videos/zeroed.mp4", size_t(fs::file_size(intact)) * 45 / 100, 20000);
  const std::string flags = " --data_path . --features_path videos --split test --slice_framepos 2 --size 32";

  write_msrvtt(dir, {"good"});
  const test::CliRun clean = run_cli(dir, "check" + flags);
  INFO(clean.out << clean.err);
  CHECK(clean.status == 0);
  CHECK_THAT(clean.out, Catch::Contains("all 1 videos"));

  write_msrvtt(dir, {"good", "zeroed", "gone"});
  const test::CliRun bad = run_cli(dir, "check" + flags + " --json out/report.json");
  INFO(bad.out << bad.err);
  CHECK(bad.status == 1);
  CHECK_THAT(bad.out, Catch::Contains("partly corrupt") && Catch::Contains("zeroed.mp4") &&
                          Catch::Contains("5 of the 10 frames"));
  CHECK_THAT(bad.out, Catch::Contains("missing") && Catch::Contains("gone"));
  CHECK_THAT(bad.out, !Catch::Contains("good.mp4"));
  const nlohmann::json report = io::read_json_file(dir / "out/report.json", "check report");
  REQUIRE(report.at("problems").size() == 2);
  CHECK(report.at("counts").at("missing") == 1);
  CHECK(report.at("counts").at("partly corrupt") == 1);
}

TEST_CASE("check: listed by --help, the splits of a run by default, a bad --split named", "[cli][check]") {
  const fs::path dir = test::temp_dir("cli_check_flags");
  const test::CliRun help = run_cli(dir, "--help");
  CHECK(help.status == 0);
  CHECK_THAT(help.out, Catch::Contains("check") && Catch::Contains("missing, unreadable, corrupt"));
  const test::CliRun usage = run_cli(dir, "check --help");
  CHECK(usage.status == 0);
  CHECK_THAT(usage.out, Catch::Contains("--split") && Catch::Contains("--json") && Catch::Contains("partly corrupt"));
  write_msrvtt(dir, {});
  fs::create_directories(dir / "videos");
  const test::CliRun split = run_cli(dir, "check --data_path . --features_path videos --split train,tset");
  CHECK(split.status == 1);
  CHECK_THAT(split.err, Catch::Contains("--split") && Catch::Contains("tset"));
  const test::CliRun all = run_cli(dir, "check --data_path . --features_path videos");
  INFO(all.out << all.err);
  CHECK(all.status == 0);
  CHECK_THAT(all.err, Catch::Contains("msrvtt/train") && Catch::Contains("msrvtt/val") && Catch::Contains("msrvtt/test"));
}
