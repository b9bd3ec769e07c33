// TC-MGC's similarity reorganisation (SR: the top-k similarities, sorted; SF's fused remainder)
// and interactive similarity aggregation (ISA, spec §A3), over the last axis.
#include "xclip/autograd.hpp"
#include "xclip/models/heads/tc_mgc_head.hpp"
#include "xclip/ops.hpp"

namespace xclip::models {

Tensor top_k_sorted(const Tensor& x, int64_t k) { return ops::topk(x, -1, k); }

// The remainder's fusion Σ_j softmax(y)_j·y_j over the n-k values y not in the top k is
// order-independent, so it is a softmax over all n with the top-k positions masked out.
Tensor top_k_with_fused_rest(const Tensor& x, int64_t k) {
  const int64_t n = x.dim(-1);
  const Tensor top = top_k_sorted(x, k);
  Tensor rest;
  if (k == n) {  // nothing left: torch's sum over an empty selection is 0
    std::vector<int64_t> shape = x.shape().vec();
    shape.back() = 1;
    rest = Tensor::zeros(Shape(shape), x.dtype(), x.device());
  } else {
    Tensor excluded;
    {
      NoGradGuard no_grad;
      excluded = ops::scale(ops::topk_mask(x, -1, k), -1e6);  // exp underflows to exactly 0
    }
    rest = ops::sum(ops::mul(x, ops::softmax(x, -1, 1.0, excluded)), -1, true);
  }
  return ops::concat({top, rest}, -1);
}

Tensor interactive_similarity_aggregation(const Tensor& x, const Tensor& mix, double lambda) {
  const int64_t n = x.dim(-1);
  XCLIP_CHECK(mix.ndim() == 2 && mix.dim(0) == n && mix.dim(1) == n, "TC-MGC ISA: matrix ", mix.str(),
              " for ", n, " similarities");
  const Tensor first = ops::softmax(x, -1, 1.0 / lambda);             // softmax(λ·x)
  const Tensor weights = ops::softmax(ops::matmul(first, mix), -1, 1.0 / lambda);  // softmax(λ·(… · W))
  return ops::sum(ops::mul(x, weights), -1);
}

}  // namespace xclip::models
