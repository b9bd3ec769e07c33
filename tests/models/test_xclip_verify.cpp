// `verify` on the committed reference bundles (tests/fixtures/bundles, written by
// tools/reference/xclip_reference.py from our PyTorch reference of X-CLIP, and the ea_* ones by
// tools/reference/ea_clip4clip_reference.py from that of EA-CLIP4Clip): every bundle passes at
// its tolerance (1e-5 for f32), the bundles exercise every ablation switch, and verify fails when
// a tensor is off or missing — as a library call and through the xclip-cli binary.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "test_cli_util.hpp"
#include "test_util.hpp"
#include "xclip/io/safetensors.hpp"
#include "xclip/models/verify.hpp"

using namespace xclip;
using namespace xclip::models;
namespace fs = std::filesystem;

namespace {

fs::path bundles_dir() { return xclip::test::source_root() / "tests" / "fixtures" / "bundles"; }

std::vector<fs::path> bundles() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(bundles_dir()))
    if (e.is_directory()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

nlohmann::json config_of(const fs::path& b) {
  std::ifstream in(b / "config.json");
  return nlohmann::json::parse(in);
}

// A copy of `bundle` in a temporary folder whose expected tensors pass through `edit`.
fs::path edited_copy(const fs::path& bundle, const std::string& name,
                     const std::function<void(io::NamedTensors&)>& edit) {
  fs::path dir = xclip::test::temp_dir(name);
  for (const char* f : {"weights.safetensors", "inputs.safetensors", "config.json"}) fs::copy_file(bundle / f, dir / f);
  io::NamedTensors expected = io::load_safetensors((bundle / "expected.safetensors").string());
  io::NamedTensors copy;
  for (const auto& [n, t] : expected) copy.add(n, t.clone());
  edit(copy);
  io::save_safetensors((dir / "expected.safetensors").string(), copy);
  return dir;
}

// The EA options one ea_clip4clip bundle exercises.
std::set<std::string> ea_bundle_switches(const nlohmann::json& c) {
  const std::string type = c.at("se_block").get<bool>() ? c.at("se_type").get<std::string>() : "no se_block";
  std::string name = "ea " + c.at("sim_header").get<std::string>() + " " + type;
  if (type == "excitation_aggregation") name += " " + c.at("excitation_aggregation_type").get<std::string>();
  std::set<std::string> out = {name, std::string("ea_intra_attn=") + (c.at("ea_intra_attn").get<bool>() ? "on" : "off"),
          std::string("ea_mask_frames=") + (c.at("ea_mask_frames").get<bool>() ? "on" : "off"),
          c.at("reduction_ratio").get<double>() < 1 ? "ea reduction_ratio<1" : "ea reduction_ratio>1"};
  if (c.at("init_from_clip").get<bool>()) out.insert("ea " + c.at("sim_header").get<std::string>() + " init_from_clip");
  return out;
}

}  // namespace

TEST_CASE("every committed reference bundle passes verify at its tolerance", "[models][verify]") {
  const auto all = bundles();
  REQUIRE(all.size() >= 12);
  for (const fs::path& b : all) {
    DYNAMIC_SECTION(b.filename().string()) {
      const nlohmann::json cfg = config_of(b);
      if (cfg.at("precision") == "f32") {
        CHECK(cfg.at("tolerance").get<double>() <= 1e-5);
        CHECK(cfg.at("grad_tolerance").get<double>() <= 1e-5);
      }
      VerifyResult r = verify_bundle(b.string());
      INFO(r.table());
      CHECK(r.ok());
      CHECK(r.problems.empty());
      CHECK(r.checks.size() > 50);  // outputs, intermediates and every gradient
    }
  }
}

TEST_CASE("the committed bundles exercise every ablation switch", "[models][verify]") {
  std::set<std::string> seen;
  for (const fs::path& b : bundles()) {
    const nlohmann::json c = config_of(b);
    if (c.value("model", "xclip") == "tc_mgc") continue;  // its own switches: the test below
    if (c.value("model", c.value("head", std::string("xclip"))) == "ea_clip4clip") {
      const std::set<std::string> ea = ea_bundle_switches(c);
      seen.insert(ea.begin(), ea.end());
      continue;
    }
    seen.insert("sim_header=" + c.at("sim_header").get<std::string>());
    seen.insert("precision=" + c.at("precision").get<std::string>());
    seen.insert("aggregation=" + c.at("aggregation").get<std::string>());
    seen.insert("temperature=" + std::to_string(c.at("temperature").get<double>()));
    seen.insert(std::string("mask_padding=") + (c.at("mask_padding").get<bool>() ? "on" : "off"));
    seen.insert(std::string("learnable_aosm=") + (c.at("learnable_aosm").get<bool>() ? "on" : "off"));
    seen.insert(std::string("original_frames=") +
                (c.at("use_original_clip_for_frame_features").get<bool>() ? "on" : "off"));
    if (c.at("init_from_clip").get<bool>()) seen.insert("init_from_clip");
    if (c.contains("frame_word_chunk_elements")) seen.insert("frame_word_chunked");
    std::set<std::string> on;
    for (const auto& name : c.at("contrasts")) on.insert(name.get<std::string>());
    for (const char* name : {"video_sentence", "video_word", "sentence_frame", "frame_word"})
      seen.insert(std::string(name) + (on.count(name) ? "=on" : "=off"));
    if (on == std::set<std::string>{"video_sentence"} && !c.at("learnable_aosm").get<bool>())
      seen.insert("clip4clip_" + c.at("sim_header").get<std::string>());
  }
  for (const char* want :
       {"sim_header=seqTransf", "sim_header=meanP", "precision=f32", "precision=official_fp16",
        "aggregation=attention", "aggregation=mean-mean", "aggregation=max-max", "aggregation=mean-max",
        "aggregation=max-mean", "temperature=0.010000", "temperature=0.100000", "temperature=1.000000",
        "mask_padding=on", "mask_padding=off", "learnable_aosm=on", "learnable_aosm=off", "original_frames=on",
        "original_frames=off", "init_from_clip", "frame_word_chunked", "video_sentence=on", "video_sentence=off",
        "video_word=on", "video_word=off", "sentence_frame=on", "sentence_frame=off", "frame_word=on",
        "frame_word=off", "clip4clip_meanP", "clip4clip_seqTransf",
        // EA-CLIP4Clip (tools/reference/ea_clip4clip_reference.py): the README's loose configurations,
        // the other se_types and block pairs, and both switches of ours,
        "ea meanP excitation_aggregation unity", "ea seqTransf aggregation", "ea meanP excitation",
        "ea seqTransf excitation_seq", "ea seqLSTM aggregation", "ea meanP excitation_aggregation squeeze_expand",
        "ea seqTransf excitation_aggregation expand_squeeze", "ea_intra_attn=on", "ea_intra_attn=off",
        "ea_mask_frames=on", "ea_mask_frames=off", "ea reduction_ratio<1", "ea reduction_ratio>1",
        // the tight type: the README's excitation one, CLIP4Clip's own, the cross encoder from CLIP
        "ea tightTransf excitation", "ea tightTransf no se_block", "ea tightTransf init_from_clip"}) {
    INFO(want);
    CHECK(seen.count(want));
  }
}

TEST_CASE("the committed tc_mgc bundles exercise its switches", "[models][verify][tc_mgc]") {
  std::set<std::string> seen;
  for (const fs::path& b : bundles()) {
    const nlohmann::json c = config_of(b);
    if (c.value("model", "xclip") != "tc_mgc") continue;
    seen.insert("interaction_type=" + c.at("interaction_type").get<std::string>());
    seen.insert("lsa_init=" + c.at("lsa_init").get<std::string>());
    seen.insert("num_mha_heads=" + std::to_string(c.at("num_mha_heads").get<int>()));
    seen.insert(std::string("sdr_loss_flag=") + (c.at("sdr_loss_flag").get<bool>() ? "on" : "off"));
    seen.insert(std::string("lva_mask_frames=") + (c.at("lva_mask_frames").get<bool>() ? "on" : "off"));
    seen.insert("softmax_lambda=" + std::to_string(int(c.at("softmax_lambda").get<double>())));
    if (c.at("init_from_clip").get<bool>()) seen.insert("init_from_clip");
  }
  for (const char* want : {"interaction_type=1,2,3,4", "interaction_type=1,4", "lsa_init=eye", "lsa_init=zeros",
                           "num_mha_heads=1", "num_mha_heads=2", "sdr_loss_flag=on", "sdr_loss_flag=off",
                           "lva_mask_frames=on", "lva_mask_frames=off", "softmax_lambda=100", "init_from_clip"}) {
    INFO(want);
    CHECK(seen.count(want));
  }
}

TEST_CASE("verify fails on a gradient that is off and names it", "[models][verify][errors]") {
  const fs::path b = bundles_dir() / "xclip_seqtransf";
  fs::path bad = edited_copy(b, "verify_bad_grad", [](io::NamedTensors& e) {
    Tensor g = e.at("grad.word_mat_weight").clone();
    g.data<float>()[5] += 1e-3f * std::max(1.0f, std::abs(g.data<float>()[5]));
    e.set("grad.word_mat_weight", g);
  });
  VerifyResult r = verify_bundle(bad.string());
  CHECK_FALSE(r.ok());
  REQUIRE(r.worst());
  CHECK(r.worst()->name == "grad.word_mat_weight");
  CHECK_THAT(r.table(), Catch::Contains("FAIL"));
  // The same bundle passes with a tolerance above the injected error.
  VerifyOptions loose;
  loose.tolerance = 1e-2;
  CHECK(verify_bundle(bad.string(), loose).ok());
}

TEST_CASE("verify reports missing gradients and unknown expected tensors", "[models][verify][errors]") {
  const fs::path b = bundles_dir() / "xclip_meanp";
  fs::path bad = edited_copy(b, "verify_missing_grad", [](io::NamedTensors& e) {
    e.erase("grad.clip.ln_final.weight");
    e.add("mystery", Tensor::zeros(Shape{2}));
  });
  VerifyResult r = verify_bundle(bad.string());
  CHECK_FALSE(r.ok());
  const std::string table = r.table();
  CHECK_THAT(table, Catch::Contains("no 'grad.clip.ln_final.weight'"));
  CHECK_THAT(table, Catch::Contains("'mystery'"));
}

TEST_CASE("verify rejects a folder that is not a bundle", "[models][verify][errors]") {
  CHECK_THROWS_AS(verify_bundle((bundles_dir() / "no_such_bundle").string()), Error);
  fs::path dir = xclip::test::temp_dir("verify_not_json");
  std::ofstream(dir / "config.json") << "{ not json";
  CHECK_THROWS_WITH(verify_bundle(dir.string()), Catch::Contains("config.json"));
}

TEST_CASE("xclip-cli verify exits 0 on a passing bundle and 1 above the tolerance", "[models][verify][cli]") {
  const fs::path cli = xclip::test::cli_path();
  if (!fs::exists(cli)) XCLIP_SKIP("xclip-cli is not built next to the test binary (" << cli.string() << ")");
  const fs::path dir = xclip::test::temp_dir("verify_cli");
  const std::string bundle = "'" + (bundles_dir() / "clip4clip_meanp").string() + "'";
  xclip::test::CliRun r = xclip::test::run_cli(dir, "verify " + bundle + " --tol 1e-5");
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("PASS"));
  CHECK_THAT(r.out, Catch::Contains("grad.clip.visual.conv1.weight"));
  r = xclip::test::run_cli(dir, "verify " + bundle + " --tol 1e-12 --quiet");
  CHECK(r.status == 1);
  CHECK_THAT(r.out + r.err, Catch::Contains("FAIL"));
  r = xclip::test::run_cli(dir, "verify " + bundle + " --device gpu");
  CHECK(r.status == 1);
  CHECK_THAT(r.out + r.err, Catch::Contains("--device must be cpu or cuda"));
}
