// add / sub / mul / div with numpy broadcasting, scale, add_scalar, neg. Forward and backward.
#include "op_util.hpp"
#include "xclip/ops.hpp"

namespace xclip::ops {

using namespace detail;

namespace {

Shape broadcast_shape(const char* op, const Shape& a, const Shape& b) {
  const int n = std::max(a.ndim(), b.ndim());
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const int ia = a.ndim() - n + i, ib = b.ndim() - n + i;
    const int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    XCLIP_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", a.str(), " and ", b.str(), " do not broadcast");
    out[size_t(i)] = da == 1 ? db : da;
  }
  return Shape(out);
}

// Element strides of `s` seen through the broadcast output shape `out` (0 on broadcast dims).
std::vector<int64_t> broadcast_strides(const Shape& s, const Shape& out) {
  std::vector<int64_t> st(static_cast<size_t>(out.ndim()), 0);
  std::vector<int64_t> own = contiguous_strides(s);
  for (int i = 0; i < s.ndim(); ++i) {
    const int o = out.ndim() - s.ndim() + i;
    st[size_t(o)] = s[i] == 1 && out[o] != 1 ? 0 : own[size_t(i)];
  }
  return st;
}

// Sums `g` (shape `out`) down to `target` (the gradient of a broadcast).
Tensor reduce_to(const Tensor& g, const Shape& target) {
  if (g.shape() == target) return g;
  const Device dev = g.device();
  Tensor r = Tensor::zeros(target, g.dtype(), dev);
  std::vector<int64_t> st = broadcast_strides(target, g.shape());
  std::vector<int64_t> shape = g.shape().vec();
  dispatch_float("broadcast backward", g, [&]<class T>() {
    k::sum_to_broadcast<T>(dev, g.data<T>(), shape.data(), g.ndim(), r.data<T>(), st.data());
  });
  return r;
}

Tensor binary_forward(const char* op, cpu::BinaryOp kind, const Tensor& a, const Tensor& b) {
  const Device dev = common_device(op, {&a, &b});
  check_same_dtype(op, a, b);
  Shape out_shape = broadcast_shape(op, a.shape(), b.shape());
  Tensor out = Tensor::empty(out_shape, a.dtype(), dev);
  auto as = broadcast_strides(a.shape(), out_shape), bs = broadcast_strides(b.shape(), out_shape);
  auto shape = out_shape.vec();
  dispatch_float(op, a, [&]<class T>() {
    k::binary_broadcast<T>(dev, kind, a.data<T>(), as.data(), b.data<T>(), bs.data(), out.data<T>(), shape.data(),
                             out_shape.ndim());
  });
  return out;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("add", cpu::BinaryOp::add, a, b);
  return record("add", out, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
    return std::vector<Tensor>{reduce_to(g, sa), reduce_to(g, sb)};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("sub", cpu::BinaryOp::sub, a, b);
  return record("sub", out, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
    return std::vector<Tensor>{reduce_to(g, sa), reduce_to(neg(g), sb)};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("mul", cpu::BinaryOp::mul, a, b);
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  return record("mul", out, {a, b}, [a = a.detach(), b = b.detach(), need_a, need_b](const Tensor& g) {
    Tensor ga = need_a ? reduce_to(mul(g, b), a.shape()) : Tensor();
    Tensor gb = need_b ? reduce_to(mul(g, a), b.shape()) : Tensor();
    return std::vector<Tensor>{ga, gb};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("div", cpu::BinaryOp::div, a, b);
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  return record("div", out, {a, b},
                [a = a.detach(), b = b.detach(), out = out.detach(), need_a, need_b](const Tensor& g) {
                  Tensor ga = need_a ? reduce_to(div(g, b), a.shape()) : Tensor();
                  // d(a/b)/db = −(a/b)/b
                  Tensor gb = need_b ? reduce_to(neg(div(mul(g, out), b)), b.shape()) : Tensor();
                  return std::vector<Tensor>{ga, gb};
                });
}

namespace {
Tensor affine_op(const char* op, const Tensor& x, double s, double shift) {
  const Device dev = x.device();
  Tensor out = Tensor::empty(x.shape(), x.dtype(), dev);
  dispatch_float(op, x, [&]<class T>() { k::affine<T>(dev, x.data<T>(), out.data<T>(), x.numel(), T(s), T(shift)); });
  return out;
}
}  // namespace

Tensor scale(const Tensor& x, double s) {
  Tensor out = affine_op("scale", x, s, 0.0);
  return record("scale", out, {x}, [s](const Tensor& g) { return std::vector<Tensor>{scale(g, s)}; });
}

Tensor add_scalar(const Tensor& x, double s) {
  Tensor out = affine_op("add_scalar", x, 1.0, s);
  return record("add_scalar", out, {x}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Tensor neg(const Tensor& x) { return scale(x, -1.0); }

}  // namespace xclip::ops
