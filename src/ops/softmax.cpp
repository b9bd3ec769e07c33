// softmax / log_softmax along any axis, with a temperature and an optional additive mask:
// y = softmax(x / temperature + mask). Forward and backward.
#include "op_util.hpp"
#include "xclip/ops.hpp"

namespace xclip::ops {

using namespace detail;

namespace {
Tensor softmax_impl(const char* op, const Tensor& x_in, int axis_in, double temperature, const Tensor& mask,
                    bool log) {
  XCLIP_CHECK(temperature > 0, op, ": temperature must be positive, got ", temperature);
  // A mask is added to x/τ; fold it in as x + τ·mask so the kernel sees a single input and one
  // temperature (exact for the masks used here: 0 and large negatives / −inf).
  Tensor x = x_in;
  if (mask.defined()) x = add(x_in, temperature == 1.0 ? mask : scale(mask, temperature));
  const Device dev = x.device();
  const int axis = x.shape().normalize_axis(axis_in);
  const AxisSplit s = split_at(x.shape(), axis);
  const double inv_t = 1.0 / temperature;
  Tensor y = Tensor::empty(x.shape(), x.dtype(), dev);
  dispatch_float(op, x, [&]<class T>() {
    k::softmax_forward<T>(dev, x.data<T>(), y.data<T>(), s.outer, s.n, s.inner, inv_t, log);
  });
  return record(op, y, {x}, [op, y = y.detach(), s, inv_t, log](const Tensor& g) {
    const Device dev = y.device();
    Tensor gx = Tensor::empty(y.shape(), y.dtype(), dev);
    dispatch_float(op, y, [&]<class T>() {
      k::softmax_backward<T>(dev, y.data<T>(), g.data<T>(), gx.data<T>(), s.outer, s.n, s.inner, inv_t, log);
    });
    return std::vector<Tensor>{gx};
  });
}
}  // namespace

Tensor softmax(const Tensor& x, int axis, double temperature, const Tensor& mask) {
  return softmax_impl("softmax", x, axis, temperature, mask, false);
}

Tensor log_softmax(const Tensor& x, int axis, double temperature, const Tensor& mask) {
  return softmax_impl("log_softmax", x, axis, temperature, mask, true);
}

}  // namespace xclip::ops
