// Reductions along an axis (sum, mean, max with keepdim), whole-tensor sum/mean, the masked mean
// over frames, and L2 normalisation. Forward and backward.
#include "op_util.hpp"
#include "xclip/ops.hpp"

namespace xclip::ops {

using namespace detail;

namespace {
Shape reduced_shape(const Shape& s, int axis, bool keepdim) {
  return keepdim ? s.with_dim(axis, 1) : s.without_dim(axis);
}

// Sum along the axis, scaled: sum (scale 1) and mean (scale 1/n) share this.
Tensor scaled_sum(const char* op, const Tensor& x, int axis_in, bool keepdim, bool average) {
  const Device dev = x.device();
  const int axis = x.shape().normalize_axis(axis_in);
  const AxisSplit s = split_at(x.shape(), axis);
  Tensor y = Tensor::empty(reduced_shape(x.shape(), axis, keepdim), x.dtype(), dev);
  const double scale = average ? 1.0 / double(std::max<int64_t>(s.n, 1)) : 1.0;
  dispatch_float(op, x, [&]<class T>() {
    k::reduce_sum<T>(dev, x.data<T>(), y.data<T>(), s.outer, s.n, s.inner);
    if (average) k::affine<T>(dev, y.data<T>(), y.data<T>(), y.numel(), T(scale), T(0));
  });
  return record(op, y, {x}, [op, xs = x.shape(), s, scale](const Tensor& g) {
    const Device dev = g.device();
    Tensor gx = Tensor::empty(xs, g.dtype(), dev);
    dispatch_float(op, g, [&]<class T>() {
      k::broadcast_axis<T>(dev, g.data<T>(), gx.data<T>(), s.outer, s.n, s.inner, T(scale));
    });
    return std::vector<Tensor>{gx};
  });
}
}  // namespace

Tensor sum(const Tensor& x, int axis, bool keepdim) { return scaled_sum("sum", x, axis, keepdim, false); }
Tensor mean(const Tensor& x, int axis, bool keepdim) { return scaled_sum("mean", x, axis, keepdim, true); }

Tensor sum_all(const Tensor& x) { return reshape(sum(reshape(x, Shape{x.numel()}), 0), Shape{}); }
Tensor mean_all(const Tensor& x) { return reshape(mean(reshape(x, Shape{x.numel()}), 0), Shape{}); }

Tensor max(const Tensor& x, int axis_in, bool keepdim) {
  const Device dev = x.device();
  const int axis = x.shape().normalize_axis(axis_in);
  const AxisSplit s = split_at(x.shape(), axis);
  XCLIP_CHECK(s.n > 0, "max: empty axis ", axis_in, " in ", x.str());
  Tensor y = Tensor::empty(reduced_shape(x.shape(), axis, keepdim), x.dtype(), dev);
  Tensor arg = Tensor::empty(y.shape(), DType::i64, dev);
  dispatch_float("max", x, [&]<class T>() {
    k::reduce_max<T>(dev, x.data<T>(), y.data<T>(), arg.data<int64_t>(), s.outer, s.n, s.inner);
  });
  return record("max", y, {x}, [xs = x.shape(), s, arg](const Tensor& g) {
    const Device dev = g.device();
    Tensor gx = Tensor::empty(xs, g.dtype(), dev);
    dispatch_float("max backward", g, [&]<class T>() {
      k::scatter_max_grad<T>(dev, g.data<T>(), arg.data<int64_t>(), gx.data<T>(), s.outer, s.n, s.inner);
    });
    return std::vector<Tensor>{gx};
  });
}

Tensor masked_mean(const Tensor& x, const Tensor& mask, int axis_in) {
  const Device dev = common_device("masked_mean", {&x, &mask});
  const int axis = x.shape().normalize_axis(axis_in, "masked_mean axis");
  XCLIP_CHECK(mask.ndim() == axis + 1, "masked_mean: mask ", mask.str(), " must have the leading ", axis + 1,
              " dims of ", x.str());
  for (int i = 0; i <= axis; ++i)
    XCLIP_CHECK(mask.shape()[i] == x.shape()[i], "masked_mean: mask ", mask.str(), " does not match ", x.str());
  // The mask is data, not a parameter: no gradient flows into it.
  Tensor m = mask.to(x.dtype()).detach();
  std::vector<int64_t> mshape = m.shape().vec();
  while (int(mshape.size()) < x.ndim()) mshape.push_back(1);
  Tensor m_b = m.view(Shape(mshape));
  Tensor denom;
  {
    NoGradGuard no_grad;
    // An all-padding row divides by 1 (as the original: mask_sum[mask_sum == 0] = 1). The
    // denominators are one per row, so on a GPU they make the round trip through the host.
    denom = sum(m_b, axis, false).to(Device::cpu);
    dispatch_float("masked_mean", denom, [&]<class T>() {
      T* p = denom.data<T>();
      for (int64_t i = 0; i < denom.numel(); ++i)
        if (p[i] == T(0)) p[i] = T(1);
    });
    denom = denom.to(dev);
  }
  return div(sum(mul(x, m_b), axis, false), denom);
}

Tensor l2_normalize(const Tensor& x, int axis, double eps) {
  Tensor sq = sum(mul(x, x), axis, true);
  if (eps > 0) sq = add_scalar(sq, eps * eps);
  return div(x, sqrt(sq));
}

}  // namespace xclip::ops
