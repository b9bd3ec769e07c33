#include "xclip/core/tensor.hpp"

#include <cmath>
#include <cstring>
#include <iomanip>
#include <sstream>
#include <vector>

#include "xclip/core/checked.hpp"
#include "xclip/core/device_memory.hpp"

namespace xclip {

// ---- Storage ----------------------------------------------------------------------------------
std::shared_ptr<Storage> Storage::allocate(size_t bytes, Device device) {
  auto s = std::make_shared<Storage>();
  s->data = device_alloc(bytes, device);
  s->bytes = bytes;
  s->device = device;
  void* p = s->data;
  s->owner = std::shared_ptr<void>(p, [device](void* q) { device_free(q, device); });
  return s;
}

std::shared_ptr<Storage> Storage::wrap(void* data, size_t bytes, Device device, std::shared_ptr<void> owner) {
  auto s = std::make_shared<Storage>();
  s->data = data;
  s->bytes = bytes;
  s->device = device;
  s->owner = std::move(owner);
  return s;
}

// ---- element conversion (CPU) -----------------------------------------------------------------
namespace {

double load_as_double(const void* p, DType t, int64_t i) {
  switch (t) {
    case DType::f32: return static_cast<const float*>(p)[i];
    case DType::f64: return static_cast<const double*>(p)[i];
    case DType::bf16: return bf16_to_float(static_cast<const bf16_t*>(p)[i]);
    case DType::f16: return f16_to_float(static_cast<const f16_t*>(p)[i]);
    case DType::i32: return static_cast<const int32_t*>(p)[i];
    case DType::i64: return double(static_cast<const int64_t*>(p)[i]);
    case DType::u8: return static_cast<const uint8_t*>(p)[i];
  }
  return 0;
}

void store_double(void* p, DType t, int64_t i, double v) {
  switch (t) {
    case DType::f32: static_cast<float*>(p)[i] = float(v); break;
    case DType::f64: static_cast<double*>(p)[i] = v; break;
    case DType::bf16: static_cast<bf16_t*>(p)[i] = float_to_bf16(float(v)); break;
    case DType::f16: static_cast<f16_t*>(p)[i] = float_to_f16(float(v)); break;
    case DType::i32: static_cast<int32_t*>(p)[i] = int32_t(v); break;
    case DType::i64: static_cast<int64_t*>(p)[i] = int64_t(v); break;
    case DType::u8: static_cast<uint8_t*>(p)[i] = uint8_t(v); break;
  }
}

bool is_integer(DType t) { return t == DType::i32 || t == DType::i64 || t == DType::u8; }

int64_t load_as_int(const void* p, DType t, int64_t i) {
  switch (t) {
    case DType::i32: return static_cast<const int32_t*>(p)[i];
    case DType::i64: return static_cast<const int64_t*>(p)[i];
    case DType::u8: return static_cast<const uint8_t*>(p)[i];
    default: return int64_t(load_as_double(p, t, i));
  }
}

void store_int(void* p, DType t, int64_t i, int64_t v) {
  switch (t) {
    case DType::i32: static_cast<int32_t*>(p)[i] = int32_t(v); break;
    case DType::i64: static_cast<int64_t*>(p)[i] = v; break;
    case DType::u8: static_cast<uint8_t*>(p)[i] = uint8_t(v); break;
    default: store_double(p, t, i, double(v));
  }
}

// f16 -> f32 for every bit pattern (256 KiB, built once): loading a checkpoint widens ~150 M fp16
// weights, where the per-element switch below is several times slower than reading the file.
const float* f16_to_f32_table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (uint32_t b = 0; b < 65536; ++b) t[b] = f16_to_float(f16_t{uint16_t(b)});
    return t;
  }();
  return table.data();
}

// Typed loops for the conversions that move whole models (checkpoints, precision modes).
template <class S, class D, class F>
void convert_loop(const void* src, void* dst, int64_t n, F&& f) {
  const S* s = static_cast<const S*>(src);
  D* d = static_cast<D*>(dst);
#pragma omp parallel for schedule(static) if (n > (int64_t(1) << 20))
  for (int64_t i = 0; i < n; ++i) d[i] = f(s[i]);
}

bool convert_fast(const void* src, DType st, void* dst, DType dt, int64_t n) {
  if (st == DType::f16 && dt == DType::f32) {
    const float* table = f16_to_f32_table();
    convert_loop<f16_t, float>(src, dst, n, [table](f16_t h) { return table[h.bits]; });
  } else if (st == DType::bf16 && dt == DType::f32) {
    convert_loop<bf16_t, float>(src, dst, n, [](bf16_t h) { return bf16_to_float(h); });
  } else if (st == DType::f32 && dt == DType::f64) {
    convert_loop<float, double>(src, dst, n, [](float v) { return double(v); });
  } else if (st == DType::f64 && dt == DType::f32) {
    convert_loop<double, float>(src, dst, n, [](double v) { return float(v); });
  } else {
    return false;
  }
  return true;
}

// Integers travel through int64 (exact); everything else through double (exact for f32/f16/bf16).
void convert_elements(const void* src, DType st, void* dst, DType dt, int64_t n) {
  if (st == dt) {
    std::memcpy(dst, src, size_t(n) * dtype_size(st));
  } else if (convert_fast(src, st, dst, dt, n)) {
    return;
  } else if (st == DType::f32 && dt == DType::bf16) {
    for (int64_t i = 0; i < n; ++i) static_cast<bf16_t*>(dst)[i] = float_to_bf16(static_cast<const float*>(src)[i]);
  } else if (st == DType::f32 && dt == DType::f16) {
    for (int64_t i = 0; i < n; ++i) static_cast<f16_t*>(dst)[i] = float_to_f16(static_cast<const float*>(src)[i]);
  } else if (is_integer(st) && is_integer(dt)) {
    for (int64_t i = 0; i < n; ++i) store_int(dst, dt, i, load_as_int(src, st, i));
  } else {
    for (int64_t i = 0; i < n; ++i) store_double(dst, dt, i, load_as_double(src, st, i));
  }
}

void check_concrete(const Shape& shape) {
  for (int i = 0; i < shape.ndim(); ++i)
    XCLIP_CHECK(shape[i] >= 0, "tensor shape ", shape.str(), " has a negative dimension");
}

std::shared_ptr<TensorImpl> new_impl(const Shape& shape, DType dtype, Device device) {
  check_concrete(shape);
  auto impl = std::make_shared<TensorImpl>();
  // Checked: a shape from a config or a file (eye(max_frames) with a huge max_frames) must fail
  // here with its size, not wrap to a small allocation that the caller then writes past.
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(uint64_t(shape.numel()), dtype_size(dtype), &bytes) || bytes > kMaxTensorBytes)
    checked_nbytes(uint64_t(shape.numel()), dtype_size(dtype), format("tensor ", dtype_name(dtype), shape.str()));
  impl->storage = Storage::allocate(size_t(bytes), device);
  impl->shape = shape;
  impl->dtype = dtype;
  return impl;
}

}  // namespace

// ---- factories ------------------------------------------------------------------------------
Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) { return Tensor(new_impl(shape, dtype, device)); }

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  device_memset_zero(t.raw_data(), t.nbytes(), device);
  return t;
}

Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, Device::cpu);
  t.fill_(value);
  return device == Device::cpu ? t : t.to(device);
}

Tensor Tensor::arange(int64_t n, DType dtype, Device device) {
  Tensor t = empty(Shape{n}, dtype, Device::cpu);
  for (int64_t i = 0; i < n; ++i) store_int(t.raw_data(), dtype, i, i);
  return device == Device::cpu ? t : t.to(device);
}

Tensor Tensor::eye(int64_t n, DType dtype, Device device) {
  Tensor t = zeros(Shape{n, n}, dtype, Device::cpu);
  for (int64_t i = 0; i < n; ++i) store_double(t.raw_data(), dtype, i * n + i, 1.0);
  return device == Device::cpu ? t : t.to(device);
}

Tensor Tensor::randn(const Shape& shape, Generator& gen, DType dtype, double mean, double std) {
  Tensor t = empty(shape, dtype, Device::cpu);
  for (int64_t i = 0; i < t.numel(); ++i) store_double(t.raw_data(), dtype, i, mean + std * gen.next_normal());
  return t;
}

Tensor Tensor::uniform(const Shape& shape, Generator& gen, double lo, double hi, DType dtype) {
  Tensor t = empty(shape, dtype, Device::cpu);
  for (int64_t i = 0; i < t.numel(); ++i) store_double(t.raw_data(), dtype, i, lo + (hi - lo) * gen.next_double());
  return t;
}

template <class T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape) {
  XCLIP_CHECK(int64_t(values.size()) == shape.numel(), "Tensor::from_vector: ", values.size(),
              " values for shape ", shape.str());
  Tensor t = empty(shape, dtype_of<T>::value, Device::cpu);
  if (!values.empty()) std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(T));
  return t;
}
template Tensor Tensor::from_vector<float>(const std::vector<float>&, const Shape&);
template Tensor Tensor::from_vector<double>(const std::vector<double>&, const Shape&);
template Tensor Tensor::from_vector<int32_t>(const std::vector<int32_t>&, const Shape&);
template Tensor Tensor::from_vector<int64_t>(const std::vector<int64_t>&, const Shape&);
template Tensor Tensor::from_vector<uint8_t>(const std::vector<uint8_t>&, const Shape&);
template Tensor Tensor::from_vector<bf16_t>(const std::vector<bf16_t>&, const Shape&);
template Tensor Tensor::from_vector<f16_t>(const std::vector<f16_t>&, const Shape&);

Tensor Tensor::from_storage(std::shared_ptr<Storage> storage, size_t offset_bytes, const Shape& shape, DType dtype) {
  XCLIP_CHECK(storage != nullptr, "Tensor::from_storage: null storage");
  check_concrete(shape);
  uint64_t data_bytes = 0, need = 0;
  if (__builtin_mul_overflow(uint64_t(shape.numel()), dtype_size(dtype), &data_bytes) ||
      data_bytes > kMaxTensorBytes || __builtin_add_overflow(uint64_t(offset_bytes), data_bytes, &need)) {
    const std::string what = format("Tensor::from_storage: ", dtype_name(dtype), shape.str());
    need = checked_add(offset_bytes, checked_nbytes(uint64_t(shape.numel()), dtype_size(dtype), what), what);
  }
  XCLIP_CHECK(need <= storage->bytes, "Tensor::from_storage: ", dtype_name(dtype), shape.str(), " at offset ",
              offset_bytes, " needs ", need, " bytes but the storage has ", storage->bytes);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->offset = offset_bytes;
  impl->shape = shape;
  impl->dtype = dtype;
  return Tensor(impl);
}

// ---- metadata ---------------------------------------------------------------------------------
static TensorImpl& checked(const std::shared_ptr<TensorImpl>& impl) {
  XCLIP_CHECK(impl != nullptr, "use of an undefined (empty) Tensor");
  return *impl;
}

const Shape& Tensor::shape() const { return checked(impl_).shape; }
DType Tensor::dtype() const { return checked(impl_).dtype; }
Device Tensor::device() const { return checked(impl_).storage->device; }
const std::shared_ptr<Storage>& Tensor::storage() const { return checked(impl_).storage; }
size_t Tensor::storage_offset() const { return checked(impl_).offset; }

std::string Tensor::str() const {
  if (!defined()) return "Tensor(undefined)";
  return format(dtype_name(dtype()), shape().str(), " ", device_name(device()));
}

void* Tensor::raw_data() {
  TensorImpl& i = checked(impl_);
  return static_cast<char*>(i.storage->data) + i.offset;
}
const void* Tensor::raw_data() const {
  const TensorImpl& i = checked(impl_);
  return static_cast<const char*>(i.storage->data) + i.offset;
}

template <class T>
T* Tensor::data() {
  XCLIP_CHECK(dtype() == dtype_of<T>::value, "Tensor::data: tensor is ", str(), ", requested ",
              dtype_name(dtype_of<T>::value));
  return static_cast<T*>(raw_data());
}
template <class T>
const T* Tensor::data() const {
  XCLIP_CHECK(dtype() == dtype_of<T>::value, "Tensor::data: tensor is ", str(), ", requested ",
              dtype_name(dtype_of<T>::value));
  return static_cast<const T*>(raw_data());
}
#define XCLIP_INSTANTIATE_DATA(T) \
  template T* Tensor::data<T>();  \
  template const T* Tensor::data<T>() const;
XCLIP_INSTANTIATE_DATA(float)
XCLIP_INSTANTIATE_DATA(double)
XCLIP_INSTANTIATE_DATA(bf16_t)
XCLIP_INSTANTIATE_DATA(f16_t)
XCLIP_INSTANTIATE_DATA(int32_t)
XCLIP_INSTANTIATE_DATA(int64_t)
XCLIP_INSTANTIATE_DATA(uint8_t)
#undef XCLIP_INSTANTIATE_DATA

double Tensor::item_double() const {
  XCLIP_CHECK(numel() == 1, "Tensor::item: tensor ", str(), " has ", numel(), " elements, expected 1");
  Tensor c = device() == Device::cpu ? *this : to(Device::cpu);
  return load_as_double(c.raw_data(), dtype(), 0);
}

template <class T>
T Tensor::item() const {
  if constexpr (std::is_integral_v<T>) {
    XCLIP_CHECK(numel() == 1, "Tensor::item: tensor ", str(), " has ", numel(), " elements, expected 1");
    Tensor c = device() == Device::cpu ? *this : to(Device::cpu);
    return T(load_as_int(c.raw_data(), dtype(), 0));
  } else {
    return T(item_double());
  }
}
template float Tensor::item<float>() const;
template double Tensor::item<double>() const;
template int32_t Tensor::item<int32_t>() const;
template int64_t Tensor::item<int64_t>() const;

template <class T>
std::vector<T> Tensor::to_vector() const {
  Tensor c = (device() == Device::cpu ? *this : to(Device::cpu)).to(dtype_of<T>::value);
  const T* p = c.data<T>();
  return std::vector<T>(p, p + c.numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template std::vector<uint8_t> Tensor::to_vector<uint8_t>() const;

// ---- conversions --------------------------------------------------------------------------------
Tensor Tensor::to(Device target) const {
  if (device() == target) return *this;
  Tensor out = empty(shape(), dtype(), target);
  device_copy(out.raw_data(), target, raw_data(), device(), nbytes());
  return out;
}

Tensor Tensor::to(DType target) const {
  if (dtype() == target) return *this;
  Tensor out = empty(shape(), target, device());
  if (device() == Device::cpu)
    convert_elements(raw_data(), dtype(), out.raw_data(), target, numel());
  else
    device_convert(raw_data(), dtype(), out.raw_data(), target, numel(), device());
  return out;
}

void Tensor::move_to_(Device target) {
  if (device() == target) return;
  TensorImpl& i = checked(impl_);
  Tensor moved = to(target);
  i.storage = moved.storage();
  i.offset = moved.storage_offset();
  if (i.grad.defined()) i.grad = i.grad.to(target);
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  device_copy(out.raw_data(), device(), raw_data(), device(), nbytes());
  return out;
}

Tensor Tensor::detach() const {
  const TensorImpl& i = checked(impl_);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = i.storage;
  impl->offset = i.offset;
  impl->shape = i.shape;
  impl->dtype = i.dtype;
  return Tensor(impl);
}

Tensor Tensor::view(const Shape& new_shape) const {
  check_concrete(new_shape);
  XCLIP_CHECK(new_shape.numel() == numel(), "Tensor::view: cannot view ", str(), " as ", new_shape.str());
  Tensor t = detach();
  t.impl_->shape = new_shape;
  return t;
}

void Tensor::copy_(const Tensor& src) {
  XCLIP_CHECK(src.shape() == shape(), "Tensor::copy_: shape ", src.shape().str(), " into ", shape().str());
  if (src.dtype() == dtype()) {
    device_copy(raw_data(), device(), src.raw_data(), src.device(), nbytes());
    return;
  }
  Tensor s = src.device() == Device::cpu ? src : src.to(Device::cpu);
  if (device() == Device::cpu) {
    convert_elements(s.raw_data(), s.dtype(), raw_data(), dtype(), numel());
  } else {
    Tensor c = s.to(dtype());
    device_copy(raw_data(), device(), c.raw_data(), Device::cpu, nbytes());
  }
}

void Tensor::fill_(double value) {
  if (device() != Device::cpu) {
    copy_(full(shape(), value, dtype(), Device::cpu));
    return;
  }
  for (int64_t i = 0; i < numel(); ++i) store_double(raw_data(), dtype(), i, value);
}

bool Tensor::same_storage(const Tensor& other) const { return storage() == other.storage(); }

// ---- autograd fields ------------------------------------------------------------------------
bool Tensor::requires_grad() const { return checked(impl_).requires_grad; }
Tensor& Tensor::set_requires_grad(bool on) {
  XCLIP_CHECK(!on || is_floating(dtype()), "set_requires_grad: ", str(), " is not a floating tensor");
  checked(impl_).requires_grad = on;
  return *this;
}
const Tensor& Tensor::grad() const { return checked(impl_).grad; }
Tensor& Tensor::mutable_grad() { return checked(impl_).grad; }
void Tensor::zero_grad() { checked(impl_).grad = Tensor(); }
void Tensor::set_grad(const Tensor& g) { checked(impl_).grad = g; }
bool Tensor::is_leaf() const { return checked(impl_).grad_fn == nullptr; }
const std::shared_ptr<Node>& Tensor::grad_fn() const { return checked(impl_).grad_fn; }
void Tensor::set_grad_fn(std::shared_ptr<Node> node) { checked(impl_).grad_fn = std::move(node); }
const std::string& Tensor::name() const { return checked(impl_).name; }
Tensor& Tensor::set_name(std::string n) {
  checked(impl_).name = std::move(n);
  return *this;
}

// ---- printing -------------------------------------------------------------------------------------
std::string Tensor::to_string(int max_per_dim) const {
  if (!defined()) return "Tensor(undefined)";
  Tensor c = device() == Device::cpu ? *this : to(Device::cpu);
  std::ostringstream os;
  os << "tensor(" << str() << ")\n";
  const Shape& s = shape();
  if (s.ndim() == 0) {
    os << load_as_double(c.raw_data(), dtype(), 0);
    return os.str();
  }
  // Print the last dimension as rows; elide with "..." beyond max_per_dim per dimension.
  std::vector<int64_t> idx(size_t(s.ndim()), 0);
  std::function<void(int, int64_t)> rec = [&](int d, int64_t base) {
    os << '[';
    int64_t n = s[d];
    for (int64_t i = 0; i < n; ++i) {
      if (n > max_per_dim && i == max_per_dim / 2) {
        os << "..., ";
        i = n - max_per_dim / 2;
      }
      int64_t off = base * n + i;
      if (d == s.ndim() - 1) {
        os << std::setprecision(6) << load_as_double(c.raw_data(), dtype(), off);
      } else {
        rec(d + 1, off);
      }
      if (i + 1 < n) os << (d == s.ndim() - 1 ? ", " : ",\n");
    }
    os << ']';
  };
  rec(0, 0);
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.to_string(); }

// ---- checks used by ops --------------------------------------------------------------------------
void check_dtype(const char* op, const Tensor& t, DType expected) {
  XCLIP_CHECK(t.dtype() == expected, op, ": expected dtype ", dtype_name(expected), ", got ", t.str());
}
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  XCLIP_CHECK(a.dtype() == b.dtype(), op, ": dtype mismatch ", a.str(), " vs ", b.str());
}
void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  XCLIP_CHECK(a.device() == b.device(), op, ": device mismatch ", a.str(), " vs ", b.str());
}
void check_floating(const char* op, const Tensor& t) {
  XCLIP_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::f64, op, ": expected an f32 or f64 tensor, got ", t.str());
}
void check_ndim(const char* op, const Tensor& t, int ndim) {
  XCLIP_CHECK(t.ndim() == ndim, op, ": expected a ", ndim, "-d tensor, got ", t.str());
}
void check_cpu(const char* op, const Tensor& t) {
  XCLIP_CHECK(t.device() == Device::cpu, op, ": expected a CPU tensor, got ", t.str());
}

// ---- Generator --------------------------------------------------------------------------------------
static uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void Generator::seed_(uint64_t seed) {
  uint64_t x = seed;
  for (auto& w : s_) w = splitmix64(x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t Generator::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Generator::next_double() { return double(next_u64() >> 11) * 0x1.0p-53; }

double Generator::next_normal() {
  double u1 = next_double(), u2 = next_double();
  if (u1 < 1e-300) u1 = 1e-300;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

}  // namespace xclip
