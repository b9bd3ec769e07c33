// The model on the GPU: every committed reference bundle passes verify on CUDA (forward, loss,
// evaluation path, every gradient), Module::to moves every parameter and the references to them,
// and ten BertAdam / AdamW training steps of a tiny X-CLIP on the GPU follow the CPU run (f32, and
// bf16 autocast against the CPU's bf16 emulation).
#include "cuda_test_util.hpp"
#include "models/small_model_util.hpp"

#ifdef XCLIP_WITH_CUDA
#include <algorithm>
#include <filesystem>

#include "xclip/kernels/cuda.hpp"
#include "xclip/models/model.hpp"
#include "xclip/models/heads/xclip_head.hpp"
#include "xclip/models/verify.hpp"
#include "xclip/ops.hpp"
#include "xclip/train/optimizer.hpp"

using namespace xclip;
using namespace xclip::models;
namespace fs = std::filesystem;

namespace {

std::vector<fs::path> bundles() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(test::source_root() / "tests" / "fixtures" / "bundles"))
    if (e.is_directory()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

models::HeadConfig small_head_config_val3() {
  models::HeadConfig c = test::small_head_config();
  c.batch_size_val = 3;  // several blocks in the evaluation path
  return c;
}

// A tiny X-CLIP with every parameter random (seeded), so the CPU and GPU copies start equal.
std::unique_ptr<RetrievalModel> tiny_model(uint64_t seed, ClipPrecision precision = ClipPrecision::f32) {
  auto model = std::make_unique<RetrievalModel>(small_head_config_val3(), test::small_clip_config(), precision);
  Generator g(seed);
  NoGradGuard no_grad;
  for (auto& [name, p] : model->named_parameters())
    p.copy_(ops::add(p, Tensor::randn(p.shape(), g, p.dtype(), 0.0, name == "clip.logit_scale" ? 0.0 : 0.05)));
  return model;
}

std::vector<train::ParamGroup> groups_of(const RetrievalModel& model) {
  train::ParamGroup decay{"decay", {}, 1e-3, 0.2}, no_decay{"no_decay", {}, 5e-4, 0.0};
  for (const auto& [name, p] : model.named_parameters())
    (name.find("bias") != std::string::npos || name.find("ln_") != std::string::npos ? no_decay : decay)
        .params.push_back(p);
  return {decay, no_decay};
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

// How far the GPU's parameters are from the CPU's, worst over the tensors: elementwise,
// max|a − b| / max|b|; norm-wise, ‖a − b‖₂ / ‖b‖₂ (a few elements that drifted apart weigh little).
enum class Distance { elementwise, norm };

double worst_parameter_difference(const RetrievalModel& gpu, const RetrievalModel& cpu, Distance distance, std::string* worst_name,
                                  const std::string& skip) {
  double worst = 0;
  const auto g = gpu.named_parameters(), c = cpu.named_parameters();
  for (size_t i = 0; i < c.size(); ++i) {
    if (c[i].first == skip) continue;
    const std::vector<double> a = g[i].second.to_vector<double>(), b = c[i].second.to_vector<double>();
    double d = 0, dd = 0, bb = 0;
    for (size_t j = 0; j < b.size(); ++j) {
      d = std::max(d, std::abs(a[j] - b[j]));
      dd += (a[j] - b[j]) * (a[j] - b[j]);
      bb += b[j] * b[j];
    }
    const double r = distance == Distance::elementwise ? d / std::max(max_abs(b), 1e-30)
                                                       : std::sqrt(dd) / std::max(std::sqrt(bb), 1e-30);
    if (r > worst) {
      worst = r;
      *worst_name = c[i].first;
    }
  }
  return worst;
}

// `steps` training steps of the same model and batches on both devices; the losses step by step
// (relative `tolerance`) and the parameters at the end (relative to each tensor's largest value).
struct Agreement {
  double loss = 1e-4;        // relative, each step
  double parameters = 1e-4;  // after the last step, by `distance`
  Distance distance = Distance::elementwise;
  std::string skip;  // a parameter left out of the comparison
};

template <class Optimizer, class Options>
void check_training(const Options& options, int steps, ClipPrecision precision = ClipPrecision::f32,
                    const Agreement& agree = {}) {
  auto cpu_model = tiny_model(11, precision), gpu_model = tiny_model(11, precision);
  gpu_model->to(Device::cuda);
  Optimizer cpu_opt(groups_of(*cpu_model), options), gpu_opt(groups_of(*gpu_model), options);
  for (int step = 0; step < steps; ++step) {
    const test::SmallInputs b = test::small_inputs(5, 100 + uint64_t(step));
    double losses[2];
    for (int d = 0; d < 2; ++d) {
      RetrievalModel& m = d == 0 ? *cpu_model : *gpu_model;
      auto& opt = d == 0 ? cpu_opt : gpu_opt;
      opt.zero_grad();
      ModelOutput out = m.forward(b.ids, b.attention, b.video, b.video_mask);
      REQUIRE(out.loss.device() == (d == 0 ? Device::cpu : Device::cuda));
      out.loss.backward();
      opt.step();
      losses[d] = out.loss.item_double();
    }
    INFO("step " << step << ": cpu loss " << losses[0] << ", gpu loss " << losses[1]);
    CHECK(std::abs(losses[1] - losses[0]) <= agree.loss * std::max(1.0, std::abs(losses[0])));
  }
  for (const Tensor& p : gpu_model->parameters()) CHECK(p.device() == Device::cuda);
  std::string name;
  const double worst = worst_parameter_difference(*gpu_model, *cpu_model, agree.distance, &name, agree.skip);
  INFO("worst parameter difference after " << steps << " steps: " << worst << " (" << name << ")");
  CHECK(worst <= agree.parameters);
}

}  // namespace

TEST_CASE("every committed reference bundle passes verify on CUDA", "[cuda][models][verify]") {
  XCLIP_REQUIRE_GPU();
  const auto all = bundles();
  REQUIRE(all.size() >= 12);
  VerifyOptions options;
  options.device = Device::cuda;
  for (const fs::path& b : all) {
    const VerifyResult r = verify_bundle(b.string(), options);
    INFO(r.table());
    CHECK(r.ok());
  }
}

TEST_CASE("Module::to moves every parameter and the references that models hold", "[cuda][models]") {
  XCLIP_REQUIRE_GPU();
  auto model = tiny_model(3);
  model->to(Device::cuda);
  CHECK(model->device() == Device::cuda);
  for (const auto& [name, p] : model->named_parameters()) {
    INFO(name);
    CHECK(p.device() == Device::cuda);
    CHECK(p.requires_grad());
  }
  CHECK(model->logit_scale().device() == Device::cuda);
  CHECK(model->clip.visual.proj.device() == Device::cuda);
  model->to(Device::cpu);
  CHECK(model->parameter("word_mat_weight").device() == Device::cpu);
}

TEST_CASE("the X-CLIP forward, backward and evaluation path on CUDA match the CPU", "[cuda][models]") {
  XCLIP_REQUIRE_GPU();
  auto cpu_model = tiny_model(7), gpu_model = tiny_model(7);
  gpu_model->to(Device::cuda);
  const test::SmallInputs b = test::small_inputs(7, 9);
  ModelOutput c = cpu_model->forward(b.ids, b.attention, b.video, b.video_mask);
  ModelOutput g = gpu_model->forward(b.ids, b.attention, b.video, b.video_mask);
  c.loss.backward();
  g.loss.backward();
  test::expect_close(g.head.logits.to_vector<double>(), c.head.logits.to_vector<double>(), 1e-5,
                     "training logits");
  const auto gp = gpu_model->named_parameters(), cp = cpu_model->named_parameters();
  for (size_t i = 0; i < cp.size(); ++i) {
    INFO(cp[i].first);
    REQUIRE(gp[i].second.grad().defined() == cp[i].second.grad().defined());
    if (!cp[i].second.grad().defined()) continue;
    CHECK(gp[i].second.grad().device() == Device::cuda);
    const std::vector<double> a = gp[i].second.grad().to_vector<double>(), e = cp[i].second.grad().to_vector<double>();
    double d = 0;
    for (size_t j = 0; j < e.size(); ++j) d = std::max(d, std::abs(a[j] - e[j]));
    CHECK(d <= 1e-4 * std::max(max_abs(e), 1e-30));
  }
  const Tensor sim_c = cpu_model->similarity_for_eval(b.ids, b.attention, b.video, b.video_mask);
  const Tensor sim_g = gpu_model->similarity_for_eval(b.ids, b.attention, b.video, b.video_mask);
  CHECK(sim_g.device() == Device::cuda);
  test::expect_close(sim_g.to_vector<double>(), sim_c.to_vector<double>(), 1e-5, "evaluation similarity");
}

TEST_CASE("ten BertAdam steps of a tiny X-CLIP on CUDA follow the CPU losses", "[cuda][models][train]") {
  XCLIP_REQUIRE_GPU();
  train::BertAdamOptions options;
  options.t_total = 10;
  options.warmup = 0.1;
  check_training<train::BertAdam>(options, 10);
}

TEST_CASE("ten AdamW steps of a tiny X-CLIP on CUDA follow the CPU losses", "[cuda][models][train]") {
  XCLIP_REQUIRE_GPU();
  train::AdamWOptions options;
  check_training<train::AdamW>(options, 10);
}

// The GPU's bf16 GEMMs and the CPU's emulation see the same bf16 operands; they differ in the
// order of the f32 additions only, which now and then moves a later rounding to bf16 by one bf16
// step (2⁻⁸ relative). Adam's normalised step turns such noise in a small gradient into a full
// ±lr step, so the runs drift apart slowly: losses within 1e-3 (the f32 run: 1e-4) and, after ten
// steps, parameters within 1e-2 norm-wise (run with exact sums on the CPU emulator of
// tests/cuda_emu: losses within 6e-5, parameters 2.4e-3, clip.token_embedding.weight). A missed
// or wrong update of a tensor moves it by ~0.2 of its norm in ten steps. clip.logit_scale is left
// out of the parameter comparison: near chance-level loss its gradient is the cancellation of
// every similarity's term, as small as the rounding noise, so its sign, and the scalar's ±lr
// steps, can differ between any two summation orders. The losses, which it scales, are checked.
TEST_CASE("ten BertAdam steps of a bf16-autocast tiny X-CLIP on CUDA follow the CPU's bf16 run",
          "[cuda][models][train][autocast]") {
  XCLIP_REQUIRE_GPU();
  train::BertAdamOptions options;
  options.t_total = 10;
  options.warmup = 0.1;
  check_training<train::BertAdam>(options, 10, ClipPrecision::bf16_autocast,
                                  Agreement{1e-3, 1e-2, Distance::norm, "clip.logit_scale"});
}

TEST_CASE("bf16 autocast matmul on CUDA against the CPU emulation, forward and backward", "[cuda][ops][autocast]") {
  XCLIP_REQUIRE_GPU();
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      INFO("trans_a " << ta << " trans_b " << tb);
      Generator g(40 + uint64_t(2 * ta + tb));
      // Batched with a shared b: the GPU's stacked (untransposed a) and scratch + sum (transposed a) dB
      // paths against the CPU's entry by entry.
      const Tensor a = Tensor::randn(ta ? Shape{3, 67, 5} : Shape{3, 5, 67}, g);
      const Tensor b = Tensor::randn(tb ? Shape{9, 67} : Shape{67, 9}, g);
      const Tensor up = Tensor::randn(Shape{3, 5, 9}, g);
      std::vector<double> out[2], ga[2], gb[2];
      for (int d = 0; d < 2; ++d) {
        const Device dev = d == 0 ? Device::cpu : Device::cuda;
        Tensor x = a.to(dev), y = b.to(dev);
        x.set_requires_grad(true);
        y.set_requires_grad(true);
        Tensor o;
        {
          ops::AutocastBf16Guard bf16;
          o = ops::matmul(x, y, ta, tb);
        }
        o.backward(up.to(dev));
        out[d] = o.to_vector<double>();
        ga[d] = x.grad().to_vector<double>();
        gb[d] = y.grad().to_vector<double>();
      }
      test::expect_close(out[1], out[0], 1e-4, "autocast forward");
      test::expect_close(ga[1], ga[0], 1e-4, "autocast dA");
      test::expect_close(gb[1], gb[0], 1e-4, "autocast dB");
    }
}

// Evaluation's frame-word term on CUDA: the fused kernel where L·N fits a thread block, the
// chunked graph where it does not (L 65 × N 64: 17 × 16 register tiles > 256); both against the
// CPU's fused kernel.
TEST_CASE("the no-grad frame-word term on CUDA, fused and chunked fallback, matches the CPU", "[cuda][models][aosm]") {
  XCLIP_REQUIRE_GPU();
  for (const auto& [L, N] : {std::pair<int64_t, int64_t>{32, 12}, {65, 64}}) {
    INFO("L " << L << ", N " << N << (cuda::aosm_frame_word_fits(L, N, 4) ? " (fused)" : " (chunked fallback)"));
    CHECK(cuda::aosm_frame_word_fits(L, N, 4) == ((L + 3) / 4 * ((N + 3) / 4) <= 256));
    const int64_t T = 5, V = 7, D = 24;
    HeadConfig c;
    c.max_words = L;
    c.max_frames = N;
    c.mask_padding = true;
    Generator g(uint64_t(L * N));
    AosmMatrices aosm = AosmMatrices::identity(D, L, N, DType::f32);
    NoGradGuard no_grad;
    for (Tensor* m : aosm.all()) m->copy_(ops::add(*m, Tensor::randn(m->shape(), g, DType::f32, 0.0, 0.05)));
    std::vector<int64_t> wm(size_t(T * L), 1), fm(size_t(V * N), 1);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t l = 2 + t; l < L; ++l) wm[size_t(t * L + l)] = 0;
    for (int64_t v = 0; v < V; ++v)
      for (int64_t n = 1 + v; n < N; ++n) fm[size_t(v * N + n)] = 0;
    const Tensor words = ops::l2_normalize(Tensor::randn(Shape{T, L, D}, g), -1);
    const Tensor frames = ops::l2_normalize(Tensor::randn(Shape{V, N, D}, g), -1);
    const Tensor wmask = Tensor::from_vector(wm, Shape{T, L}), fmask = Tensor::from_vector(fm, Shape{V, N});
    const Tensor sentence = ops::l2_normalize(Tensor::randn(Shape{T, D}, g), -1);
    const Tensor video = ops::l2_normalize(Tensor::randn(Shape{V, D}, g), -1);
    const Tensor cpu = frame_word_similarity(c, aosm, {sentence, words, wmask}, {video, frames, fmask});
    AosmMatrices on_gpu = aosm;
    for (Tensor* m : on_gpu.all()) *m = m->to(Device::cuda);
    const Tensor gpu = frame_word_similarity(c, on_gpu, {sentence.to(Device::cuda), words.to(Device::cuda), wmask.to(Device::cuda)},
                                             {video.to(Device::cuda), frames.to(Device::cuda), fmask.to(Device::cuda)});
    CHECK(gpu.device() == Device::cuda);
    test::expect_close(gpu.to_vector<double>(), cpu.to_vector<double>(), 1e-5, "frame-word term");
  }
}

#endif  // XCLIP_WITH_CUDA
