// Pointwise functions: exp, log, sqrt, tanh, sigmoid, QuickGELU, GELU. Forward and backward.
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

}  // namespace xclip::ops
