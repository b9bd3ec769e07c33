// Pointwise functions: exp, log, sqrt, tanh, sigmoid, QuickGELU, GELU, ReLU, ReLU6. Forward and
// backward.
#include "op_util.hpp"
#include "xclip/ops.hpp"

namespace xclip::ops {

using namespace detail;

namespace {
Tensor unary(const char* op, cpu::UnaryOp kind, const Tensor& x) {
  const Device dev = x.device();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), dev);
  dispatch_float(op, x, [&]<class T>() { k::unary_forward<T>(dev, kind, x.data<T>(), y.data<T>(), x.numel()); });
  return record(op, y, {x}, [op, kind, x = x.detach(), y = y.detach()](const Tensor& g) {
    const Device dev = x.device();
    Tensor gx = Tensor::empty(x.shape(), x.dtype(), dev);
    dispatch_float(op, x, [&]<class T>() {
      k::unary_backward<T>(dev, kind, x.data<T>(), y.data<T>(), g.data<T>(), gx.data<T>(), x.numel());
    });
    return std::vector<Tensor>{gx};
  });
}
}  // namespace

Tensor exp(const Tensor& x) { return unary("exp", cpu::UnaryOp::exp, x); }
Tensor log(const Tensor& x) { return unary("log", cpu::UnaryOp::log, x); }
Tensor sqrt(const Tensor& x) { return unary("sqrt", cpu::UnaryOp::sqrt, x); }
Tensor tanh(const Tensor& x) { return unary("tanh", cpu::UnaryOp::tanh, x); }
Tensor sigmoid(const Tensor& x) { return unary("sigmoid", cpu::UnaryOp::sigmoid, x); }
Tensor quick_gelu(const Tensor& x) { return unary("quick_gelu", cpu::UnaryOp::quick_gelu, x); }
Tensor gelu(const Tensor& x) { return unary("gelu", cpu::UnaryOp::gelu, x); }
Tensor relu(const Tensor& x) { return unary("relu", cpu::UnaryOp::relu, x); }
Tensor relu6(const Tensor& x) { return unary("relu6", cpu::UnaryOp::relu6, x); }

Tensor bias_quick_gelu(const Tensor& x, const Tensor& bias) {
  const Device dev = common_device("bias_quick_gelu", {&x, &bias});
  check_same_dtype("bias_quick_gelu", x, bias);
  XCLIP_CHECK(x.ndim() >= 1 && bias.ndim() == 1 && bias.dim(0) == x.dim(-1), "bias_quick_gelu: bias ", bias.str(),
              " does not match the last dimension of ", x.str());
  const int64_t cols = bias.dim(0), rows = cols ? x.numel() / cols : 0;
  Tensor y = Tensor::empty(x.shape(), x.dtype(), dev);
  dispatch_float("bias_quick_gelu", x, [&]<class T>() {
    k::bias_quick_gelu_forward<T>(dev, x.data<T>(), bias.data<T>(), y.data<T>(), rows, cols);
  });
  // Saves x (before the bias), not x + bias: the backward recomputes the sum.
  return record("bias_quick_gelu", y, {x, bias}, [x = x.detach(), bias = bias.detach(), rows, cols](const Tensor& g) {
    const Device dev = x.device();
    Tensor gx = Tensor::empty(x.shape(), x.dtype(), dev);
    Tensor gbias = Tensor::zeros(bias.shape(), bias.dtype(), dev);
    const int64_t shape[2] = {rows, cols}, bias_strides[2] = {0, 1};
    dispatch_float("bias_quick_gelu backward", x, [&]<class T>() {
      k::bias_quick_gelu_backward<T>(dev, x.data<T>(), bias.data<T>(), g.data<T>(), gx.data<T>(), rows, cols);
      // The column sum exactly as add's broadcast backward does it (same kernel, same shape).
      k::sum_to_broadcast<T>(dev, gx.data<T>(), shape, 2, gbias.data<T>(), bias_strides);
    });
    return std::vector<Tensor>{gx, gbias};
  });
}

}  // namespace xclip::ops
