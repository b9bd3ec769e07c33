// BertAdam (as the original optimization.py) and AdamW (as torch.optim.AdamW) against a PyTorch
// run of the same update rules for 20 steps in float64, with the training loop's global clipping:
//   /usr/bin/python3 tools/reference/optimizer_reference.py tests/fixtures/reference/optimizer.safetensors
#include <catch2/catch.hpp>
#include <cmath>
#include <map>

#include "test_util.hpp"
#include "xclip/io/safetensors.hpp"
#include "xclip/train/optimizer.hpp"

using namespace xclip;
using namespace xclip::train;

namespace {
const io::NamedTensors& fixture() {
  static io::NamedTensors t =
      io::load_safetensors((test::source_root() / "tests/fixtures/reference/optimizer.safetensors").string());
  return t;
}

const char* kNames[] = {"clip.w", "clip.bias", "head.w", "head.bias", "frozen.w"};

struct Problem {
  std::map<std::string, Tensor> params;
  std::vector<ParamGroup> groups;
};

// The original's four groups: decay/no-decay ("bias" substring) × clip/other, lr 1e-2 / 5e-2.
Problem make_problem() {
  Problem p;
  for (const char* n : kNames) {
    Tensor t = fixture().at(std::string("init.") + n).clone();
    t.set_requires_grad(true).set_name(n);
    p.params[n] = t;
  }
  auto pick = [&](bool clip, bool decay) {
    std::vector<Tensor> out;
    for (const char* n : kNames) {
      std::string s = n;
      if (s.starts_with("clip.") == clip && (s.find("bias") == std::string::npos) == decay)
        out.push_back(p.params[s]);
    }
    return out;
  };
  p.groups = {{"decay_clip", pick(true, true), 1e-2, 0.2},
              {"decay_other", pick(false, true), 5e-2, 0.2},
              {"no_decay_clip", pick(true, false), 1e-2, 0.0},
              {"no_decay_other", pick(false, false), 5e-2, 0.0}};
  return p;
}

double max_rel_error(const Tensor& ours, const Tensor& theirs) {
  auto a = ours.to_vector<double>(), b = theirs.to_vector<double>();
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::abs(a[i] - b[i]) / std::max(std::abs(b[i]), 1e-12));
  return worst;
}

template <class Opt>
void run_and_compare(const std::string& variant, Problem& p, Opt& opt) {
  for (int step = 0; step < 20; ++step) {
    std::vector<Tensor> all;
    for (auto& [name, t] : p.params) {
      std::string key = "grad." + std::to_string(step) + "." + name;
      if (fixture().find(key)) {
        t.set_grad(fixture().at(key).clone());
      } else {
        t.zero_grad();
      }
      all.push_back(t);
    }
    clip_grad_norm(all, 1.0);
    opt.step();
    if (step == 0)
      for (auto& [name, t] : p.params) {
        INFO(variant << " after step 1: " << name);
        CHECK(max_rel_error(t, fixture().at(variant + ".step1." + name)) < 1e-6);
      }
  }
  for (auto& [name, t] : p.params) {
    const double err = max_rel_error(t, fixture().at(variant + ".final." + name));
    INFO(variant << " after 20 steps: " << name << " max relative error " << err);
    CHECK(err < 1e-6);
  }
  CHECK(p.params["frozen.w"].to_vector<double>() == fixture().at("init.frozen.w").to_vector<double>());
}
}  // namespace

TEST_CASE("BertAdam follows the original for 20 steps with each schedule", "[optimizer][reference]") {
  for (std::string sched : {"warmup_cosine", "warmup_linear", "warmup_constant", "constant_lr"}) {
    DYNAMIC_SECTION(sched) {
      Problem p = make_problem();
      BertAdamOptions o;
      o.warmup = 0.1;
      if (sched == "constant_lr") {
        o.t_total = -1;
      } else {
        o.t_total = 20;
        o.schedule = schedule_from_name(sched);
      }
      BertAdam opt(p.groups, o);
      run_and_compare("bert_" + sched, p, opt);
    }
  }
}

TEST_CASE("AdamW follows torch.optim.AdamW for 20 steps under warmup_cosine", "[optimizer][reference]") {
  Problem p = make_problem();
  AdamWOptions o;
  o.t_total = 20;
  o.warmup = 0.1;
  o.schedule = Schedule::warmup_cosine;
  AdamW opt(p.groups, o);
  run_and_compare("adamw_warmup_cosine", p, opt);
}

TEST_CASE("schedules are the original's functions", "[optimizer][schedule]") {
  CHECK(schedule_factor(Schedule::warmup_cosine, 0.0, 0.1) == 0.0);  // first step: lr 0
  CHECK(schedule_factor(Schedule::warmup_cosine, 0.05, 0.1) == Approx(0.5));
  // Cosine of the global progress: jumps from ~1 to 0.976 at the end of warm-up.
  CHECK(schedule_factor(Schedule::warmup_cosine, 0.1, 0.1) == Approx(0.5 * (1 + std::cos(M_PI * 0.1))));
  CHECK(schedule_factor(Schedule::warmup_cosine, 1.0, 0.1) == Approx(0.0).margin(1e-15));
  CHECK(schedule_factor(Schedule::warmup_linear, 0.55, 0.1) == Approx(0.5));
  CHECK(schedule_factor(Schedule::warmup_linear, 1.5, 0.1) == 0.0);
  CHECK(schedule_factor(Schedule::warmup_constant, 0.7, 0.1) == 1.0);
  CHECK_THROWS_WITH(schedule_from_name("cosine"), Catch::Contains("unknown schedule 'cosine'"));
}

TEST_CASE("clip_grad_norm scales every gradient by max_norm / (total + 1e-6)", "[optimizer][clip]") {
  Tensor a = Tensor::from_vector<double>({3, 0}, Shape{2}), b = Tensor::from_vector<double>({0, 4}, Shape{2});
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  a.set_grad(Tensor::from_vector<double>({3, 0}, Shape{2}));
  b.set_grad(Tensor::from_vector<double>({0, 4}, Shape{2}));
  CHECK(clip_grad_norm({a, b}, 1.0) == Approx(5.0));
  CHECK(a.grad().to_vector<double>()[0] == Approx(3.0 / (5.0 + 1e-6)).epsilon(1e-14));
  CHECK(b.grad().to_vector<double>()[1] == Approx(4.0 / (5.0 + 1e-6)).epsilon(1e-14));
  // Below the limit: unchanged.
  CHECK(clip_grad_norm({a, b}, 10.0) == Approx(1.0).epsilon(1e-5));
}

TEST_CASE("BertAdam skips parameters without gradients and rejects bad options", "[optimizer][errors]") {
  Tensor p = Tensor::ones(Shape{2}, DType::f32);
  p.set_requires_grad(true);
  BertAdam opt({{"g", {p}, 0.1, 0.0}}, BertAdamOptions{});
  opt.step();
  CHECK(p.to_vector<float>() == std::vector<float>{1, 1});
  BertAdamOptions bad;
  bad.t_total = 0;
  CHECK_THROWS_WITH(BertAdam({{"g", {p}, 0.1, 0.0}}, bad), Catch::Contains("t_total"));
  Tensor ints = Tensor::ones(Shape{2}, DType::i64);
  CHECK_THROWS_WITH(BertAdam({{"g", {ints}, 0.1, 0.0}}, BertAdamOptions{}), Catch::Contains("i64"));
}

namespace {
// One step of `opt` with the fixture's first gradients.
template <class Opt>
void step_once(Problem& p, Opt& opt) {
  for (auto& [name, t] : p.params)
    if (const Tensor* g = fixture().find("grad.0." + name)) t.set_grad(g->clone());
  opt.step();
}

void expect_same_params(Problem& p, Problem& q) {
  for (auto& [name, t] : p.params) CHECK(t.to_vector<double>() == q.params[name].to_vector<double>());
}

template <class Opt>
void check_to_cpu_keeps_state(Opt& opt, Problem& p, Opt& twin, Problem& q) {
  step_once(p, opt);
  step_once(q, twin);
  const Tensor m_before = opt.state()[0][0].m;
  const std::vector<double> m_values = m_before.template to_vector<double>();
  opt.to(Device::cpu);
  CHECK(opt.state()[0][0].m.is_same(m_before));  // already there: nothing copied
  CHECK(opt.state()[0][0].m.template to_vector<double>() == m_values);
  CHECK(opt.state()[0][0].step == 1);
  step_once(p, opt);
  step_once(q, twin);
  expect_same_params(p, q);
}
}  // namespace

TEST_CASE("optimizer.to(cpu) on CPU state is a no-op that keeps values and steps", "[optimizer][device]") {
  SECTION("BertAdam") {
    Problem p = make_problem(), q = make_problem();
    BertAdam opt(p.groups, BertAdamOptions{}), twin(q.groups, BertAdamOptions{});
    check_to_cpu_keeps_state(opt, p, twin, q);
  }
  SECTION("AdamW") {
    Problem p = make_problem(), q = make_problem();
    AdamW opt(p.groups, AdamWOptions{}), twin(q.groups, AdamWOptions{});
    check_to_cpu_keeps_state(opt, p, twin, q);
  }
}

TEST_CASE("a step refuses optimizer state that does not fit its parameter, naming it", "[optimizer][errors]") {
  Problem p = make_problem();
  BertAdam bert(p.groups, BertAdamOptions{});
  AdamW adamw(p.groups, AdamWOptions{});
  step_once(p, bert);
  step_once(p, adamw);
  // decay_clip holds clip.w first; a moment of another shape, then of another dtype.
  bert.state()[0][0].m = Tensor::zeros(Shape{1}, DType::f64);
  CHECK_THROWS_WITH(bert.step(), Catch::Contains("BertAdam") && Catch::Contains("clip.w") &&
                                     Catch::Contains("does not fit"));
  adamw.state()[0][0].v = adamw.state()[0][0].v.to(DType::f32);
  CHECK_THROWS_WITH(adamw.step(), Catch::Contains("AdamW") && Catch::Contains("clip.w"));
  adamw.state()[0][0].v = Tensor();
  CHECK_THROWS_WITH(adamw.step(), Catch::Contains("only one of its moments"));
}
