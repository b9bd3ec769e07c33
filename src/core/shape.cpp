#include "xclip/core/shape.hpp"

#include <sstream>

#include "xclip/core/checked.hpp"
#include "xclip/core/error.hpp"

namespace xclip {

Shape::Shape(std::initializer_list<int64_t> dims) : Shape(std::vector<int64_t>(dims)) {}

Shape::Shape(const std::vector<int64_t>& dims) {
  XCLIP_CHECK(dims.size() <= size_t(kMaxDims), "Shape: at most ", kMaxDims, " dimensions, got ", dims.size());
  ndim_ = int(dims.size());
  for (int i = 0; i < ndim_; ++i) {
    // -1 is allowed as the "infer this dimension" placeholder of reshape; tensors reject it.
    XCLIP_CHECK(dims[size_t(i)] >= -1, "Shape: negative dimension ", dims[size_t(i)]);
    dims_[size_t(i)] = dims[size_t(i)];
  }
}

int Shape::normalize_axis(int axis, const char* what) const {
  int a = axis < 0 ? axis + ndim_ : axis;
  XCLIP_CHECK(a >= 0 && a < ndim_, what, " ", axis, " out of range for shape ", str());
  return a;
}

int64_t Shape::dim(int i) const { return dims_[size_t(normalize_axis(i, "dimension"))]; }

int64_t Shape::numel() const { return prod(0, ndim_); }

// Checked: a shape read from a file ((2^32, 2^32) in a .npy header) must not wrap to a small
// element count that later sizes a buffer. reshape's -1 placeholder keeps the plain product.
int64_t Shape::prod(int begin, int end) const {
  const std::span<const int64_t> dims(dims_.data() + begin, size_t(end - begin));
  for (int64_t d : dims)
    if (d < 0) {
      int64_t n = 1;
      for (int64_t x : dims) n *= x;
      return n;
    }
  int64_t n = 1;
  for (int64_t d : dims)  // the message is only built on the (rare) overflow: prod is on hot paths
    if (__builtin_mul_overflow(n, d, &n)) return checked_numel(dims, "shape " + str());
  return n;
}

bool Shape::operator==(const Shape& o) const {
  if (ndim_ != o.ndim_) return false;
  for (int i = 0; i < ndim_; ++i)
    if (dims_[size_t(i)] != o.dims_[size_t(i)]) return false;
  return true;
}

std::string Shape::str() const {
  std::ostringstream os;
  os << '[';
  for (int i = 0; i < ndim_; ++i) os << (i ? ", " : "") << dims_[size_t(i)];
  os << ']';
  return os.str();
}

Shape Shape::with_dim(int axis, int64_t size) const {
  Shape s = *this;
  s.dims_[size_t(normalize_axis(axis))] = size;
  return s;
}

Shape Shape::without_dim(int axis) const {
  int a = normalize_axis(axis);
  std::vector<int64_t> d;
  for (int i = 0; i < ndim_; ++i)
    if (i != a) d.push_back(dims_[size_t(i)]);
  return Shape(d);
}

std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << s.str(); }

}  // namespace xclip
