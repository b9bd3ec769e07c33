// Private helpers shared by the op files: dtype and device dispatch, argument checks.
#pragma once
#include <vector>

#include "xclip/autograd.hpp"
#include "xclip/core/tensor.hpp"
#include "xclip/kernels/dispatch.hpp"

namespace xclip::ops::detail {

// Calls fn.template operator()<T>() with T = float or double for the tensor's dtype.
template <class Fn>
decltype(auto) dispatch_float(const char* op, const Tensor& t, Fn&& fn) {
  switch (t.dtype()) {
    case DType::f32: return fn.template operator()<float>();
    case DType::f64: return fn.template operator()<double>();
    default: break;
  }
  throw Error(format(op, ": expected an f32 or f64 tensor, got ", t.str()));
}

// The device every defined tensor of an op lives on (outputs are allocated there); a tensor on
// another device is an error naming the op and both tensors. Undefined tensors are skipped.
inline Device common_device(const char* op, std::initializer_list<const Tensor*> ts) {
  const Tensor* first = nullptr;
  for (const Tensor* t : ts) {
    if (!t || !t->defined()) continue;
    if (!first) {
      first = t;
      continue;
    }
    XCLIP_CHECK(t->device() == first->device(), op, ": tensors on different devices: ", first->str(), " and ",
                t->str(), " (move them with Tensor::to(Device) first)");
  }
  XCLIP_CHECK(first != nullptr, op, ": no defined tensor");
  return first->device();
}

// [outer, n, inner] view of `shape` around `axis`.
struct AxisSplit {
  int64_t outer, n, inner;
};
inline AxisSplit split_at(const Shape& s, int axis) {
  return {s.prod(0, axis), s[axis], s.prod(axis + 1, s.ndim())};
}

// Contiguous element strides of a shape.
inline std::vector<int64_t> contiguous_strides(const Shape& s) {
  std::vector<int64_t> st(size_t(s.ndim()));
  int64_t acc = 1;
  for (int d = s.ndim() - 1; d >= 0; --d) {
    st[size_t(d)] = acc;
    acc *= s[d];
  }
  return st;
}

// Indices as int64 on the index's own device (accepts i32 and i64).
inline Tensor as_index(const char* op, const Tensor& idx) {
  XCLIP_CHECK(idx.dtype() == DType::i64 || idx.dtype() == DType::i32, op, ": index must be i32 or i64, got ",
              idx.str());
  return idx.to(DType::i64);
}

}  // namespace xclip::ops::detail
