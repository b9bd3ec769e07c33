// Indexing ops: index_select (embedding lookup), gather along an axis, select_rows (the EOT
// gather), argmax. Forward and backward.
#include "op_util.hpp"
#include "xclip/ops.hpp"

namespace xclip::ops {

using namespace detail;

Tensor index_select(const Tensor& table, const Tensor& index_in) {
  const Device dev = common_device("index_select", {&table, &index_in});
  XCLIP_CHECK(table.ndim() >= 1, "index_select: table must have at least one dimension, got ", table.str());
  Tensor index = as_index("index_select", index_in);
  std::vector<int64_t> out = index.shape().vec();
  for (int d = 1; d < table.ndim(); ++d) out.push_back(table.shape()[d]);
  Tensor y = Tensor::empty(Shape(out), table.dtype(), dev);
  const int64_t row_len = table.shape().prod(1, table.ndim());
  const int64_t row_bytes = row_len * int64_t(dtype_size(table.dtype()));
  k::index_rows(dev, table.raw_data(), table.dim(0), row_bytes, index.data<int64_t>(), index.numel(), y.raw_data());
  return record("index_select", y, {table}, [ts = table.shape(), index, row_len](const Tensor& g) {
    const Device dev = g.device();
    Tensor gt = Tensor::zeros(ts, g.dtype(), dev);
    dispatch_float("index_select backward", g, [&]<class T>() {
      k::index_rows_backward<T>(dev, g.data<T>(), index.data<int64_t>(), index.numel(), row_len, gt.data<T>());
    });
    return std::vector<Tensor>{gt};
  });
}

Tensor gather(const Tensor& x, int axis_in, const Tensor& index_in) {
  const Device dev = common_device("gather", {&x, &index_in});
  const int axis = x.shape().normalize_axis(axis_in, "gather axis");
  Tensor index = as_index("gather", index_in);
  XCLIP_CHECK(index.ndim() == x.ndim(), "gather: index ", index.str(), " must have the rank of ", x.str());
  for (int d = 0; d < x.ndim(); ++d)
    XCLIP_CHECK(d == axis || index.shape()[d] == x.shape()[d], "gather along ", axis, ": index ", index.str(),
                " vs input ", x.str());
  const AxisSplit s = split_at(x.shape(), axis);
  const int64_t m = index.shape()[axis];
  Tensor y = Tensor::empty(index.shape(), x.dtype(), dev);
  dispatch_float("gather", x, [&]<class T>() {
    k::gather_axis<T>(dev, x.data<T>(), index.data<int64_t>(), y.data<T>(), s.outer, s.n, m, s.inner);
  });
  return record("gather", y, {x}, [xs = x.shape(), index, s, m](const Tensor& g) {
    const Device dev = g.device();
    Tensor gx = Tensor::zeros(xs, g.dtype(), dev);
    dispatch_float("gather backward", g, [&]<class T>() {
      k::gather_axis_backward<T>(dev, g.data<T>(), index.data<int64_t>(), gx.data<T>(), s.outer, s.n, m, s.inner);
    });
    return std::vector<Tensor>{gx};
  });
}

Tensor select_rows(const Tensor& x, const Tensor& idx_in) {
  XCLIP_CHECK(x.ndim() >= 2, "select_rows: input must be [B, L, ...], got ", x.str());
  Tensor idx = as_index("select_rows", idx_in);
  XCLIP_CHECK(idx.ndim() == 1 && idx.dim(0) == x.dim(0), "select_rows: index ", idx.str(), " for input ",
              x.str());
  const Device dev = common_device("select_rows", {&x, &idx});
  // Flatten to a table of B·L rows and pick row b·L + idx[b]. The B indices are checked and
  // turned into row numbers on the host (copied there from a GPU), then sent back.
  const int64_t B = x.dim(0), L = x.dim(1);
  std::vector<int64_t> rows = idx.to_vector<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    const int64_t i = rows[size_t(b)];
    XCLIP_CHECK(i >= 0 && i < L, "select_rows: index ", i, " out of range for length ", L);
    rows[size_t(b)] = b * L + i;
  }
  std::vector<int64_t> flat = x.shape().vec();
  flat.erase(flat.begin());
  flat[0] = B * L;
  return index_select(reshape(x, Shape(flat)), Tensor::from_vector(rows, Shape{B}).to(dev));
}

Tensor argmax(const Tensor& x, int axis_in) {
  const Device dev = x.device();
  const int axis = x.shape().normalize_axis(axis_in, "argmax axis");
  const AxisSplit s = split_at(x.shape(), axis);
  // Every dtype is compared as f64 (exact for the token ids this serves), on x's own device.
  Tensor xf = is_floating(x.dtype()) ? x.to(DType::f64) : x.to(DType::i64).to(DType::f64);
  Tensor y = Tensor::empty(x.shape().without_dim(axis), DType::f64, dev);
  Tensor arg = Tensor::empty(y.shape(), DType::i64, dev);
  k::reduce_max<double>(dev, xf.data<double>(), y.data<double>(), arg.data<int64_t>(), s.outer, s.n, s.inner);
  return arg;
}

}  // namespace xclip::ops
