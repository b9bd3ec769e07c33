// Selection ops (top-k along an axis, the 0/1 mask of the top-k positions) and dropout with a
// stateless counter-based mask. Kernels: src/kernels/select.cpp and cuda/select.cu.
#include "op_util.hpp"
#include "xclip/autograd.hpp"
#include "xclip/ops.hpp"

namespace xclip::ops {

using namespace detail;

Tensor topk_indices(const Tensor& x, int axis_in, int64_t k) {
  const int axis = x.shape().normalize_axis(axis_in, "topk axis");
  XCLIP_CHECK(k >= 1 && k <= x.dim(axis), "topk: k = ", k, " for an axis of ", x.dim(axis), " in ", x.str());
  const AxisSplit s = split_at(x.shape(), axis);
  std::vector<int64_t> out = x.shape().vec();
  out[size_t(axis)] = k;
  Tensor index = Tensor::empty(Shape(out), DType::i64, x.device());
  dispatch_float("topk", x, [&]<class T>() {
    k::topk_axis<T>(x.device(), x.data<T>(), index.data<int64_t>(), s.outer, s.n, k, s.inner);
  });
  return index;
}

// The values are a gather at the selected positions: its backward scatters into them.
Tensor topk(const Tensor& x, int axis, int64_t k) { return gather(x, axis, topk_indices(x, axis, k)); }

Tensor topk_mask(const Tensor& x, int axis_in, int64_t k) {
  const int axis = x.shape().normalize_axis(axis_in, "topk axis");
  const Tensor index = topk_indices(x, axis, k);
  const AxisSplit s = split_at(x.shape(), axis);
  Tensor mask = Tensor::zeros(x.shape(), x.dtype(), x.device());
  Tensor ones = Tensor::ones(index.shape(), x.dtype(), x.device());
  dispatch_float("topk_mask", x, [&]<class T>() {  // the gather's adjoint: 1 at every picked position
    k::gather_axis_backward<T>(x.device(), ones.data<T>(), index.data<int64_t>(), mask.data<T>(), s.outer, s.n, k,
                               s.inner);
  });
  return mask;
}

Tensor dropout_mask(const Shape& shape, DType dtype, Device device, double p, uint64_t seed, uint64_t stream) {
  XCLIP_CHECK(p >= 0 && p < 1, "dropout: p must be in [0, 1), got ", p);
  Tensor mask = Tensor::empty(shape, dtype, device);
  dispatch_float("dropout", mask, [&]<class T>() {
    k::dropout_mask<T>(device, mask.data<T>(), mask.numel(), p, seed, stream);
  });
  return mask;
}

Tensor dropout(const Tensor& x, double p, uint64_t seed, uint64_t stream) {
  if (p == 0) return x;
  Tensor mask;
  {
    NoGradGuard no_grad;
    mask = dropout_mask(x.shape(), x.dtype(), x.device(), p, seed, stream);
  }
  return mul(x, mask);  // the backward multiplies by the same mask
}

}  // namespace xclip::ops
