// The --official_fp16 optimizer (BertAdamFp16) against PyTorch running the original BertAdam on
// fp16 parameters for 20 steps (bit-exact), the two fp16 regimes against float32 BertAdam, the
// fp16 global clip and the world-size gradient scale. The fixture was made by
//   /usr/bin/python3 tools/reference/optimizer_fp16_reference.py tests/fixtures/reference/optimizer_fp16.safetensors
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <map>

#include "models/small_model_util.hpp"
#include "test_util.hpp"
#include "xclip/io/safetensors.hpp"
#include "xclip/models/model.hpp"
#include "xclip/train/precision.hpp"

using namespace xclip;
using namespace xclip::train;

namespace {
const io::NamedTensors& fixture() {
  static io::NamedTensors t =
      io::load_safetensors((test::source_root() / "tests/fixtures/reference/optimizer_fp16.safetensors").string());
  return t;
}

const char* kNames[] = {"clip.small.w", "clip.large.w", "clip.mixed.w", "clip.mixed.bias", "clip.frozen.w", "head.w"};
constexpr int kSteps = 20;

float h(double x) { return f16_to_float(float_to_f16(float(x))); }  // nearest fp16 value
bool fp16_name(const std::string& n) { return n.starts_with("clip."); }

struct Problem {
  std::map<std::string, Tensor> params;
  std::vector<ParamGroup> groups;
};

// The fp16 parameters are held as the model holds them: f32 tensors with fp16 values (or, with
// `f16_storage`, f16 tensors). The original's groups: decay ("bias" substring) × clip.
Problem make_problem(double lr_clip, double lr_head, bool f16_storage = false) {
  Problem p;
  for (const char* n : kNames) {
    const Tensor& init = fixture().at(std::string("init.") + n);
    Tensor t = init.to(fp16_name(n) && !f16_storage ? DType::f32 : init.dtype()).clone();
    t.set_requires_grad(true).set_name(n);
    p.params[n] = t;
  }
  auto pick = [&](bool clip, bool decay) {
    std::vector<Tensor> out;
    for (const char* n : kNames) {
      std::string s = n;
      if (fp16_name(s) == clip && (s.find("bias") == std::string::npos) == decay) out.push_back(p.params[s]);
    }
    return out;
  };
  p.groups = {{"decay_clip", pick(true, true), lr_clip, 0.2},
              {"decay_other", pick(false, true), lr_head, 0.2},
              {"no_decay_clip", pick(true, false), lr_clip, 0.0},
              {"no_decay_other", pick(false, false), lr_head, 0.0}};
  return p;
}

void feed_gradients(Problem& p, int step) {
  for (auto& [name, t] : p.params) {
    const Tensor* g = fixture().find("grad." + std::to_string(step) + "." + name);
    if (g)
      t.set_grad(g->to(DType::f32));  // our autograd's f32 gradient; the optimizer rounds it to fp16
    else
      t.zero_grad();
  }
}

// Number of elements whose fp16 bits differ (NaN never expected here).
int fp16_mismatches(const Tensor& ours, const Tensor& theirs) {
  auto a = ours.to_vector<float>(), b = theirs.to_vector<float>();
  REQUIRE(a.size() == b.size());
  int bad = 0;
  for (size_t i = 0; i < a.size(); ++i) bad += float_to_f16(a[i]).bits != float_to_f16(b[i]).bits;
  return bad;
}

double max_rel_error(const Tensor& ours, const Tensor& theirs) {
  auto a = ours.to_vector<double>(), b = theirs.to_vector<double>();
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]) / std::max(std::abs(b[i]), 1e-12));
  return worst;
}

void run_variant(const std::string& variant, double lr_clip, double lr_head, double t_total, Schedule schedule,
                 bool f16_storage) {
  Problem p = make_problem(lr_clip, lr_head, f16_storage);
  BertAdamOptions o;
  o.t_total = t_total;
  o.schedule = schedule;
  o.warmup = 0.1;
  BertAdamFp16 opt(p.groups, o, fp16_name);
  REQUIRE(opt.num_fp16_parameters() == 5);
  for (int step = 0; step < kSteps; ++step) {
    feed_gradients(p, step);
    opt.step();
    for (auto& [name, t] : p.params) {
      const Tensor& ref = fixture().at(variant + ".step" + std::to_string(step + 1) + "." + name);
      INFO(variant << " after step " << step + 1 << ": " << name);
      if (fp16_name(name)) {
        CHECK(t.dtype() == (f16_storage ? DType::f16 : DType::f32));
        REQUIRE(fp16_mismatches(t, ref) == 0);  // bit-exact, every step
      } else {
        REQUIRE(max_rel_error(t, ref) < 1e-6);  // fp32 BertAdam (torch's f32 add_ may fuse to an FMA)
      }
    }
  }
  // Final moments: fp16 tensors equal bit for bit.
  for (size_t gi = 0; gi < opt.fp16_groups().size(); ++gi)
    for (size_t pi = 0; pi < opt.fp16_groups()[gi].params.size(); ++pi) {
      const std::string name = opt.fp16_groups()[gi].params[pi].name();
      const OptimizerState& st = opt.fp16_state()[gi][pi];
      INFO(variant << " moments of " << name);
      if (name == "clip.frozen.w") {
        CHECK_FALSE(st.m.defined());  // never had a gradient: no state, as the original
        continue;
      }
      CHECK(st.m.dtype() == DType::f16);
      CHECK(st.step == kSteps);
      CHECK(fp16_mismatches(st.m, fixture().at(variant + ".final_m." + name)) == 0);
      CHECK(fp16_mismatches(st.v, fixture().at(variant + ".final_v." + name)) == 0);
    }
  CHECK(fp16_mismatches(p.params["clip.frozen.w"], fixture().at("init.clip.frozen.w")) == 0);
}
}  // namespace

TEST_CASE("BertAdamFp16 matches PyTorch's BertAdam on fp16 parameters bit for bit", "[fp16][optimizer][reference]") {
  // The fixture exercises both regimes and the per-parameter clip: check it does.
  auto norm = [](const Tensor& t) {
    double s = 0;
    for (double x : t.to_vector<double>()) s += x * x;
    return std::sqrt(s);
  };
  REQUIRE(norm(fixture().at("grad.3.clip.large.w")) > 1.0);
  for (float v : fixture().at("official.final_v.clip.small.w").to_vector<float>()) REQUIRE(v == 0.0f);

  SECTION("official: CLIP lr 1e-7, warmup_cosine") {
    run_variant("official", 1e-7, 1e-4, 20, Schedule::warmup_cosine, false);
  }
  SECTION("lr 1e-3, warmup_linear") { run_variant("lr1e-3", 1e-3, 1e-2, 20, Schedule::warmup_linear, false); }
  SECTION("constant lr 1e-5") { run_variant("constant", 1e-5, 1e-3, -1, Schedule::warmup_cosine, false); }
  SECTION("official, parameters stored as f16 tensors") {
    run_variant("official", 1e-7, 1e-4, 20, Schedule::warmup_cosine, true);
  }
}

TEST_CASE("at the CLIP lr 1e-7 fp16 moves small-gradient weights far more than float32 Adam",
          "[fp16][optimizer][reference]") {
  // The fixture's official run, against float32 BertAdam on the same values and gradients.
  Problem p = make_problem(1e-7, 1e-4);
  std::vector<ParamGroup> f32_groups;
  std::map<std::string, Tensor> f32_params;
  for (const ParamGroup& g : p.groups) {
    ParamGroup copy{g.name, {}, g.lr, g.weight_decay};
    for (const Tensor& t : g.params) {
      Tensor c = t.to(DType::f32).clone();
      c.set_requires_grad(true).set_name(t.name());
      f32_params[t.name()] = c;
      copy.params.push_back(c);
    }
    f32_groups.push_back(copy);
  }
  BertAdamOptions o;
  o.t_total = 20;
  BertAdam f32(f32_groups, o);
  for (int step = 0; step < kSteps; ++step) {
    for (auto& [name, t] : f32_params) {
      const Tensor* g = fixture().find("grad." + std::to_string(step) + "." + name);
      if (g) t.set_grad(g->to(DType::f32)); else t.zero_grad();
    }
    f32.step();
  }
  auto max_change = [](const Tensor& before, const Tensor& after) {
    auto a = before.to_vector<double>(), b = after.to_vector<double>();
    double m = 0;
    for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
    return m;
  };
  const Tensor& init = fixture().at("init.clip.small.w");
  const double moved16 = max_change(init, fixture().at("official.step20.clip.small.w"));
  const double moved32 = max_change(init, f32_params["clip.small.w"]);
  // |g| ~ 1e-4: v == 0, steps fp16(lr_t)·m/1.0133e-6 ≈ 0.06–0.12·m; Adam's steps are ≲ lr_t.
  CHECK(moved32 < 2e-6);
  CHECK(moved16 > 10 * moved32);
  // |g| ~ 0.05 (v representable, u = O(1)): a step ~1e-7 is lost to rounding at |w| ~ 0.02 and
  // kept only where |w| < 2.4e-4 (row 0 of clip.large.w was scaled down for that).
  const auto before = fixture().at("init.clip.large.w").to_vector<float>();
  const auto after = fixture().at("official.step20.clip.large.w").to_vector<float>();
  for (size_t i = 0; i < before.size(); ++i) {
    INFO("clip.large.w element " << i << " = " << before[i]);
    CHECK((before[i] != after[i]) == (std::abs(before[i]) < 2.4e-4f));
  }
}

namespace {
// One parameter of zeros (so the step is the update itself, without rounding against |w|),
// gradient g per element, `steps` steps at constant lr, no decay; returns the parameter values
// and the final second moment.
struct Run {
  std::vector<float> p, v;
};
Run run_single(bool fp16, const std::vector<float>& g, double lr, int steps) {
  Tensor w = Tensor::zeros(Shape{int64_t(g.size())}, DType::f32);
  w.set_requires_grad(true).set_name("clip.visual.proj");  // an official fp16 name
  BertAdamOptions o;
  o.t_total = -1;
  std::vector<ParamGroup> groups = {{"clip", {w}, lr, 0.0}};
  Run out;
  if (fp16) {
    BertAdamFp16 opt(groups, o);
    REQUIRE(opt.num_fp16_parameters() == 1);
    for (int s = 0; s < steps; ++s) {
      w.set_grad(Tensor::from_vector<float>(g, w.shape()));
      opt.step();
    }
    out.v = opt.fp16_state()[0][0].v.to_vector<float>();
  } else {
    BertAdam opt(groups, o);
    for (int s = 0; s < steps; ++s) {
      w.set_grad(Tensor::from_vector<float>(g, w.shape()));
      opt.step();
    }
    out.v = opt.state()[0][0].v.to_vector<float>();
  }
  out.p = w.to_vector<float>();
  return out;
}
}  // namespace

TEST_CASE("fp16 BertAdam: small gradients turn Adam into momentum SGD at lr·m/eps", "[fp16][optimizer]") {
  // |g| < 1.2e-3: 0.02·g² rounds to 0 in fp16, v stays 0 and u = m / fp16(1e-6).
  const std::vector<float> g = {h(1e-5), h(-1e-4), h(5e-4), h(1.1e-3)};
  const double lr = 1e-4;
  Run f16 = run_single(true, g, lr, 1);
  Run f32 = run_single(false, g, lr, 1);
  const double eps16 = h(1e-6), lr16 = h(lr);
  CHECK(eps16 == std::ldexp(17.0, -24));  // 1.0133e-6: the subnormal eps of the original
  for (size_t i = 0; i < g.size(); ++i) {
    INFO("g = " << g[i]);
    CHECK(f16.v[i] == 0.0f);
    CHECK(f32.v[i] > 0.0f);
    const double m = h(double(h(0.1)) * g[i]);  // first step: m = fp16(0.1)·g
    // fp16: step = fp16(lr)·m/fp16(eps), up to the two roundings of u and of the step.
    CHECK(-f16.p[i] == Approx(lr16 * m / eps16).epsilon(2e-3));
    // f32 Adam: 0.1 g / (sqrt(0.02)|g| + 1e-6), about 0.7·lr·sign(g) for |g| >> 1e-5.
    const double u32 = 0.1 * g[i] / (std::sqrt(0.02) * std::abs(g[i]) + 1e-6);
    CHECK(-f32.p[i] == Approx(lr * u32).epsilon(1e-5));
  }
  // The step ratio fp16 / f32 ≈ (fp16(lr)/lr)·(sqrt(0.02)|g| + 1e-6)/fp16(eps): 2.41 at |g| = 1e-5,
  // 14.96 at 1e-4, 70.8 at 5e-4, 154.4 at 1.1e-3 (lr 1e-4: fp16(lr) = 1.00017e-4).
  const double expected[] = {2.413, 14.96, 70.80, 154.4};
  for (size_t i = 0; i < g.size(); ++i) CHECK(f16.p[i] / f32.p[i] == Approx(expected[i]).epsilon(1e-2));
}

TEST_CASE("fp16 BertAdam: v stays 0 over steps and the step follows the momentum", "[fp16][optimizer]") {
  const std::vector<float> g = {h(2e-4), h(-8e-4)};
  Run f16 = run_single(true, g, 1e-4, 6);
  // m_k = 1 − 0.9^k of 0.1·g (in fp16), v_k = 0: p = −Σ_k fp16(lr)·m_k/fp16(eps).
  for (size_t i = 0; i < g.size(); ++i) {
    double m = 0, p = 0;
    for (int k = 0; k < 6; ++k) {
      m = 0.9 * m + 0.1 * g[i];
      p -= double(h(1e-4)) * m / double(h(1e-6));
    }
    CHECK(f16.v[i] == 0.0f);
    CHECK(f16.p[i] == Approx(p).epsilon(5e-3));
  }
}

TEST_CASE("fp16 BertAdam: large gradients give the float32 update up to fp16 rounding", "[fp16][optimizer]") {
  // v is a normal fp16 number once 0.02·g² ≥ 2^-14, i.e. |g| ≳ 0.055; below that it is subnormal
  // with fewer bits (g = 0.01: v ≈ 2e-6 = 34 units of 2^-24; g = 2e-3: v ≈ 1–2 units), and
  // sqrt(v) is correspondingly coarse.
  const std::vector<float> g = {h(0.07), h(-0.3), h(1.5), h(0.01), h(2e-3)};
  const double tolerance[] = {4e-3, 4e-3, 4e-3, 3e-2, 0.25};
  const double lr = 1e-2;
  Run f16 = run_single(true, g, lr, 3);
  Run f32 = run_single(false, g, lr, 3);
  for (size_t i = 0; i < g.size(); ++i) {
    INFO("g = " << g[i]);
    CHECK(f16.v[i] > 0.0f);
    // u ≈ 0.707·sign(g) per step in both; fp16 rounds each op (rel. 2^-11) and lr (1e-2 → 0.0100021).
    CHECK(f16.p[i] == Approx(f32.p[i]).epsilon(tolerance[i]));
    CHECK(std::abs(f16.p[i]) > 0.02f);
  }
  // The smallest still sees the coarse v: its update is off by more than fp16 rounding alone.
  CHECK(std::abs(f16.p[4] / f32.p[4] - 1) > 0.01);
}

TEST_CASE("fp16 BertAdam: the CLIP lr 1e-7 is itself rounded to fp16", "[fp16][optimizer]") {
  // lr_scheduled * update multiplies by fp16(lr_t): 1e-7 → 2·2^-24 = 1.19e-7, and schedule factors
  // below 0.298 (lr_t < 2^-25) give no step at all.
  CHECK(double(h(1e-7)) == std::ldexp(1.0, -23));
  const std::vector<float> g = {h(1e-4)};
  Run full = run_single(true, g, 1e-7, 1);
  const double u = h(double(h(h(0.1) * g[0])) / double(h(1e-6)));
  // The step fp16(1.19e-7 · 9.88) = 20·2^-24 = 1.19e-6 (a subnormal), where f32 lr 1e-7 gives 0.99e-6.
  CHECK(-full.p[0] == h(std::ldexp(1.0, -23) * u));
  CHECK(-full.p[0] == float(std::ldexp(20.0, -24)));
  Run tiny = run_single(true, g, 2.5e-8, 1);
  CHECK(tiny.p[0] == 0.0f);
}

TEST_CASE("BertAdamFp16 keeps fp32 parameters on float32 BertAdam and checks its inputs", "[fp16][optimizer]") {
  Tensor w16 = Tensor::from_vector<float>({h(0.25), h(-0.5)}, Shape{2});
  Tensor w32 = Tensor::from_vector<float>({0.1f, 0.2f}, Shape{2});
  Tensor ref = w32.clone();
  w16.set_requires_grad(true).set_name("clip.transformer.resblocks.0.mlp.c_fc.weight");
  w32.set_requires_grad(true).set_name("clip.ln_final.weight");
  ref.set_requires_grad(true).set_name("clip.ln_final.weight");
  BertAdamFp16 opt({{"g", {w16, w32}, 1e-2, 0.2}}, BertAdamOptions{});
  BertAdam plain({{"g", {ref}, 1e-2, 0.2}}, BertAdamOptions{});
  CHECK(opt.num_fp16_parameters() == 1);
  for (Tensor* t : {&w16, &w32, &ref}) t->set_grad(Tensor::from_vector<float>({0.3f, -0.1f}, Shape{2}));
  opt.step();
  plain.step();
  CHECK(w32.to_vector<float>() == ref.to_vector<float>());
  for (float x : w16.to_vector<float>()) CHECK(h(x) == x);  // stays exactly fp16
  opt.zero_grad();
  CHECK_FALSE(w16.grad().defined());
  CHECK_FALSE(w32.grad().defined());

  Tensor unrounded = Tensor::from_vector<float>({0.1f}, Shape{1});
  unrounded.set_requires_grad(true).set_name("clip.visual.proj");
  CHECK_THROWS_WITH(BertAdamFp16({{"g", {unrounded}, 1e-2, 0.0}}, BertAdamOptions{}),
                    Catch::Contains("not an fp16 value"));
  Tensor unnamed = Tensor::zeros(Shape{1});
  unnamed.set_requires_grad(true);
  CHECK_THROWS_WITH(BertAdamFp16({{"g", {unnamed}, 1e-2, 0.0}}, BertAdamOptions{}), Catch::Contains("has no name"));
}

TEST_CASE("is_official_fp16_name selects what convert_weights makes fp16", "[fp16]") {
  CHECK(is_official_fp16_name("clip.visual.conv1.weight"));
  CHECK(is_official_fp16_name("clip.visual.transformer.resblocks.11.attn.in_proj_weight"));
  CHECK(is_official_fp16_name("clip.transformer.resblocks.0.mlp.c_proj.bias"));
  CHECK(is_official_fp16_name("clip.text_projection"));
  CHECK_FALSE(is_official_fp16_name("clip.ln_final.weight"));
  CHECK_FALSE(is_official_fp16_name("clip.token_embedding.weight"));
  CHECK_FALSE(is_official_fp16_name("clip.logit_scale"));
  CHECK_FALSE(is_official_fp16_name("visual.proj"));  // needs the clip. prefix
  CHECK_FALSE(is_official_fp16_name("transformerClip.resblocks.0.attn.in_proj_weight"));
}

TEST_CASE("clip_grad_norm_official_fp16: fp16 norms, f32 total, fp16-rounded scaling", "[fp16][clip]") {
  Tensor a = Tensor::zeros(Shape{2}, DType::f32), b = Tensor::zeros(Shape{1}, DType::f32);
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  a.set_grad(Tensor::from_vector<float>({3.0f, 4.0f}, Shape{2}));  // fp16 grad, norm 5
  b.set_grad(Tensor::from_vector<float>({12.0f}, Shape{1}));       // fp32 grad
  nn::NamedTensorList params = {{"clip.visual.proj", a}, {"clip.ln_final.weight", b}};
  CHECK(clip_grad_norm_official_fp16(params, 1.0) == Approx(13.0));
  const float coef = 1.0f / (13.0f + 1e-6f);
  CHECK(b.grad().to_vector<float>()[0] == 12.0f * coef);
  // fp16: the coefficient becomes fp16(0.0769231) = 0.07690430, the product is rounded again.
  CHECK(double(h(coef)) == Approx(0.0769043).epsilon(1e-6));
  CHECK(a.grad().to_vector<float>() == std::vector<float>{h(3.0f * h(coef)), h(4.0f * h(coef))});
  CHECK(a.grad().to_vector<float>()[1] != 4.0f * coef);
  // Below the limit: nothing changes.
  CHECK(clip_grad_norm_official_fp16(params, 10.0) == Approx(1.0).epsilon(2e-3));
  CHECK(b.grad().to_vector<float>()[0] == 12.0f * coef);
}

namespace {
// The small X-CLIP (1 vision and 3 text layers), CLIP initialised at random (rounded to fp16
// values in the official regime).
std::unique_ptr<models::RetrievalModel> gather_test_model(models::ClipPrecision precision, Generator& gen) {
  auto model = std::make_unique<models::RetrievalModel>(test::small_head_config(), test::small_clip_config(), precision);
  model->clip.init_random(gen);
  if (precision == models::ClipPrecision::official_fp16) model->clip.round_official_fp16_parameters();
  return model;
}
}  // namespace

TEST_CASE("scale_pre_gather_gradients divides what precedes the all-gather by world_size", "[fp16][gather]") {
  const std::vector<std::string> after = {"clip.logit_scale",  "global_mat_weight", "word_logit_weight",
                                          "frame_logit_weight", "local_mat_weight",  "frame_mat_weight",
                                          "word_mat_weight",    "frame_mat_weight2", "word_mat_weight2"};
  const float g0 = 0.3f, sub = float(std::ldexp(3.0, -24));  // sub: an fp16 subnormal
  auto with_gradients = [&](models::RetrievalModel& model) {
    for (auto& [n, p] : model.named_parameters()) {
      if (n == "transformerClip.resblocks.1.ln_2.bias") continue;  // one parameter without a gradient
      Tensor g = Tensor::full(p.shape(), g0);
      g.data<float>()[0] = sub;
      Tensor t = p;
      t.set_grad(g);
    }
  };
  auto first_two = [](const Tensor& g) {
    const std::vector<float> v = g.to_vector<float>();
    return std::vector<float>{v[0], v[1]};
  };
  Generator gen(5);

  SECTION("fp32 gradients, world size 4: the encoders divided, the matrices and logit_scale not") {
    auto model = gather_test_model(models::ClipPrecision::f32, gen);
    with_gradients(*model);
    for (const auto& n : after) CHECK(model->param_role(n).after_gather);
    CHECK_FALSE(model->param_role("clip.visual.conv1.weight").after_gather);
    CHECK_FALSE(model->param_role("transformerClip.resblocks.0.attn.in_proj_weight").after_gather);
    CHECK_FALSE(model->param_role("frame_position_embeddings.weight").after_gather);
    CHECK_THROWS_WITH(model->param_role("head.w"), Catch::Contains("head.w"));
    scale_pre_gather_gradients(*model, 4);
    for (auto& [n, t] : model->named_parameters()) {
      INFO(n);
      if (n == "transformerClip.resblocks.1.ln_2.bias") {
        CHECK_FALSE(t.grad().defined());
        continue;
      }
      const float k = model->param_role(n).after_gather ? 1.0f : 4.0f;
      if (t.numel() == 1)  // clip.logit_scale: only the subnormal
        CHECK(t.grad().to_vector<float>() == std::vector<float>{sub / k});
      else
        CHECK(first_two(t.grad()) == std::vector<float>{sub / k, g0 / k});
    }
  }
  SECTION("official fp16, world size 8: fp16 gradients are divided in fp16") {
    auto model = gather_test_model(models::ClipPrecision::official_fp16, gen);
    with_gradients(*model);
    scale_pre_gather_gradients(*model, 8);
    // clip.visual.conv1.weight is fp16: 0.3 → fp16(0.3)/8, and 3·2^-24/8 = 0.375·2^-24 rounds to 0.
    CHECK(first_two(model->parameter("clip.visual.conv1.weight").grad()) == std::vector<float>{0.0f, h(0.3) / 8});
    // clip.ln_final.weight is fp32: exact division.
    CHECK(first_two(model->parameter("clip.ln_final.weight").grad()) == std::vector<float>{sub / 8, g0 / 8});
    CHECK(model->parameter("clip.logit_scale").grad().to_vector<float>() == std::vector<float>{sub});  // after
  }
  SECTION("world size 1 is the identity; bad sizes throw") {
    auto model = gather_test_model(models::ClipPrecision::f32, gen);
    with_gradients(*model);
    scale_pre_gather_gradients(*model, 1);
    CHECK(first_two(model->parameter("clip.visual.conv1.weight").grad()) == std::vector<float>{sub, g0});
    CHECK_THROWS_WITH(scale_pre_gather_gradients(*model, 0), Catch::Contains("world_size"));
  }
}

TEST_CASE("the X-CLIP model's parameters: gather sides, fp16 set, one official fp16 step", "[fp16][gather]") {
  Generator gen(5);
  const auto built = gather_test_model(models::ClipPrecision::official_fp16, gen);
  models::RetrievalModel& model = *built;

  std::vector<std::string> after;
  int fp16 = 0, before = 0;
  for (const auto& [name, p] : model.named_parameters()) {
    if (model.param_role(name).after_gather)
      after.push_back(name);
    else
      ++before;
    fp16 += model.param_role(name).fp16;
    CHECK(model.param_role(name).fp16 == is_official_fp16_name(name));
  }
  std::sort(after.begin(), after.end());
  CHECK(after == std::vector<std::string>{"clip.logit_scale", "frame_logit_weight", "frame_mat_weight",
                                          "frame_mat_weight2", "global_mat_weight", "local_mat_weight",
                                          "word_logit_weight", "word_mat_weight", "word_mat_weight2"});
  CHECK(before > 0);
  // conv1, visual.proj, text_projection + 8 per residual block (1 vision, 3 text layers).
  CHECK(fp16 == 3 + 8 * 4);

  // One step of the trainer's sequence on random gradients: the fp16 weights stay fp16 values.
  std::vector<Tensor> all;
  for (auto& [name, p] : model.named_parameters()) {
    Tensor t = p;
    t.set_grad(Tensor::randn(p.shape(), gen, DType::f32, 0.0, 1e-3));
    all.push_back(t);
  }
  BertAdamOptions o;
  o.t_total = 10;
  // The tensors' own names are not the official ones here (the Clip submodule named them first,
  // without "clip."): the names come from the list.
  BertAdamFp16 opt({{"all", all, 1e-4, 0.2}}, o, model.named_parameters());
  CHECK(opt.num_fp16_parameters() == fp16);
  std::vector<Tensor> fp16_before;
  for (const auto& [name, p] : model.named_parameters())
    if (is_official_fp16_name(name)) fp16_before.push_back(p.clone());
  scale_pre_gather_gradients(model, 4);
  clip_global_grad_norm(model, 1.0);
  opt.step();
  opt.step();
  size_t k = 0, changed = 0;
  for (const auto& [name, p] : model.named_parameters())
    if (is_official_fp16_name(name)) {
      for (float x : p.to_vector<float>()) REQUIRE(h(x) == x);
      changed += p.to_vector<float>() != fp16_before[k++].to_vector<float>();
    }
  CHECK(changed > 0);  // |g| ~ 2.5e-4 after the scale: momentum-SGD steps that survive rounding
}
