// xclip-cli metrics --pairs: the share of (text, video, other) triples where the text scores its
// video strictly above the other one, read from a saved similarity; as text and as JSON.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "test_cli_util.hpp"
#include "test_util.hpp"
#include "xclip/io/json_file.hpp"
#include "xclip/io/npy.hpp"

using namespace xclip;
namespace fs = std::filesystem;

namespace {

using Run = test::CliRun;
using test::run_cli;

void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

}  // namespace

TEST_CASE("metrics --pairs: own video above the other, strict, as text and JSON", "[e2e][metrics]") {
  const fs::path dir = test::temp_dir("metrics_pairs");
  // 3 texts x 3 videos (f32, as train --save_sim writes): text 0 prefers video 0 over 1; text 1
  // prefers video 0 over its own 1; text 2 ties videos 2 and 0 (a tie is not a win).
  io::save_npy((dir / "sim.npy").string(),
               Tensor::from_vector<float>({0.9f, 0.1f, 0.0f, 0.8f, 0.5f, 0.0f, 0.3f, 0.0f, 0.3f}, Shape{3, 3}));
  write(dir / "pairs.csv", "text,video,other\n0,0,1\n1,1,0\n\n2,2,0\n");
  Run m = run_cli(dir, "metrics sim.npy --pairs pairs.csv --json m.json");
  INFO(m.out << m.err);
  REQUIRE(m.status == 0);
  CHECK_THAT(m.out, Catch::Contains("text-to-video") && Catch::Contains("1/3") && Catch::Contains("33.3%"));
  const nlohmann::json j = io::read_json_file(dir / "m.json", "metrics");
  CHECK(j.at("pairs").at("correct").get<int>() == 1);
  CHECK(j.at("pairs").at("count").get<int>() == 3);
  CHECK(j.at("pairs").at("percent").get<double>() == Approx(100.0 / 3));
  CHECK(j.contains("text_to_video"));

  // Without --pairs the JSON has no "pairs"; bad lines and indices are errors naming the line.
  REQUIRE(run_cli(dir, "metrics sim.npy --json plain.json").status == 0);
  CHECK_FALSE(io::read_json_file(dir / "plain.json", "metrics").contains("pairs"));
  write(dir / "bad.csv", "0,0,1\n0,3,1\n");
  Run b = run_cli(dir, "metrics sim.npy --pairs bad.csv");
  CHECK(b.status != 0);
  CHECK_THAT(b.err, Catch::Contains("bad.csv:2") && Catch::Contains("out of range"));
  write(dir / "junk.csv", "0,0,1\n0;1;2\n");
  Run k = run_cli(dir, "metrics sim.npy --pairs junk.csv");
  CHECK(k.status != 0);
  CHECK_THAT(k.err, Catch::Contains("junk.csv:2"));
}
