// layer_norm over the last dimension (any eps). Forward and backward.
#include "op_util.hpp"
#include "xclip/ops.hpp"

namespace xclip::ops {

using namespace detail;

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  const Device dev = common_device("layer_norm", {&x, &weight, &bias});
  XCLIP_CHECK(x.ndim() >= 1, "layer_norm: input must have at least one dimension, got ", x.str());
  const int64_t D = x.dim(-1), rows = x.numel() / std::max<int64_t>(D, 1);
  for (const Tensor* p : {&weight, &bias}) {
    if (!p->defined()) continue;
    XCLIP_CHECK(p->ndim() == 1 && p->dim(0) == D, "layer_norm: parameter ", p->str(), " for input ", x.str());
    check_same_dtype("layer_norm", x, *p);
  }
  Tensor y = Tensor::empty(x.shape(), x.dtype(), dev);
  Tensor mean = Tensor::empty(Shape{rows}, x.dtype(), dev), rstd = Tensor::empty(Shape{rows}, x.dtype(), dev);
  dispatch_float("layer_norm", x, [&]<class T>() {
    k::layer_norm_forward<T>(dev, x.data<T>(), weight.defined() ? weight.data<T>() : nullptr,
                             bias.defined() ? bias.data<T>() : nullptr, y.data<T>(), mean.data<T>(),
                             rstd.data<T>(), rows, D, eps);
  });
  const bool need_w = weight.defined() && weight.requires_grad();
  const bool need_b = bias.defined() && bias.requires_grad();
  return record("layer_norm", y, {x, weight, bias},
                [x = x.detach(), w = weight.defined() ? weight.detach() : Tensor(), mean, rstd, rows, D, need_w,
                 need_b, dev](const Tensor& g) {
                  Tensor gx = Tensor::empty(x.shape(), x.dtype(), dev);
                  Tensor gw = need_w ? Tensor::zeros(Shape{D}, x.dtype(), dev) : Tensor();
                  Tensor gb = need_b ? Tensor::zeros(Shape{D}, x.dtype(), dev) : Tensor();
                  dispatch_float("layer_norm backward", x, [&]<class T>() {
                    k::layer_norm_backward<T>(dev, g.data<T>(), x.data<T>(), w.defined() ? w.data<T>() : nullptr,
                                              mean.data<T>(), rstd.data<T>(), gx.data<T>(),
                                              need_w ? gw.data<T>() : nullptr, need_b ? gb.data<T>() : nullptr,
                                              rows, D);
                  });
                  return std::vector<Tensor>{gx, gw, gb};
                });
}

}  // namespace xclip::ops
