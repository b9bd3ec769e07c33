// Shape ops: reshape, permute/transpose (copying), concat, narrow, (un)squeeze, cast.
#include "op_util.hpp"
#include "xclip/ops.hpp"

namespace xclip::ops {

using namespace detail;

Tensor reshape(const Tensor& x, const Shape& shape_in) {
  std::vector<int64_t> dims = shape_in.vec();
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == -1) {
      XCLIP_CHECK(infer < 0, "reshape: more than one -1 in ", shape_in.str());
      infer = int(i);
    } else {
      known *= dims[i];
    }
  }
  if (infer >= 0) {
    XCLIP_CHECK(known > 0 && x.numel() % known == 0, "reshape: cannot reshape ", x.str(), " to ", shape_in.str());
    dims[size_t(infer)] = x.numel() / known;
  }
  Shape target(dims);
  XCLIP_CHECK(target.numel() == x.numel(), "reshape: cannot reshape ", x.str(), " to ", target.str());
  if (target == x.shape()) return x;
  Tensor y = x.view(target);
  return record("reshape", y, {x}, [xs = x.shape()](const Tensor& g) { return std::vector<Tensor>{g.view(xs)}; });
}

Tensor permute(const Tensor& x, const std::vector<int>& order_in) {
  const Device dev = x.device();
  const int nd = x.ndim();
  XCLIP_CHECK(int(order_in.size()) == nd, "permute: order of length ", order_in.size(), " for ", x.str());
  std::vector<int> order(static_cast<size_t>(nd)), inverse(static_cast<size_t>(nd), -1);
  std::vector<int64_t> out(static_cast<size_t>(nd));
  for (int i = 0; i < nd; ++i) {
    const int a = x.shape().normalize_axis(order_in[size_t(i)], "permute axis");
    XCLIP_CHECK(inverse[size_t(a)] < 0, "permute: axis ", a, " repeated in the order for ", x.str());
    order[size_t(i)] = a;
    inverse[size_t(a)] = i;
    out[size_t(i)] = x.shape()[a];
  }
  Tensor y = Tensor::empty(Shape(out), x.dtype(), dev);
  std::vector<int64_t> shape = x.shape().vec();
  k::permute_copy(dev, x.raw_data(), y.raw_data(), dtype_size(x.dtype()), shape.data(), order.data(), nd);
  return record("permute", y, {x}, [inverse](const Tensor& g) {
    std::vector<int> inv(inverse.begin(), inverse.end());
    return std::vector<Tensor>{permute(g, inv)};
  });
}

Tensor transpose(const Tensor& x, int a, int b) {
  std::vector<int> order(size_t(x.ndim()));
  for (int i = 0; i < x.ndim(); ++i) order[size_t(i)] = i;
  std::swap(order[size_t(x.shape().normalize_axis(a))], order[size_t(x.shape().normalize_axis(b))]);
  return permute(x, order);
}

Tensor concat(const std::vector<Tensor>& xs, int axis_in) {
  XCLIP_CHECK(!xs.empty(), "concat: no tensors");
  const Tensor& first = xs[0];
  const int axis = first.shape().normalize_axis(axis_in, "concat axis");
  int64_t total = 0;
  const Device dev = first.device();
  for (const Tensor& t : xs) {
    common_device("concat", {&first, &t});
    check_same_dtype("concat", first, t);
    XCLIP_CHECK(t.ndim() == first.ndim(), "concat: ", t.str(), " vs ", first.str());
    for (int d = 0; d < t.ndim(); ++d)
      XCLIP_CHECK(d == axis || t.shape()[d] == first.shape()[d], "concat along ", axis, ": ", t.str(), " vs ",
                  first.str());
    total += t.shape()[axis];
  }
  Tensor y = Tensor::empty(first.shape().with_dim(axis, total), first.dtype(), dev);
  const AxisSplit s = split_at(y.shape(), axis);
  std::vector<int64_t> offsets;
  int64_t off = 0;
  for (const Tensor& t : xs) {
    offsets.push_back(off);
    k::copy_axis_block(dev, t.raw_data(), y.raw_data(), dtype_size(t.dtype()), s.outer, t.shape()[axis], total, off,
                       s.inner);
    off += t.shape()[axis];
  }
  std::vector<int64_t> lengths;
  for (const Tensor& t : xs) lengths.push_back(t.shape()[axis]);
  return record("concat", y, xs, [axis, offsets, lengths](const Tensor& g) {
    std::vector<Tensor> grads;
    for (size_t i = 0; i < offsets.size(); ++i) grads.push_back(narrow(g, axis, offsets[i], lengths[i]));
    return grads;
  });
}

Tensor narrow(const Tensor& x, int axis_in, int64_t start, int64_t length) {
  const Device dev = x.device();
  const int axis = x.shape().normalize_axis(axis_in, "narrow axis");
  const int64_t n = x.shape()[axis];
  XCLIP_CHECK(start >= 0 && length >= 0 && start + length <= n, "narrow: [", start, ", ", start + length,
              ") out of range for axis ", axis, " of ", x.str());
  Tensor y = Tensor::empty(x.shape().with_dim(axis, length), x.dtype(), dev);
  const AxisSplit s = split_at(x.shape(), axis);
  k::slice_axis_block(dev, x.raw_data(), y.raw_data(), dtype_size(x.dtype()), s.outer, n, length, start, s.inner);
  return record("narrow", y, {x}, [xs = x.shape(), s, start, length](const Tensor& g) {
    const Device dev = g.device();
    Tensor gx = Tensor::zeros(xs, g.dtype(), dev);
    k::copy_axis_block(dev, g.raw_data(), gx.raw_data(), dtype_size(g.dtype()), s.outer, length, s.n, start, s.inner);
    return std::vector<Tensor>{gx};
  });
}

Tensor unsqueeze(const Tensor& x, int axis) {
  std::vector<int64_t> d = x.shape().vec();
  const int a = axis < 0 ? axis + x.ndim() + 1 : axis;
  XCLIP_CHECK(a >= 0 && a <= x.ndim(), "unsqueeze: axis ", axis, " out of range for ", x.str());
  d.insert(d.begin() + a, 1);
  return reshape(x, Shape(d));
}

Tensor squeeze(const Tensor& x, int axis) {
  const int a = x.shape().normalize_axis(axis, "squeeze axis");
  XCLIP_CHECK(x.shape()[a] == 1, "squeeze: axis ", axis, " of ", x.str(), " is not 1");
  return reshape(x, x.shape().without_dim(a));
}

Tensor cast(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  Tensor y = x.to(dtype);
  return record("cast", y, {x}, [from = x.dtype()](const Tensor& g) { return std::vector<Tensor>{g.to(from)}; });
}

}  // namespace xclip::ops
