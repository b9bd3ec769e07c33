// Runs a differentiable op (or a composition of ops) on the CPU and on the GPU from the same
// inputs and the same output gradient, and compares the outputs and every input gradient.
// Tolerance: max|gpu − cpu| over a tensor ≤ rtol · max|cpu| (the measure `verify` uses), with
// non-finite values required at the same places with the same value. Integer outputs must match.
#pragma once
#include "cuda_test_util.hpp"

#ifdef XCLIP_WITH_CUDA
#include <functional>
#include <string>
#include <vector>

#include "xclip/autograd.hpp"
#include "xclip/core/tensor.hpp"

namespace xclip::test {

using OpFn = std::function<Tensor(const std::vector<Tensor>&)>;

struct OpRun {
  Tensor out;
  std::vector<Tensor> grads;  // per input; undefined for integer inputs
};

// Fresh leaves on `dev` (floating inputs require grad), the op, and a backward from `grad_out`.
inline OpRun run_on(Device dev, const OpFn& fn, const std::vector<Tensor>& inputs, const Tensor& grad_out) {
  std::vector<Tensor> in;
  for (const Tensor& t : inputs) {
    Tensor c = t.clone().to(dev);
    if (grad_out.defined() && is_floating(c.dtype())) c.set_requires_grad(true);
    in.push_back(c);
  }
  OpRun r;
  r.out = fn(in);
  REQUIRE(r.out.device() == dev);
  if (grad_out.defined() && r.out.requires_grad()) {
    r.out.backward(grad_out.to(dev));
    for (const Tensor& t : in) r.grads.push_back(t.requires_grad() ? t.grad() : Tensor());
  }
  return r;
}

inline void expect_tensor_close(const Tensor& gpu, const Tensor& cpu, double rtol, const std::string& what) {
  INFO(what << ": gpu " << gpu.str() << " vs cpu " << cpu.str());
  REQUIRE(gpu.defined() == cpu.defined());
  if (!cpu.defined()) return;
  CHECK(gpu.device() == Device::cuda);
  REQUIRE(gpu.shape() == cpu.shape());
  REQUIRE(gpu.dtype() == cpu.dtype());
  const std::vector<double> g = gpu.to_vector<double>(), c = cpu.to_vector<double>();
  if (!is_floating(cpu.dtype())) {
    expect_equal(g, c, what);
    return;
  }
  double max_abs = 0, worst = 0;
  size_t nonfinite_mismatch = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    if (!std::isfinite(c[i]) || !std::isfinite(g[i])) {
      const bool same = (std::isnan(c[i]) && std::isnan(g[i])) || c[i] == g[i];
      nonfinite_mismatch += same ? 0 : 1;
      continue;
    }
    max_abs = std::max(max_abs, std::abs(c[i]));
    worst = std::max(worst, std::abs(g[i] - c[i]));
  }
  INFO("max|cpu| " << max_abs << ", max|gpu - cpu| " << worst << ", relative " << (max_abs > 0 ? worst / max_abs : worst)
                   << " (rtol " << rtol << "), non-finite mismatches " << nonfinite_mismatch);
  CHECK(nonfinite_mismatch == 0);
  CHECK(worst <= rtol * max_abs);
}

inline double default_op_rtol(DType t) { return t == DType::f64 ? 1e-12 : 1e-5; }

// The op on both devices; the output gradient is random (fixed seed) when the op is differentiable.
inline void check_op(const std::string& name, const std::vector<Tensor>& inputs, const OpFn& fn,
                     double rtol = -1, bool differentiable = true) {
  INFO("op " << name);
  Tensor probe;
  {
    NoGradGuard no_grad;
    probe = fn(inputs);
  }
  if (rtol < 0) rtol = default_op_rtol(probe.dtype());
  Tensor grad_out;
  if (differentiable && is_floating(probe.dtype())) {
    Generator gen(0x5eed);
    grad_out = Tensor::randn(probe.shape(), gen, probe.dtype());
  }
  const OpRun cpu = run_on(Device::cpu, fn, inputs, grad_out);
  const OpRun gpu = run_on(Device::cuda, fn, inputs, grad_out);
  expect_tensor_close(gpu.out, cpu.out, rtol, name + " output");
  REQUIRE(gpu.grads.size() == cpu.grads.size());
  if (differentiable && grad_out.defined()) REQUIRE(!cpu.grads.empty());
  for (size_t i = 0; i < cpu.grads.size(); ++i)
    expect_tensor_close(gpu.grads[i], cpu.grads[i], rtol, name + " gradient of input " + std::to_string(i));
}

}  // namespace xclip::test
#endif  // XCLIP_WITH_CUDA
