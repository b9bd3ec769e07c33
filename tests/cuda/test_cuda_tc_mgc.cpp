// The TC-MGC head on CUDA against the CPU: the training forward with dropout on (the stateless
// masks are the same on both devices), the SDR term, every parameter's and input's gradient, and
// the tiled evaluation, in f64.
#include "cuda_op_check.hpp"

#ifdef XCLIP_WITH_CUDA
#include <cmath>

#include "xclip/models/heads/tc_mgc_head.hpp"
#include "xclip/ops.hpp"

using namespace xclip;
using namespace xclip::models;
using namespace xclip::test;

namespace {

constexpr int64_t B = 3, L = 6, N = 4, D = 8;

struct Run {
  Tensor logits, loss, eval;
  std::vector<Tensor> grads;
};

Run run_head(TcMgcHead& head, Device dev, const std::vector<Tensor>& features) {
  std::vector<Tensor> in;
  for (const Tensor& t : features) in.push_back(t.clone().to(dev).set_requires_grad(true));
  const Tensor word_mask = Tensor::ones(Shape{B, L}, DType::i64).to(dev);
  const Tensor video_mask = Tensor::from_vector<int64_t>({1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0, 0}, Shape{B, N}).to(dev);
  const Tensor logit_scale = Tensor::full(Shape{}, std::log(20.0), DType::f64).to(dev);
  head.zero_grad();
  head.set_step_seed(42, 3);
  HeadOutput out = head.forward({in[0], in[1], word_mask}, {in[2], video_mask}, logit_scale);
  Run r;
  r.logits = out.logits;
  r.loss = ops::add(symmetric_cross_entropy(out.logits), out.extra_loss);
  r.loss.backward();
  for (const Tensor& t : in) r.grads.push_back(t.grad());
  for (const auto& [name, p] : head.named_parameters()) r.grads.push_back(p.grad());
  r.eval = head.similarity_matrix({in[0].detach(), in[1].detach(), word_mask}, {in[2].detach(), video_mask}, logit_scale);
  return r;
}

}  // namespace

TEST_CASE("tc_mgc head on CUDA: forward with dropout, loss, gradients and evaluation as on the CPU",
          "[cuda][tc_mgc]") {
  XCLIP_REQUIRE_GPU();
  const HeadConfig c = HeadConfig::from_json(
      {{"head", "tc_mgc"}, {"max_words", L}, {"max_frames", N}, {"cross_num_hidden_layers", 1}, {"temporal_heads", 2},
       {"batch_size_val", 2}, {"keep_rate", 0.5}, {"transformer_dropout", 0.3}, {"num_mha_heads", 2},
       {"softmax_lambda", 10.0}});
  TcMgcHead cpu(c, HeadDims{D, 6}, DType::f64), gpu(c, HeadDims{D, 6}, DType::f64);
  {
    NoGradGuard no_grad;
    uint64_t seed = 0;
    for (auto [name, p] : cpu.named_parameters()) {
      Generator g(++seed);
      p.copy_(ops::add(p, Tensor::randn(p.shape(), g, DType::f64, 0.0, 0.1)));
    }
    gpu.load_state_dict(cpu.state_dict());
  }
  gpu.to(Device::cuda);
  Generator g(9);
  const std::vector<Tensor> features = {Tensor::randn(Shape{B, D}, g, DType::f64),
                                        Tensor::randn(Shape{B, L, D}, g, DType::f64),
                                        Tensor::randn(Shape{B, N, D}, g, DType::f64)};
  const Run a = run_head(cpu, Device::cpu, features), b = run_head(gpu, Device::cuda, features);
  expect_tensor_close(b.logits, a.logits, 1e-10, "logits");
  expect_tensor_close(b.loss, a.loss, 1e-10, "loss");
  expect_tensor_close(b.eval, a.eval, 1e-10, "similarity_matrix");
  REQUIRE(a.grads.size() == b.grads.size());
  for (size_t i = 0; i < a.grads.size(); ++i) expect_tensor_close(b.grads[i], a.grads[i], 1e-9, "gradient " + std::to_string(i));
}

#endif  // XCLIP_WITH_CUDA
