// data/configs/: every committed model setting loads through HeadConfig::from_json (what
// --model_config does), holds the values of the table row it names, differs from the official
// X-CLIP in the one key its ablation changes, and is listed in data/configs/README.md.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_util.hpp"
#include "xclip/models/heads/head_config.hpp"

using namespace xclip;
using namespace xclip::models;
namespace fs = std::filesystem;

namespace {

fs::path configs_dir() { return test::source_root() / "data" / "configs"; }

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every *.json of data/configs/, parsed as --model_config parses it.
std::map<std::string, HeadConfig> load_all() {
  std::map<std::string, HeadConfig> out;
  for (const auto& entry : fs::directory_iterator(configs_dir())) {
    if (entry.path().extension() != ".json") continue;
    const std::string name = entry.path().filename().string();
    INFO(name);
    std::ifstream in(entry.path());
    REQUIRE(in.good());
    const nlohmann::json j = nlohmann::json::parse(in);
    REQUIRE_NOTHROW(out.emplace(name, HeadConfig::from_json(j)));
  }
  return out;
}

// The keys whose values differ between two configs (their full JSON forms).
std::vector<std::string> differing_keys(const HeadConfig& a, const HeadConfig& b) {
  const nlohmann::json ja = a.to_json(), jb = b.to_json();
  std::vector<std::string> keys;
  for (const auto& [key, value] : ja.items())
    if (!jb.contains(key) || jb.at(key) != value) keys.push_back(key);
  return keys;
}

}  // namespace

TEST_CASE("data/configs: every file loads as a head config and is listed in the README", "[models][config][data]") {
  REQUIRE(fs::is_directory(configs_dir()));
  const auto configs = load_all();
  CHECK(configs.size() == 22);
  const std::string readme = read_text(configs_dir() / "README.md");
  for (const auto& [name, config] : configs) {
    INFO(name);
    CHECK(readme.find("`" + name + "`") != std::string::npos);
  }
}

TEST_CASE("data/configs: the official X-CLIP and the CLIP4Clip meanP baseline", "[models][config][data]") {
  const auto configs = load_all();
  const HeadConfig& x = configs.at("xclip_official.json");
  CHECK(x.head == "xclip");
  CHECK(x.sim_header == "seqTransf");
  CHECK(x.cross_num_hidden_layers == 4);
  CHECK(x.temperature == 0.01);
  CHECK(x.contrasts.count() == 4);
  CHECK(x.aggregation == Aggregation{Pool::attention, Pool::attention});
  CHECK_FALSE(x.mask_padding);
  CHECK(x.learnable_aosm);
  CHECK(x.use_original_clip_for_frame_features);
  // The file spells out the code's defaults: the official model whichever way it is reached.
  CHECK(differing_keys(x, HeadConfig{}).empty());

  const HeadConfig& m = configs.at("clip4clip_meanP.json");
  CHECK(m.head == "clip4clip");
  CHECK(m.sim_header == "meanP");
  CHECK_FALSE(m.temporal_encoder());
  CHECK(m.contrasts == Contrasts{true, false, false, false});
  CHECK_FALSE(m.learnable_aosm);
}

TEST_CASE("data/configs: each ablation changes one key of the official X-CLIP, to the table's value", "[models][config][data]") {
  const auto configs = load_all();
  const HeadConfig& official = configs.at("xclip_official.json");
  const std::map<std::string, std::string> changed = {
      {"table6_vs.json", "contrasts"},        {"table6_fw.json", "contrasts"},
      {"table6_vw_sf.json", "contrasts"},     {"table6_vs_fw.json", "contrasts"},
      {"table6_vs_vw_sf.json", "contrasts"},  {"table6_vw_sf_fw.json", "contrasts"},
      {"table7_attention.json", ""},          {"table7_mean_mean.json", "aggregation"},
      {"table7_max_max.json", "aggregation"}, {"table7_mean_max.json", "aggregation"},
      {"table7_max_mean.json", "aggregation"}, {"table8_meanP.json", "sim_header"},
      {"table9_tau_1.json", "temperature"},   {"table9_tau_0.1.json", "temperature"},
      {"table9_tau_0.01.json", ""}};
  for (const auto& [name, key] : changed) {
    INFO(name);
    REQUIRE(configs.count(name));
    const auto keys = differing_keys(configs.at(name), official);
    CHECK(keys == (key.empty() ? std::vector<std::string>{} : std::vector<std::string>{key}));
  }
  CHECK(configs.at("table6_vs.json").contrasts == Contrasts{true, false, false, false});
  CHECK(configs.at("table6_fw.json").contrasts == Contrasts{false, false, false, true});
  CHECK(configs.at("table6_vw_sf.json").contrasts == Contrasts{false, true, true, false});
  CHECK(configs.at("table6_vs_fw.json").contrasts == Contrasts{true, false, false, true});
  CHECK(configs.at("table6_vs_vw_sf.json").contrasts == Contrasts{true, true, true, false});
  CHECK(configs.at("table6_vw_sf_fw.json").contrasts == Contrasts{false, true, true, true});
  CHECK(configs.at("table7_mean_mean.json").aggregation == Aggregation{Pool::mean, Pool::mean});
  CHECK(configs.at("table7_max_max.json").aggregation == Aggregation{Pool::max, Pool::max});
  CHECK(configs.at("table7_mean_max.json").aggregation == Aggregation{Pool::mean, Pool::max});
  CHECK(configs.at("table7_max_mean.json").aggregation == Aggregation{Pool::max, Pool::mean});
  CHECK(configs.at("table8_meanP.json").head == "xclip");
  CHECK_FALSE(configs.at("table8_meanP.json").temporal_encoder());
  CHECK(configs.at("table9_tau_1.json").temperature == 1.0);
  CHECK(configs.at("table9_tau_0.1.json").temperature == 0.1);
  CHECK(configs.at("table9_tau_0.01.json").temperature == 0.01);
}

TEST_CASE("data/configs: the EA-CLIP4Clip README configurations", "[models][config][data][ea_clip4clip]") {
  const auto configs = load_all();
  const HeadConfig& ea = configs.at("ea_clip4clip_meanP_exc_agg.json");
  CHECK(ea.head == "ea_clip4clip");
  CHECK(ea.sim_header == "meanP");
  CHECK(ea.option("se_type") == "excitation_aggregation");
  CHECK(ea.option("reduction_ratio") == 4.0);
  CHECK(ea.option("excitation_aggregation_type") == "unity");
  const HeadConfig& seq = configs.at("ea_clip4clip_seqTransf_agg.json");
  CHECK(seq.temporal_encoder());
  CHECK(seq.cross_num_hidden_layers == 4);
  CHECK(seq.option("se_type") == "aggregation");
  CHECK(seq.option("reduction_ratio") == 0.25);
  const HeadConfig& lstm = configs.at("ea_clip4clip_seqLSTM_agg.json");
  CHECK(lstm.sim_header == "seqLSTM");
  CHECK(lstm.option("se_type") == "aggregation");
  CHECK(lstm.option("reduction_ratio") == 0.25);
  const HeadConfig& tight = configs.at("ea_clip4clip_tightTransf_exc.json");
  CHECK(tight.cross_encoder());
  CHECK(tight.cross_num_hidden_layers == 4);
  CHECK(tight.option("se_type") == "excitation");
  CHECK(tight.option("reduction_ratio") == 4.0);
  CHECK(tight.option("hidden_dropout_prob") == 0.1);
  for (const HeadConfig* c : {&ea, &seq, &lstm, &tight}) {
    CHECK(c->option("ea_intra_attn") == false);
    CHECK(c->option("ea_mask_frames") == false);
    CHECK(c->contrasts == HeadConfig::clip4clip("meanP").contrasts);
  }
}
