// The head layer: the registry, the model's official parameter order with a merged head, the
// roles a head reports, and the CLIP4Clip family against the X-CLIP family's one-contrast preset.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "models/small_model_util.hpp"
#include "xclip/models/heads/clip4clip_head.hpp"
#include "xclip/models/heads/xclip_head.hpp"
#include "xclip/models/model.hpp"
#include "xclip/ops.hpp"

using namespace xclip;
using namespace xclip::models;

namespace {

std::vector<std::string> names_of(const nn::Module& m) {
  std::vector<std::string> out;
  for (const auto& [n, t] : m.named_parameters()) out.push_back(n);
  return out;
}

// A model of `config` with CLIP at random and its head as from_pretrained leaves it.
std::unique_ptr<RetrievalModel> random_model(const HeadConfig& config, uint64_t seed) {
  auto m = std::make_unique<RetrievalModel>(config, test::small_clip_config());
  Generator g(seed);
  m->clip.init_random(g);
  m->load_pretrained(m->clip.state_dict("clip."));
  return m;
}

}  // namespace

TEST_CASE("the registry lists the head families and makes the one the config names", "[models][heads]") {
  std::vector<std::string> families;
  for (const HeadFamily& f : head_families()) families.push_back(f.name);
  REQUIRE(families.size() >= 2);  // a test below registers one more
  CHECK(std::vector<std::string>(families.begin(), families.begin() + 2) ==
        std::vector<std::string>{"xclip", "clip4clip"});
  CHECK(dynamic_cast<XClipHead*>(make_head(test::small_head_config(), HeadDims{16, 12}).get()) != nullptr);
  CHECK(dynamic_cast<Clip4ClipHead*>(make_head(test::small_head_config(HeadConfig::clip4clip("meanP")), HeadDims{16, 12}).get()) !=
        nullptr);
  HeadConfig unknown;
  unknown.head = "tcmgc_typo";
  CHECK_THROWS_WITH(make_head(unknown, HeadDims{16, 12}), Catch::Contains("xclip, clip4clip"));
  // "head" in JSON, "model" as the older spelling; both apply the clip4clip preset.
  for (const char* key : {"head", "model"}) {
    const HeadConfig c = HeadConfig::from_json(nlohmann::json{{key, "clip4clip"}, {"sim_header", "seqTransf"}});
    CHECK(c.head == "clip4clip");
    CHECK(c.contrasts == HeadConfig::clip4clip("seqTransf").contrasts);
    CHECK(HeadConfig::from_json(c.to_json()).to_json() == c.to_json());
  }
  CHECK_THROWS_WITH(HeadConfig::from_json(nlohmann::json{{"head", "nope"}}), Catch::Contains("head must be one of"));
  // The clip4clip head has no X-CLIP contrasts: a config asking for them is refused, not ignored.
  HeadConfig four = test::small_head_config(HeadConfig::clip4clip("meanP"));
  four.contrasts = Contrasts{};
  CHECK_THROWS_WITH(Clip4ClipHead(four, HeadDims{16, 12}), Catch::Contains("video-sentence contrast only"));
}

TEST_CASE("a merged head keeps the official names and order: matrices, clip.*, temporal encoder", "[models][heads]") {
  RetrievalModel model(test::small_head_config(), test::small_clip_config());
  const std::vector<std::string> names = names_of(model);
  const std::vector<std::string> clip = names_of(model.clip);
  const std::vector<std::string> head = names_of(model.head);
  REQUIRE(names.size() == clip.size() + head.size());
  for (size_t i = 0; i < 8; ++i) CHECK(names[i] == AosmMatrices::names()[i]);
  for (size_t i = 0; i < clip.size(); ++i) CHECK(names[8 + i] == "clip." + clip[i]);
  CHECK(names[8 + clip.size()] == "frame_position_embeddings.weight");
  CHECK(names.back() == "transformerClip.resblocks.1.ln_2.bias");
  // Loading by those names reaches the head's tensors (the same storage).
  CHECK(model.parameter("global_mat_weight").is_same(model.head.parameter("global_mat_weight")));
}

TEST_CASE("the model reports every parameter's training role", "[models][heads]") {
  RetrievalModel xclip(test::small_head_config(), test::small_clip_config(), ClipPrecision::official_fp16);
  for (const auto& [name, p] : xclip.named_parameters()) {
    INFO(name);
    const ParamRole r = xclip.param_role(name);
    CHECK(r.clip == name.starts_with("clip."));  // "clip." in name; transformerClip is not CLIP
    CHECK(r.decay == !is_no_decay_parameter(name));
    CHECK(r.fp16 == (name.starts_with("clip.") && is_official_fp16_parameter(name.substr(5))));
    const bool matrix = std::find(AosmMatrices::names().begin(), AosmMatrices::names().end(), name) !=
                        AosmMatrices::names().end();
    CHECK(r.after_gather == (matrix || name == "clip.logit_scale"));
  }
  CHECK_THROWS_WITH(xclip.param_role("clip.nothing"), Catch::Contains("clip.nothing"));
  CHECK_THROWS_WITH(xclip.param_role("frame_position_embeddings.bias"), Catch::Contains("frame_position_embeddings.bias"));
  RetrievalModel c4c(test::small_head_config(HeadConfig::clip4clip("seqTransf")), test::small_clip_config());
  CHECK_FALSE(c4c.param_role("transformerClip.resblocks.0.attn.in_proj_weight").after_gather);
  CHECK_FALSE(c4c.param_role("transformerClip.resblocks.0.attn.in_proj_bias").decay);
  CHECK_THROWS_WITH(c4c.param_role("global_mat_weight"), Catch::Contains("global_mat_weight"));
}

TEST_CASE("the clip4clip head computes what the xclip head's one-contrast preset computes", "[models][heads]") {
  for (const char* sim_header : {"meanP", "seqTransf"}) {
    INFO(sim_header);
    HeadConfig c4c = test::small_head_config(HeadConfig::clip4clip(sim_header));
    c4c.batch_size_val = 2;  // several evaluation blocks
    HeadConfig as_xclip = c4c;
    as_xclip.head = "xclip";
    const auto a = random_model(as_xclip, 3);
    const auto b = random_model(c4c, 3);
    REQUIRE(dynamic_cast<const Clip4ClipHead*>(&b->head) != nullptr);
    REQUIRE(names_of(*a) == names_of(*b));
    const test::SmallInputs in = test::small_inputs(5, 4);
    ModelOutput oa = a->forward(in.ids, in.attention, in.video, in.video_mask);
    ModelOutput ob = b->forward(in.ids, in.attention, in.video, in.video_mask);
    // The same ops in the same order: the same bits, forward and backward.
    CHECK(oa.head.logits.to_vector<float>() == ob.head.logits.to_vector<float>());
    CHECK(oa.loss.item<float>() == ob.loss.item<float>());
    for (const char* name : {"sentence_output", "video_output", "visual_output_temporal", "logits.video_sentence"})
      CHECK(oa.head.find(name)->to_vector<float>() == ob.head.find(name)->to_vector<float>());
    oa.loss.backward();
    ob.loss.backward();
    for (const auto& [name, p] : a->named_parameters()) {
      INFO(name);
      CHECK(p.grad().to_vector<float>() == b->parameter(name).grad().to_vector<float>());
    }
    // Evaluation (blocks of 2 videos): the same similarity up to the GEMM's blocking.
    const auto sa = a->similarity_for_eval(in.ids, in.attention, in.video, in.video_mask).to_vector<float>();
    const auto sb = b->similarity_for_eval(in.ids, in.attention, in.video, in.video_mask).to_vector<float>();
    for (size_t i = 0; i < sa.size(); ++i) CHECK(sa[i] == Approx(sb[i]).epsilon(1e-6).margin(1e-5));
  }
}

namespace {
// A head family defined outside the library: CLIP4Clip meanP with its logits multiplied by the
// family's own option "scale" (default 1).
class ScaledMeanHead : public SimilarityHead {
 public:
  ScaledMeanHead(const HeadConfig& config, const HeadDims&, DType) : SimilarityHead(config) {}
  HeadOutput forward(const TextFeatures& t, const VideoFeatures& v, const Tensor& logit_scale) const override {
    HeadOutput out;
    out.logits = similarity_matrix(t, v, logit_scale);
    out.extra_loss = ops::scale(logit_scale_factor(logit_scale), 1e-3);  // a regulariser on λ
    return out;
  }
  Tensor similarity_matrix(const TextFeatures& t, const VideoFeatures& v, const Tensor& logit_scale) const override {
    const Tensor lambda = ops::scale(logit_scale_factor(logit_scale), config_.option("scale").get<double>());
    return video_sentence_logits(lambda, normalized_sentence(t.sentence), mean_video_feature(v.frames, v.video_mask));
  }
  void reset_parameters(uint64_t) override {}
  ParamRole param_role(const std::string& name) const override {
    throw Error(format("scaled_mean head: no parameter named '", name, "'"));
  }
};
}  // namespace

TEST_CASE("a head family registered from outside the library, with an option of its own", "[models][heads]") {
  if (std::none_of(head_families().begin(), head_families().end(),
                   [](const HeadFamily& f) { return std::string(f.name) == "scaled_mean"; }))
    register_head_family({"scaled_mean", "test: meanP times a scale",
                          [](const HeadConfig& c, const HeadDims& d, DType t) -> std::unique_ptr<SimilarityHead> {
                            return std::make_unique<ScaledMeanHead>(c, d, t);
                          },
                          {{"scale", 1.0}}});
  CHECK_THROWS_WITH(register_head_family({"xclip", "", nullptr}), Catch::Contains("exists already"));
  HeadConfig c = HeadConfig::from_json(nlohmann::json{{"head", "scaled_mean"}, {"sim_header", "meanP"}, {"scale", 2.5}});
  CHECK(c.option("scale") == 2.5);
  CHECK(HeadConfig::from_json(c.to_json()).option("scale") == 2.5);
  CHECK(HeadConfig::from_json(nlohmann::json{{"head", "scaled_mean"}}).option("scale") == 1.0);  // the default
  // Another family's option is an unknown key, and an undeclared option an error.
  CHECK_THROWS_WITH(HeadConfig::from_json(nlohmann::json{{"head", "xclip"}, {"scale", 2}}),
                    Catch::Contains("unknown key 'scale'"));
  CHECK_THROWS_WITH(c.option("keep_rate"), Catch::Contains("no option 'keep_rate'"));
  // The model builds it through the registry and its logits are the meanP logits times 2.5.
  c = test::small_head_config(c);
  HeadConfig meanp = test::small_head_config(HeadConfig::clip4clip("meanP"));
  const auto scaled = random_model(c, 9), plain = random_model(meanp, 9);
  const test::SmallInputs in = test::small_inputs(4, 2);
  const ModelOutput out = scaled->forward(in.ids, in.attention, in.video, in.video_mask);
  const auto a = out.head.logits.to_vector<float>();
  const auto b = plain->forward(in.ids, in.attention, in.video, in.video_mask).head.logits.to_vector<float>();
  for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == Approx(2.5 * b[i]).epsilon(1e-6));
  // The head's extra loss term is added to the contrastive loss.
  const double lambda = std::exp(scaled->logit_scale().item<float>());
  CHECK(out.loss.item<float>() ==
        Approx(symmetric_cross_entropy(out.head.logits).item<float>() + 1e-3 * lambda).epsilon(1e-6));
}
