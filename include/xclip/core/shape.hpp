// Shape: up to 6 dimensions, row-major (contiguous) layout everywhere.
#pragma once
#include <array>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <vector>

namespace xclip {

class Shape {
 public:
  static constexpr int kMaxDims = 6;
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  explicit Shape(const std::vector<int64_t>& dims);

  int ndim() const { return ndim_; }
  int64_t operator[](int i) const { return dims_[size_t(i)]; }
  int64_t& operator[](int i) { return dims_[size_t(i)]; }
  // Dimension with Python-style negative index; throws naming `what` when out of range.
  int64_t dim(int i) const;
  int normalize_axis(int axis, const char* what = "axis") const;
  int64_t numel() const;
  std::vector<int64_t> vec() const { return {dims_.begin(), dims_.begin() + ndim_}; }
  // Product of dims in [begin, end).
  int64_t prod(int begin, int end) const;
  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }
  std::string str() const;  // "[2, 3, 4]"

  Shape with_dim(int axis, int64_t size) const;  // copy with one dim replaced
  Shape without_dim(int axis) const;             // copy with one dim removed

 private:
  std::array<int64_t, kMaxDims> dims_{};
  int ndim_ = 0;
};

std::ostream& operator<<(std::ostream& os, const Shape& s);

}  // namespace xclip
