// Retrieval metrics against the original metrics.py on the same matrices:
//   /usr/bin/python3 tools/reference/metrics_reference.py tests/fixtures/reference/metrics
// (square matrices with ties and NaNs, the spec's test vectors, a multi-sentence set), and the
// .npy round trip used by `xclip-cli metrics`.
#include <catch2/catch.hpp>
#include <fstream>

#include <nlohmann/json.hpp>

#include "test_util.hpp"
#include "xclip/io/npy.hpp"
#include "xclip/io/safetensors.hpp"
#include "xclip/train/metrics.hpp"

using namespace xclip;
using namespace xclip::train;

namespace {
const std::string kFixture = "tests/fixtures/reference/metrics";

nlohmann::json expected() {
  std::ifstream f(test::source_root() / (kFixture + ".json"));
  return nlohmann::json::parse(f);
}

void check_same(const RetrievalMetrics& m, const nlohmann::json& e) {
  // The multi-sentence R@k are float32 in the original (torch.sum(...)*100/len): 1e-6 relative.
  CHECK(m.r1 == Approx(e["R1"].get<double>()).epsilon(1e-6));
  CHECK(m.r5 == Approx(e["R5"].get<double>()).epsilon(1e-6));
  CHECK(m.r10 == Approx(e["R10"].get<double>()).epsilon(1e-6));
  CHECK(m.median_rank == Approx(e["MR"].get<double>()).epsilon(1e-12));
  CHECK(m.mean_rank == Approx(e["MeanR"].get<double>()).epsilon(1e-12));
  CHECK(m.count == e["count"].get<int64_t>());
  if (e.contains("Std_Rank")) CHECK(m.std_rank == Approx(e["Std_Rank"].get<double>()).epsilon(1e-12));
}
}  // namespace

TEST_CASE("compute_metrics matches the original on square matrices", "[metrics][reference]") {
  auto mats = io::load_safetensors((test::source_root() / (kFixture + ".safetensors")).string());
  auto exp = expected();
  for (std::string name : {"square_random", "square_ties", "square_nan", "spec_ties", "spec_3x3"}) {
    DYNAMIC_SECTION(name) {
      Tensor sim = mats.at(name);
      check_same(compute_metrics(sim), exp[name]["t2v"]);
      Tensor simT = Tensor::from_vector<double>(std::vector<double>(sim.numel()), Shape{sim.dim(1), sim.dim(0)});
      auto v = sim.to_vector<double>();
      for (int64_t i = 0; i < sim.dim(0); ++i)
        for (int64_t j = 0; j < sim.dim(1); ++j) simT.data<double>()[j * sim.dim(0) + i] = v[size_t(i * sim.dim(1) + j)];
      check_same(compute_metrics(simT), exp[name]["v2t"]);
    }
  }
}

TEST_CASE("the spec's tie example: a tied row contributes two entries", "[metrics]") {
  RetrievalMetrics m = compute_metrics(Tensor::from_vector<double>({1, 1, 0, 1}, Shape{2, 2}));
  CHECK(m.count == 3);
  CHECK(m.r1 == Approx(200.0 / 3));
  CHECK(m.median_rank == 1.0);
  CHECK(m.mean_rank == Approx(4.0 / 3));
}

TEST_CASE("multi-sentence metrics match the original", "[metrics][reference]") {
  auto mats = io::load_safetensors((test::source_root() / (kFixture + ".safetensors")).string());
  auto exp = expected();
  Tensor sim = mats.at("multi_sim");
  Tensor grouped = group_by_video(sim, mats.at("multi_caption_video").to_vector<int64_t>());
  check_same(text_to_video_multi(grouped), exp["multi"]["t2v"]);
  check_same(video_to_text_multi(grouped), exp["multi"]["v2t"]);
}

TEST_CASE("npy round trip and errors", "[metrics][npy]") {
  auto dir = test::temp_dir("npy");
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, Shape{2, 3});
  io::save_npy((dir / "x.npy").string(), x);
  Tensor y = io::load_npy((dir / "x.npy").string());
  CHECK(y.shape() == Shape{2, 3});
  CHECK(y.to_vector<float>() == x.to_vector<float>());
  Tensor v = Tensor::from_vector<int64_t>({7}, Shape{1});
  io::save_npy((dir / "v.npy").string(), v);
  CHECK(io::load_npy((dir / "v.npy").string()).to_vector<int64_t>() == std::vector<int64_t>{7});
  {
    std::ofstream f(dir / "bad.npy", std::ios::binary);
    f << "not an npy file";
  }
  CHECK_THROWS_WITH(io::load_npy((dir / "bad.npy").string()), Catch::Contains("bad.npy") && Catch::Contains("magic"));
  CHECK_THROWS_WITH(io::load_npy((dir / "missing.npy").string()), Catch::Contains("missing.npy"));
  // Truncated data: header promises 6 floats.
  std::ifstream in(dir / "x.npy", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::ofstream(dir / "trunc.npy", std::ios::binary) << bytes.substr(0, bytes.size() - 4);
  CHECK_THROWS_WITH(io::load_npy((dir / "trunc.npy").string()), Catch::Contains("trunc.npy") && Catch::Contains("needs"));
}
