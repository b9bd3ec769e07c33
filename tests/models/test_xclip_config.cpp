// HeadConfig: defaults are the official scripts' values; JSON round trip; presets; bad values.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "xclip/core/error.hpp"
#include "xclip/models/heads/head_config.hpp"

using namespace xclip;
using namespace xclip::models;

TEST_CASE("default X-CLIP config is what the official scripts train", "[models][config]") {
  HeadConfig c;
  CHECK(c.sim_header == "seqTransf");
  CHECK(c.temporal_encoder());
  CHECK(c.cross_num_hidden_layers == 4);
  CHECK(c.temperature == 0.01);
  CHECK(c.contrasts.count() == 4);
  CHECK(c.aggregation == Aggregation{Pool::attention, Pool::attention});
  CHECK_FALSE(c.mask_padding);
  CHECK(c.learnable_aosm);
  CHECK(c.use_original_clip_for_frame_features);
  CHECK(c.max_words == 32);
  CHECK(c.max_frames == 12);
}

TEST_CASE("config JSON round trip keeps every field", "[models][config]") {
  HeadConfig c;
  c.sim_header = "meanP";
  c.max_words = 7;
  c.max_frames = 5;
  c.cross_num_hidden_layers = 2;
  c.temporal_heads = 2;
  c.temperature = 0.1;
  c.contrasts = Contrasts{true, false, true, false};
  c.aggregation = Aggregation::parse("max-mean");
  c.mask_padding = true;
  c.learnable_aosm = false;
  c.use_original_clip_for_frame_features = false;
  c.batch_size_val = 3;
  c.frame_word_chunk_elements = 99;
  HeadConfig d = HeadConfig::from_json(c.to_json());
  CHECK(d.to_json() == c.to_json());
  CHECK(d.aggregation == Aggregation{Pool::max, Pool::mean});
  CHECK(d.contrasts == Contrasts{true, false, true, false});
}

TEST_CASE("Table 7 aggregation names parse to (first stage, second stage)", "[models][config]") {
  CHECK(Aggregation::parse("attention") == Aggregation{Pool::attention, Pool::attention});
  CHECK(Aggregation::parse("mean-mean") == Aggregation{Pool::mean, Pool::mean});
  CHECK(Aggregation::parse("max-max") == Aggregation{Pool::max, Pool::max});
  CHECK(Aggregation::parse("mean-max") == Aggregation{Pool::mean, Pool::max});
  CHECK(Aggregation::parse("max-mean") == Aggregation{Pool::max, Pool::mean});
  CHECK(Aggregation::parse("max-mean").str() == "max-mean");
  CHECK_THROWS_AS(Aggregation::parse("median-max"), Error);
  CHECK_THROWS_AS(Aggregation::parse("max"), Error);
}

TEST_CASE("the clip4clip preset is video-sentence only without learnable matrices", "[models][config]") {
  HeadConfig c = HeadConfig::from_json(nlohmann::json{{"model", "clip4clip"}, {"sim_header", "seqTransf"}});
  CHECK(c.contrasts == Contrasts{true, false, false, false});
  CHECK_FALSE(c.learnable_aosm);
  CHECK(c.sim_header == "seqTransf");
  CHECK(HeadConfig::from_json(nlohmann::json{{"model", "clip4clip"}}).sim_header == "meanP");
}

TEST_CASE("bad config values are errors naming the key", "[models][config][errors]") {
  auto message = [](const nlohmann::json& j) {
    try {
      HeadConfig::from_json(j);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(message({{"sim_header", "seqLSTM"}}), Catch::Contains("sim_header"));
  CHECK_THAT(message({{"max_words", "32"}}), Catch::Contains("max_words"));
  CHECK_THAT(message({{"temperature", 0}}), Catch::Contains("temperature"));
  CHECK_THAT(message({{"contrasts", nlohmann::json::array()}}), Catch::Contains("at least one contrast"));
  CHECK_THAT(message({{"contrasts", {"video_frame"}}}), Catch::Contains("video_frame"));
  CHECK_THAT(message({{"max_frame", 12}}), Catch::Contains("unknown key 'max_frame'"));
  // Keys a caller declares as not the model's are skipped.
  CHECK_NOTHROW(HeadConfig::from_json({{"kind", "heads"}}, {"kind"}));
}
