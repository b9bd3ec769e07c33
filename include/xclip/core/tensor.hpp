// Tensor: a shape, an element type, a device and reference-counted storage.
// Tensors are always contiguous (row-major); permutes copy, GEMMs take transpose flags.
// The autograd fields (requires_grad, grad, grad_fn) live on the same object; see autograd.hpp.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "xclip/core/dtype.hpp"
#include "xclip/core/error.hpp"
#include "xclip/core/shape.hpp"

namespace xclip {

// A block of memory on one device. `owner` keeps alive whatever the bytes belong to
// (a heap buffer, a memory-mapped file, a CUDA allocation) and frees it when the last user goes.
struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  Device device = Device::cpu;
  std::shared_ptr<void> owner;

  static std::shared_ptr<Storage> allocate(size_t bytes, Device device);
  // Wraps memory owned by someone else (e.g. an mmap); `owner` keeps it alive.
  static std::shared_ptr<Storage> wrap(void* data, size_t bytes, Device device, std::shared_ptr<void> owner);
};

class Generator;
struct Node;
struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;

  // ---- factories -----------------------------------------------------------------------
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu);
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu);
  static Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32, Device device = Device::cpu);
  static Tensor arange(int64_t n, DType dtype = DType::f32, Device device = Device::cpu);
  static Tensor eye(int64_t n, DType dtype = DType::f32, Device device = Device::cpu);
  // Standard normal / uniform [lo, hi) from a seeded generator; the stream is identical on every run.
  static Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::f32, double mean = 0, double std = 1);
  static Tensor uniform(const Shape& shape, Generator& gen, double lo = 0, double hi = 1, DType dtype = DType::f32);
  template <class T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape);
  template <class T>
  static Tensor scalar(T value) { return from_vector<T>({value}, Shape{}); }
  // A tensor over existing storage (no copy).
  static Tensor from_storage(std::shared_ptr<Storage> storage, size_t offset_bytes, const Shape& shape, DType dtype);

  // ---- metadata --------------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int ndim() const { return shape().ndim(); }
  int64_t dim(int i) const { return shape().dim(i); }
  int64_t numel() const { return shape().numel(); }
  DType dtype() const;
  Device device() const;
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype()); }
  std::string str() const;       // "f32[2, 3] cpu"
  std::string to_string(int max_per_dim = 6) const;  // values, numpy-like

  // ---- data access (CPU only; checks dtype) ---------------------------------------------
  void* raw_data();
  const void* raw_data() const;
  template <class T> T* data();
  template <class T> const T* data() const;
  template <class T> T item() const;             // the only element, converted to T
  double item_double() const;                    // any floating/integer dtype
  template <class T> std::vector<T> to_vector() const;  // converted to T
  const std::shared_ptr<Storage>& storage() const;
  size_t storage_offset() const;                 // in bytes

  // ---- conversions (no autograd: use ops::cast for a differentiable cast) -------------
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;     // converts on the tensor's own device
  // In place: this TensorImpl (so every handle to it: module fields, optimizer groups) now holds
  // its values on `device`; the gradient, if any, moves too. Views made earlier keep the old storage.
  void move_to_(Device device);
  Tensor clone() const;              // deep copy, detached
  Tensor detach() const;             // same storage, no autograd history
  Tensor view(const Shape& shape) const;  // same storage, new shape (same numel), detached
  void copy_(const Tensor& src);     // element copy with dtype conversion; shapes must match
  void fill_(double value);
  bool same_storage(const Tensor& other) const;

  // ---- autograd --------------------------------------------------------------------------
  bool requires_grad() const;
  Tensor& set_requires_grad(bool on);
  const Tensor& grad() const;        // undefined until a backward reaches this leaf
  Tensor& mutable_grad();
  void zero_grad();                  // drops the gradient
  void set_grad(const Tensor& g);
  bool is_leaf() const;
  const std::shared_ptr<Node>& grad_fn() const;
  void set_grad_fn(std::shared_ptr<Node> node);
  void backward() const;             // from a one-element tensor; frees the graph afterwards
  void backward(const Tensor& grad_output) const;
  const std::string& name() const;   // optional, set for parameters
  Tensor& set_name(std::string name);

  TensorImpl* impl() const { return impl_.get(); }
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<TensorImpl> impl_;
  friend struct TensorImpl;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  size_t offset = 0;  // bytes into storage
  Shape shape;
  DType dtype = DType::f32;
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;
  std::string name;

  static Tensor make(std::shared_ptr<TensorImpl> impl) { return Tensor(std::move(impl)); }
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Throws "op: expected dtype X, got Y for <shape>" etc. Helpers used by every op.
void check_dtype(const char* op, const Tensor& t, DType expected);
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b);
void check_same_device(const char* op, const Tensor& a, const Tensor& b);
void check_floating(const char* op, const Tensor& t);
void check_ndim(const char* op, const Tensor& t, int ndim);
void check_cpu(const char* op, const Tensor& t);

// ---- reproducible random numbers ------------------------------------------------------
// splitmix64 seeding + xoshiro256**; normals by Box-Muller (one normal per two uniforms, no cached
// spare, so the whole state is the four words below). Same seed, same stream, on every platform.
class Generator {
 public:
  explicit Generator(uint64_t seed = 42) { seed_(seed); }
  void seed_(uint64_t seed);
  uint64_t next_u64();
  double next_double();  // [0, 1), 53 bits
  double next_normal();
  std::array<uint64_t, 4> state() const { return s_; }
  void set_state(const std::array<uint64_t, 4>& s) { s_ = s; }

 private:
  std::array<uint64_t, 4> s_{};
};

}  // namespace xclip
