// The TC-MGC head (heads/tc_mgc_head.hpp): f64 finite-difference gradient checks of its parts
// (ISA, the top-k gather with SF's fused remainder, the LVA block) and of the whole head + loss;
// option parsing and checks; dropout (stochastic in training, reproducible from (seed, step));
// the tiled evaluation equal to the training forward's logits.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>

#include "models/small_model_util.hpp"
#include "ops/grad_util.hpp"
#include "test_util.hpp"
#include "xclip/autograd.hpp"
#include "xclip/models/heads/tc_mgc_head.hpp"
#include "xclip/models/model.hpp"
#include "xclip/models/temporal_encoder.hpp"
#include "xclip/ops.hpp"

using namespace xclip;
using namespace xclip::models;
using xclip::test::max_abs_diff;
using xclip::test::randn_f64;

namespace {

constexpr int64_t B = 3, L = 5, N = 3, D = 8;

HeadConfig tiny(std::map<std::string, nlohmann::json> options = {}) {
  HeadConfig c;
  c.head = "tc_mgc";
  c.max_words = L;
  c.max_frames = N;
  c.cross_num_hidden_layers = 1;
  c.temporal_heads = 2;
  c.options = {{"keep_rate", 0.4}, {"transformer_dropout", 0.0}, {"softmax_lambda", 10.0}};  // k = 2
  for (auto& [k, v] : options) c.options[k] = v;
  return c;
}

// Parameters away from their special initial values (identity, 0, 1), so that a transposed or
// misplaced matrix shows in the gradients.
void perturb(const nn::NamedTensorList& params, uint64_t seed) {
  NoGradGuard no_grad;
  for (auto [name, p] : params) p.copy_(ops::add(p, randn_f64(p.shape(), ++seed, 0.1)));
}

struct Batch {
  Tensor sentence, words, frames, word_mask, video_mask;
};

Batch batch(int64_t t, int64_t v, uint64_t seed, bool grad = false) {
  Batch b{randn_f64(Shape{t, D}, seed), randn_f64(Shape{t, L, D}, seed + 1), randn_f64(Shape{v, N, D}, seed + 2),
          Tensor::ones(Shape{t, L}, DType::i64), Tensor::ones(Shape{v, N}, DType::i64)};
  if (v > 1) b.video_mask.data<int64_t>()[N - 1] = 0;  // one padded frame
  if (grad) {
    b.sentence.set_requires_grad(true);
    b.words.set_requires_grad(true);
    b.frames.set_requires_grad(true);
  }
  return b;
}

void check_head_and_loss(const HeadConfig& cfg) {
  TcMgcHead head(cfg, HeadDims{D, 6}, DType::f64);
  Tensor logit_scale = Tensor::full(Shape{}, std::log(20.0), DType::f64).set_requires_grad(true);
  nn::NamedTensorList params = head.named_parameters();
  params.emplace_back("clip.logit_scale", logit_scale);
  perturb(params, 31);
  const Batch b = batch(B, B, 1, true);
  // The temporal encoder's parameters are X-CLIP's (checked in test_similarity_gradcheck.cpp);
  // the frames' gradient still goes through it.
  std::vector<Tensor> inputs{b.sentence, b.words, b.frames};
  for (auto& [name, p] : params)
    if (!TemporalEncoder::owns(name)) inputs.push_back(p);
  auto fn = [&](const std::vector<Tensor>& in) {
    HeadOutput out = head.forward({in[0], in[1], b.word_mask}, {in[2], b.video_mask}, logit_scale);
    Tensor loss = symmetric_cross_entropy(out.logits);
    return out.extra_loss.defined() ? ops::add(loss, out.extra_loss) : loss;
  };
  // 1e-5: ISA's second softmax (λs 10 on τ-free cosines) is steep, so the smallest gradient
  // elements of its matrices sit near the finite differences' roundoff (≈1e-12 absolute).
  test::check_gradients(fn, inputs, 1e-5);
}

}  // namespace

TEST_CASE("tc_mgc gradcheck: ISA (softmax-linear-softmax aggregation)", "[tc_mgc][grad]") {
  for (double lambda : {1.0, 10.0, 100.0}) {
    DYNAMIC_SECTION("lambda " << lambda) {
      Tensor x = test::param(Shape{2, 3, 4}, 5, -1.0 / lambda * 4, 1.0 / lambda * 4);
      Tensor mix = ops::add(Tensor::eye(4, DType::f64), randn_f64(Shape{4, 4}, 6, 0.2)).set_requires_grad(true);
      // At λ 100 the second softmax is nearly one-hot: the matrix's gradient is ≈1e-5 at most and
      // its smallest elements are at the finite differences' roundoff, hence the looser bound there.
      test::check_gradients(
          [&](const std::vector<Tensor>& in) {
            return ops::sum_all(interactive_similarity_aggregation(in[0], in[1], lambda));
          },
          {x, mix}, lambda >= 100 ? 1e-4 : 1e-6);
    }
  }
}

TEST_CASE("tc_mgc ISA equals its formula on one vector", "[tc_mgc]") {
  const std::vector<double> x = {0.3, -0.2, 0.1};
  const Tensor mix = ops::add(Tensor::eye(3, DType::f64), randn_f64(Shape{3, 3}, 8, 0.3));
  const double lambda = 4.0;
  const auto m = mix.to_vector<double>();
  double z = 0;
  std::vector<double> first(3), second(3);
  for (int i = 0; i < 3; ++i) z += std::exp(lambda * x[size_t(i)]);
  for (int i = 0; i < 3; ++i) first[size_t(i)] = std::exp(lambda * x[size_t(i)]) / z;
  double z2 = 0;
  for (int j = 0; j < 3; ++j) {
    double mixed = 0;
    for (int i = 0; i < 3; ++i) mixed += first[size_t(i)] * m[size_t(i * 3 + j)];
    second[size_t(j)] = std::exp(lambda * mixed);
    z2 += second[size_t(j)];
  }
  double want = 0;
  for (int j = 0; j < 3; ++j) want += x[size_t(j)] * second[size_t(j)] / z2;
  const Tensor got = interactive_similarity_aggregation(Tensor::from_vector(x, Shape{1, 3}), mix, lambda);
  CHECK(got.item<double>() == Approx(want).epsilon(1e-12));
}

TEST_CASE("tc_mgc gradcheck: top-k sorted gather and SF's fused remainder", "[tc_mgc][grad]") {
  Tensor x = test::param(Shape{2, 3, 7}, 9);
  const Tensor w = randn_f64(Shape{2, 3, 4}, 10);
  test::check_gradients([&](const std::vector<Tensor>& in) { return ops::sum_all(ops::mul(top_k_sorted(in[0], 3), ops::narrow(w, 2, 0, 3))); },
                        {x});
  test::check_gradients([&](const std::vector<Tensor>& in) { return ops::sum_all(ops::mul(top_k_with_fused_rest(in[0], 3), w)); },
                        {x});
}

TEST_CASE("tc_mgc SF remainder: the softmax-weighted sum of the values outside the top k", "[tc_mgc]") {
  const std::vector<double> x = {0.1, 0.9, -0.3, 0.5, 0.2};
  const auto got = top_k_with_fused_rest(Tensor::from_vector(x, Shape{1, 5}), 2).to_vector<double>();
  REQUIRE(got.size() == 3);
  CHECK(got[0] == 0.9);
  CHECK(got[1] == 0.5);
  const double z = std::exp(0.1) + std::exp(-0.3) + std::exp(0.2);
  CHECK(got[2] == Approx((0.1 * std::exp(0.1) - 0.3 * std::exp(-0.3) + 0.2 * std::exp(0.2)) / z).epsilon(1e-12));
  // k = n: nothing left, the fused value is 0 (torch sums an empty selection).
  const auto all = top_k_with_fused_rest(Tensor::from_vector(x, Shape{1, 5}), 5).to_vector<double>();
  CHECK(all.back() == 0.0);
}

TEST_CASE("tc_mgc gradcheck: the LVA block", "[tc_mgc][grad]") {
  for (int heads : {1, 2}) {
    for (bool mask_frames : {false, true}) {
      DYNAMIC_SECTION("heads " << heads << " mask_frames " << mask_frames) {
        TcMgcHead head(tiny({{"num_mha_heads", heads}}), HeadDims{D, 6}, DType::f64);
        nn::NamedTensorList params = head.named_parameters();
        perturb(params, 50);
        const TcMgcParams& p = head.params();
        Tensor queries = test::param(Shape{4, D}, 11);
        Tensor frames = test::param(Shape{2, N, D}, 12);
        const Tensor video_mask = Tensor::from_vector<int64_t>({1, 1, 0, 1, 1, 1}, Shape{2, N});
        const Tensor weights = randn_f64(Shape{4, 2, D}, 13);
        std::vector<Tensor> inputs{queries, frames, p.proj_weight, p.proj_bias, p.ln1_weight, p.ln1_bias,
                                   p.ln2_weight, p.ln2_bias, p.ln3_weight, p.ln3_bias};
        test::check_gradients(
            [&](const std::vector<Tensor>& in) {
              Tensor y = language_video_attention(p, in[0], in[1], video_mask, heads, mask_frames, DropoutDraw{}, 0);
              return ops::sum_all(ops::mul(y, weights));
            },
            inputs);
      }
    }
  }
}

TEST_CASE("tc_mgc LVA: padded frames count unless lva_mask_frames", "[tc_mgc]") {
  TcMgcHead head(tiny(), HeadDims{D, 6}, DType::f64);
  perturb(head.named_parameters(), 60);
  const Tensor queries = randn_f64(Shape{2, D}, 14);
  Tensor frames = randn_f64(Shape{1, N, D}, 15);
  const Tensor mask = Tensor::from_vector<int64_t>({1, 1, 0}, Shape{1, N});
  Tensor changed = frames.clone();
  changed.data<double>()[2 * D] += 1.0;  // the padded frame
  for (bool masked : {false, true}) {
    const Tensor a = language_video_attention(head.params(), queries, frames, mask, 1, masked, DropoutDraw{}, 0);
    const Tensor b = language_video_attention(head.params(), queries, changed, mask, 1, masked, DropoutDraw{}, 0);
    if (masked)
      CHECK(max_abs_diff(a, b) == 0.0);
    else
      CHECK(max_abs_diff(a, b) > 1e-6);
  }
}

TEST_CASE("tc_mgc gradcheck: whole head + InfoNCE + SDR (dropout off)", "[tc_mgc][grad]") {
  SECTION("defaults (all four terms, LSA eye, SDR)") { check_head_and_loss(tiny()); }
  SECTION("two heads, frames masked, lsa zeros") {
    check_head_and_loss(tiny({{"num_mha_heads", 2}, {"lva_mask_frames", true}, {"lsa_init", "zeros"}}));
  }
  SECTION("interaction_type 4,2 without SDR") { check_head_and_loss(tiny({{"interaction_type", "4,2"}, {"sdr_loss_flag", false}})); }
  SECTION("k = L (SF's remainder empty)") { check_head_and_loss(tiny({{"keep_rate", 1.0}})); }
}

TEST_CASE("tc_mgc options: k, parameters, and bad values named", "[tc_mgc]") {
  HeadConfig c = tiny();
  c.max_words = 32;
  c.options.erase("keep_rate");
  TcMgcHead head(c, HeadDims{D, 6});
  CHECK(head.options().k == 3);  // int(32 · 0.1)
  CHECK(head.params().attentive_word_logit_weight.shape() == Shape{3, 3});
  CHECK(head.params().concat_frame_word_logit_weight.shape() == Shape{4, 4});
  CHECK(head.params().logit_weight.shape() == Shape{4, 4});
  const auto names = head.named_parameters();
  CHECK(names[0].first == "global_mat_weight");
  CHECK(names[8].first == "logit_weight");
  CHECK(names[9].first == "conditional_transformer.pool_frames.linear_proj.weight");
  CHECK(names[17].first == "frame_position_embeddings.weight");
  CHECK(head.param_role("conditional_transformer.pool_frames.layer_norm1.weight").decay);
  CHECK_FALSE(head.param_role("conditional_transformer.pool_frames.layer_norm1.bias").decay);
  CHECK(head.param_role("logit_weight").after_gather);
  CHECK_FALSE(head.param_role("frame_position_embeddings.weight").after_gather);
  CHECK_FALSE(head.param_role("global_mat_weight").clip);
  CHECK_THROWS_WITH(head.param_role("word_logit_weight"), Catch::Contains("no parameter named"));
  CHECK(head.ignores_state_name("conditional_transformer.pool_frames.cross_attn.q_proj.weight"));
  CHECK(head.ignores_state_name("conditional_transformer.pool_frames.cross_attn.out_proj.bias"));
  CHECK_FALSE(head.ignores_state_name("conditional_transformer.pool_frames.linear_proj.weight"));

  const std::vector<std::pair<std::map<std::string, nlohmann::json>, const char*>> bad = {
      {{{"keep_rate", 0.1}}, "keep_rate"},  // int(5 · 0.1) = 0
      {{{"keep_rate", 1.5}}, "keep_rate"},
      {{{"softmax_lambda", 0.0}}, "softmax_lambda"},
      {{{"num_mha_heads", 3}}, "num_mha_heads"},
      {{{"transformer_dropout", 1.0}}, "transformer_dropout"},
      {{{"interaction_type", "1,5"}}, "interaction_type"},
      {{{"interaction_type", "1,1"}}, "interaction_type"},
      {{{"interaction_type", ""}}, "interaction_type"},
      {{{"interaction_type", "3"}}, "sdr_loss_flag"},
      {{{"lsa_init", "uniform"}}, "lsa_init"},
      {{{"conditional_flag", false}}, "conditional_flag"},
      {{{"sdr_loss_weight", -1.0}}, "sdr_loss_weight"},
      {{{"keep_rate", "a lot"}}, "keep_rate"},
  };
  for (const auto& [options, key] : bad) {
    INFO(key);
    CHECK_THROWS_WITH(TcMgcHead(tiny(options), HeadDims{D, 6}), Catch::Contains(key));
  }
  HeadConfig meanp = tiny();
  meanp.sim_header = "meanP";
  CHECK_THROWS_WITH(TcMgcHead(meanp, HeadDims{D, 6}), Catch::Contains("sim_header"));
}

TEST_CASE("tc_mgc interaction_type subsets and lsa_init zeros = the plain mean", "[tc_mgc]") {
  const Batch b = batch(B, B, 70);
  const Tensor logit_scale = Tensor::full(Shape{}, std::log(20.0), DType::f64);
  SECTION("one type given as a number (a command-line flag) is that subset") {
    TcMgcHead head(tiny({{"interaction_type", 4}, {"sdr_loss_flag", false}}), HeadDims{D, 6}, DType::f64);
    CHECK(head.options().interaction_type == std::vector<int>{4});
  }
  SECTION("a subset reports only its terms, in a [G, G] LSA") {
    TcMgcHead head(tiny({{"interaction_type", "2,4"}}), HeadDims{D, 6}, DType::f64);
    CHECK(head.params().logit_weight.shape() == Shape{2, 2});
    const HeadOutput out = head.forward({b.sentence, b.words, b.word_mask}, {b.frames, b.video_mask}, logit_scale);
    CHECK(out.find("logits.video_word"));
    CHECK(out.find("logits.frame_word"));
    CHECK_FALSE(out.find("logits.video_sentence"));
    CHECK_FALSE(out.find("logits.sentence_frame"));
    CHECK(out.find("loss.sdr"));
  }
  SECTION("zeros: S is the mean of the G terms") {
    TcMgcHead head(tiny({{"lsa_init", "zeros"}}), HeadDims{D, 6}, DType::f64);
    perturb(head.named_parameters(), 80);
    {
      NoGradGuard no_grad;
      head.parameter("logit_weight").copy_(Tensor::zeros(Shape{4, 4}, DType::f64));
    }
    const HeadOutput out = head.forward({b.sentence, b.words, b.word_mask}, {b.frames, b.video_mask}, logit_scale);
    Tensor sum = *out.find("logits.video_sentence");
    for (const char* t : {"logits.video_word", "logits.sentence_frame", "logits.frame_word"}) sum = ops::add(sum, *out.find(t));
    CHECK(max_abs_diff(out.logits, ops::scale(sum, 0.25)) < 1e-12);
    // SDR: α · mean over pairs of the unbiased variance of the four diagonal terms.
    double want = 0;
    for (int64_t t = 0; t < B; ++t) {
      std::vector<double> z;
      for (const char* n : {"logits.video_sentence", "logits.video_word", "logits.sentence_frame", "logits.frame_word"})
        z.push_back(out.find(n)->to_vector<double>()[size_t(t * B + t)]);
      const double mean = (z[0] + z[1] + z[2] + z[3]) / 4;
      double var = 0;
      for (double v : z) var += (v - mean) * (v - mean);
      want += 0.5 * var / 3 / double(B);
    }
    CHECK(out.extra_loss.item<double>() == Approx(want).epsilon(1e-12));
  }
}

TEST_CASE("tc_mgc dropout: training forward stochastic and reproducible from (seed, step), eval deterministic",
          "[tc_mgc]") {
  TcMgcHead head(tiny({{"transformer_dropout", 0.3}}), HeadDims{D, 6}, DType::f64);
  perturb(head.named_parameters(), 90);
  const Batch b = batch(B, B, 91);
  const Tensor logit_scale = Tensor::full(Shape{}, std::log(20.0), DType::f64);
  auto train_logits = [&](uint64_t seed, uint64_t step) {
    head.set_step_seed(seed, step);
    return head.forward({b.sentence, b.words, b.word_mask}, {b.frames, b.video_mask}, logit_scale).logits;
  };
  const Tensor a = train_logits(42, 7);
  CHECK(max_abs_diff(a, train_logits(42, 7)) == 0.0);
  CHECK(max_abs_diff(a, train_logits(42, 8)) > 1e-6);
  CHECK(max_abs_diff(a, train_logits(43, 7)) > 1e-6);
  const Tensor e1 = head.similarity_matrix({b.sentence, b.words, b.word_mask}, {b.frames, b.video_mask}, logit_scale);
  head.set_step_seed(1, 2);
  const Tensor e2 = head.similarity_matrix({b.sentence, b.words, b.word_mask}, {b.frames, b.video_mask}, logit_scale);
  CHECK(max_abs_diff(e1, e2) == 0.0);
  CHECK(max_abs_diff(e1, a) > 1e-6);  // the training forward did drop something
}

TEST_CASE("tc_mgc evaluation: similarity_matrix equals the training forward's logits (dropout off)", "[tc_mgc]") {
  const int64_t T = 5, V = 4;
  const Batch b = batch(T, V, 100);
  const Tensor logit_scale = Tensor::full(Shape{}, std::log(20.0), DType::f64);
  for (int64_t block : {int64_t(40), int64_t(2), int64_t(3)}) {
    for (int64_t budget : {int64_t(1) << 24, L * D, 2 * L * 2 * D}) {
      DYNAMIC_SECTION("batch_size_val " << block << " frame_word_chunk_elements " << budget) {
        HeadConfig c = tiny({{"sdr_loss_flag", false}});  // SDR needs a square batch
        c.batch_size_val = block;
        c.frame_word_chunk_elements = budget;
        TcMgcHead head(c, HeadDims{D, 6}, DType::f64);
        perturb(head.named_parameters(), 110);
        const Tensor train =
            head.forward({b.sentence, b.words, b.word_mask}, {b.frames, b.video_mask}, logit_scale).logits;
        const Tensor eval = head.similarity_matrix({b.sentence, b.words, b.word_mask}, {b.frames, b.video_mask}, logit_scale);
        REQUIRE(eval.shape() == Shape{T, V});
        CHECK(max_abs_diff(train, eval) < 1e-10);
      }
    }
  }
}

TEST_CASE("tc_mgc model: from JSON, and an official state's unused cross_attn projections are dropped on load",
          "[tc_mgc]") {
  const HeadConfig c = HeadConfig::from_json(nlohmann::json{{"model", "tc_mgc"}, {"max_words", 6}, {"max_frames", 3},
                                                            {"cross_num_hidden_layers", 2}, {"temporal_heads", 2},
                                                            {"keep_rate", 0.5}, {"interaction_type", "1,3"}});
  REQUIRE(c.head == "tc_mgc");
  CHECK(HeadConfig::from_json(c.to_json()).to_json() == c.to_json());
  RetrievalModel model(c, test::small_clip_config());
  Generator g(5);
  model.clip.init_random(g);
  CHECK(model.head.parameter("logit_weight").shape() == Shape{2, 2});
  nn::NamedTensorList state = model.state_dict();
  const int64_t width = test::small_clip_config().embed_dim;
  for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
    const std::string base = std::string("conditional_transformer.pool_frames.cross_attn.") + proj;
    state.emplace_back(base + ".weight", Tensor::zeros(Shape{width, width}));
    state.emplace_back(base + ".bias", Tensor::zeros(Shape{width}));
  }
  RetrievalModel other(c, test::small_clip_config());
  const LoadReport r = other.load_pretrained(state, true);  // strict: nothing unexpected, nothing missing
  CHECK(r.unexpected.empty());
  CHECK(r.missing.empty());
  CHECK(max_abs_diff(other.head.parameter("conditional_transformer.pool_frames.linear_proj.weight"),
                     model.head.parameter("conditional_transformer.pool_frames.linear_proj.weight")) == 0.0);
  state.emplace_back("conditional_transformer.pool_frames.cross_attn.extra", Tensor::zeros(Shape{1}));
  CHECK_THROWS_WITH(other.load_pretrained(state, true), Catch::Contains("cross_attn.extra"));
}

TEST_CASE("tc_mgc: data/configs/tc_mgc_msrvtt.json spells out the defaults", "[tc_mgc]") {
  std::ifstream in(test::source_root() / "data" / "configs" / "tc_mgc_msrvtt.json");
  const HeadConfig c = HeadConfig::from_json(nlohmann::json::parse(in));
  CHECK(c.head == "tc_mgc");
  const TcMgcOptions file = TcMgcOptions::from(c, 512), defaults = TcMgcOptions::from(tiny({}), 512);
  CHECK(file.k == 3);  // max_words 32 (the flag the README passes) · 0.1
  CHECK(file.sdr_loss_weight == 0.5);
  CHECK(file.softmax_lambda == 100);
  CHECK(file.transformer_dropout == 0.3);
  CHECK(file.interaction_type == std::vector<int>{1, 2, 3, 4});
  CHECK(file.lsa_init == "eye");
  CHECK_FALSE(file.lva_mask_frames);
  CHECK(file.num_mha_heads == defaults.num_mha_heads);
}
