// matmul / batched matmul with transpose flags, and linear. Forward and backward via the GEMM of
// the operands' device (cpu::gemm_batched or cuBLAS); under bf16 autocast (ops.hpp) through the
// bf16 GEMM with f32 results.
#include <type_traits>

#include "op_util.hpp"
#include "xclip/ops.hpp"

namespace xclip::ops {

using namespace detail;

namespace {

struct MatmulDims {
  int64_t batch, M, N, K;
  bool b_shared;  // b is one matrix used for every batch entry
  Shape out_shape;
};

MatmulDims matmul_dims(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  XCLIP_CHECK(a.ndim() >= 2 && b.ndim() >= 2, "matmul: operands must be at least 2-d, got ", a.str(), " and ",
              b.str());
  MatmulDims d{};
  const int an = a.ndim(), bn = b.ndim();
  d.M = ta ? a.dim(-1) : a.dim(-2);
  const int64_t Ka = ta ? a.dim(-2) : a.dim(-1);
  const int64_t Kb = tb ? b.dim(-1) : b.dim(-2);
  d.N = tb ? b.dim(-2) : b.dim(-1);
  XCLIP_CHECK(Ka == Kb, "matmul: inner dimensions differ: ", a.str(), (ta ? "ᵀ" : ""), " · ", b.str(),
              (tb ? "ᵀ" : ""));
  d.K = Ka;
  d.batch = a.shape().prod(0, an - 2);
  if (bn == 2) {
    d.b_shared = true;
  } else {
    XCLIP_CHECK(an == bn, "matmul: batch shapes differ: ", a.str(), " and ", b.str());
    for (int i = 0; i < an - 2; ++i)
      XCLIP_CHECK(a.shape()[i] == b.shape()[i], "matmul: batch shapes differ: ", a.str(), " and ", b.str());
    d.b_shared = false;
  }
  std::vector<int64_t> out = a.shape().vec();
  out[size_t(an - 2)] = d.M;
  out[size_t(an - 1)] = d.N;
  d.out_shape = Shape(out);
  return d;
}

// out (+)= op(a)·op(b) per batch, with explicit strides (0 = shared operand). In is the operand
// type (float, double, or bf16_t for the autocast GEMM with an f32 result), Out the result type.
template <class In, class Out>
void gemm_batch(Device dev, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const In* a, int64_t sa, const In* b,
                int64_t sb, Out* c, int64_t sc, int64_t batch, Out beta) {
  const int64_t lda = ta ? M : K, ldb = tb ? K : N;
  if constexpr (std::is_same_v<In, bf16_t>)
    k::gemm_batched_bf16(dev, ta, tb, M, N, K, 1.0f, a, lda, sa, b, ldb, sb, beta, c, N, sc, batch);
  else
    k::gemm_batched<In>(dev, ta, tb, M, N, K, In(1), a, lda, sa, b, ldb, sb, beta, c, N, sc, batch);
}

template <class In, class Out>
void matmul_forward_into(Device dev, const Tensor& a, const Tensor& b, bool ta, bool tb, const MatmulDims& d,
                         Tensor& out) {
  gemm_batch<In, Out>(dev, ta, tb, d.M, d.N, d.K, a.data<In>(), d.M * d.K, b.data<In>(), d.b_shared ? 0 : d.K * d.N,
                      out.data<Out>(), d.M * d.N, d.batch, Out(0));
}

// Gradients of C = op(A)·op(B) (see the derivation in docs/ARCHITECTURE.md, "matmul"), with the
// operands and dC of type In and the gradients of type Out (f32 for the bf16 autocast).
template <class In, class Out>
std::vector<Tensor> matmul_backward_typed(const Tensor& gc, const Tensor& a, const Tensor& b, bool ta, bool tb,
                                          const MatmulDims& d, bool need_a, bool need_b) {
  Tensor ga, gb;
  const Device dev = gc.device();
  const DType out_type = dtype_of<Out>::value;
  const int64_t M = d.M, N = d.N, K = d.K, batch = d.batch;
  const In* g = gc.data<In>();
  const int64_t sb = d.b_shared ? 0 : K * N;
  if (need_a) {
    ga = Tensor::empty(a.shape(), out_type, dev);
    if (!ta)  // dA[M,K] = dC · op(B)ᵀ
      gemm_batch<In, Out>(dev, false, !tb, M, K, N, g, M * N, b.data<In>(), sb, ga.data<Out>(), M * K, batch, Out(0));
    else      // dA[K,M] = op(B) · dCᵀ
      gemm_batch<In, Out>(dev, tb, true, K, M, N, b.data<In>(), sb, g, M * N, ga.data<Out>(), M * K, batch, Out(0));
  }
  if (need_b && d.b_shared && ta && dev != Device::cpu && batch > 1) {
    // Shared b with transposed entries A_r [K, M] on the GPU: the entries' products into a
    // [batch, ·, ·] scratch with one batched GEMM, then summed over the batch (no per-entry launches).
    Tensor per_entry = Tensor::empty(Shape{batch, b.dim(0), b.dim(1)}, out_type, dev);
    if (!tb)  // dB_r[K,N] = A_r · dC_r
      gemm_batch<In, Out>(dev, false, false, K, N, M, a.data<In>(), M * K, g, M * N, per_entry.data<Out>(), K * N,
                          batch, Out(0));
    else      // dB_r[N,K] = dC_rᵀ · A_rᵀ
      gemm_batch<In, Out>(dev, true, true, N, K, M, g, M * N, a.data<In>(), M * K, per_entry.data<Out>(), K * N,
                          batch, Out(0));
    gb = Tensor::empty(b.shape(), out_type, dev);
    k::reduce_sum<Out>(dev, per_entry.data<Out>(), gb.data<Out>(), 1, batch, K * N);
    need_b = false;
  }
  if (need_b) {
    gb = Tensor::zeros(b.shape(), out_type, dev);
    // On the GPU, a shared b with untransposed batch entries A_r [M, K] is one GEMM over the
    // stacked [batch·M, K] rows: dB = A_allᵀ·dC_all (or dC_allᵀ·A_all), no per-entry launches.
    // The CPU keeps its entry-by-entry order (its results are the reference, bit for bit).
    const bool stacked = d.b_shared && !ta && dev != Device::cpu;
    const int64_t rows = stacked ? batch * M : M;
    // With a shared b, every batch entry adds into the same gradient: beta = 1 accumulates,
    // run batch by batch (the batched GEMM may run entries in parallel).
    const int64_t reps = d.b_shared && !stacked ? batch : 1;
    const int64_t per = d.b_shared ? 1 : batch;
    for (int64_t r = 0; r < reps; ++r) {
      const In* ar = a.data<In>() + r * M * K;
      const In* gr = g + r * M * N;
      if (!tb)  // dB[K,N] = op(A)ᵀ · dC
        gemm_batch<In, Out>(dev, !ta, false, K, N, rows, ar, M * K, gr, M * N, gb.data<Out>(), K * N, per, Out(1));
      else      // dB[N,K] = dCᵀ · op(A)
        gemm_batch<In, Out>(dev, true, ta, N, K, rows, gr, M * N, ar, M * K, gb.data<Out>(), K * N, per, Out(1));
    }
  }
  return {ga, gb};
}

Tensor matmul_f32_f64(Device dev, const Tensor& a, const Tensor& b, bool ta, bool tb, const MatmulDims& d) {
  Tensor out = Tensor::empty(d.out_shape, a.dtype(), dev);
  dispatch_float("matmul", a, [&]<class T>() { matmul_forward_into<T, T>(dev, a, b, ta, tb, d, out); });
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  return record("matmul", out, {a, b}, [a = a.detach(), b = b.detach(), ta, tb, d, need_a, need_b](const Tensor& g) {
    std::vector<Tensor> grads;
    dispatch_float("matmul backward", g, [&]<class T>() {
      grads = matmul_backward_typed<T, T>(g, a, b, ta, tb, d, need_a, need_b);
    });
    return grads;
  });
}

Tensor rounded_to_bf16(const Tensor& x) {
  NoGradGuard no_grad;
  return x.detach().to(DType::bf16);
}

// The autocast matmul (ops.hpp): bf16 operands, f32 accumulation and result; the backward rounds
// dC to bf16 and keeps the bf16 operands it saved.
Tensor matmul_autocast_bf16(Device dev, const Tensor& a, const Tensor& b, bool ta, bool tb, const MatmulDims& d) {
  Tensor a16 = rounded_to_bf16(a), b16 = rounded_to_bf16(b);
  Tensor out = Tensor::empty(d.out_shape, DType::f32, dev);
  matmul_forward_into<bf16_t, float>(dev, a16, b16, ta, tb, d, out);
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  return record("matmul_bf16", out, {a, b}, [a16, b16, ta, tb, d, need_a, need_b](const Tensor& g) {
    XCLIP_CHECK(g.dtype() == DType::f32, "matmul_bf16 backward: expected an f32 gradient, got ", g.str());
    return matmul_backward_typed<bf16_t, float>(rounded_to_bf16(g), a16, b16, ta, tb, d, need_a, need_b);
  });
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  const Device dev = common_device("matmul", {&a, &b});
  check_same_dtype("matmul", a, b);
  MatmulDims d = matmul_dims(a, b, trans_a, trans_b);
  if (autocast_bf16_enabled() && a.dtype() == DType::f32) return matmul_autocast_bf16(dev, a, b, trans_a, trans_b, d);
  return matmul_f32_f64(dev, a, b, trans_a, trans_b, d);
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  XCLIP_CHECK(weight.ndim() == 2, "linear: weight must be [out, in], got ", weight.str());
  XCLIP_CHECK(x.ndim() >= 1 && x.dim(-1) == weight.dim(1), "linear: input ", x.str(), " does not match weight ",
              weight.str());
  const int64_t rows = x.numel() / weight.dim(1);
  Tensor x2 = reshape(x, Shape{rows, weight.dim(1)});
  Tensor y = matmul(x2, weight, false, true);
  if (bias.defined()) {
    XCLIP_CHECK(bias.ndim() == 1 && bias.dim(0) == weight.dim(0), "linear: bias ", bias.str(), " for weight ",
                weight.str());
    y = add(y, bias);
  }
  return reshape(y, x.shape().with_dim(-1, weight.dim(0)));
}

}  // namespace xclip::ops
