// Helpers for the GPU kernel tests: device buffers, random inputs, poisoning, and element-by-element
// comparison against the CPU twin. Only meaningful in a CUDA build (XCLIP_WITH_CUDA).
#pragma once
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "test_util.hpp"

#ifdef XCLIP_WITH_CUDA
#include "xclip/core/error.hpp"
#include "xclip/cuda/runtime.hpp"
#include "xclip/kernels/cpu.hpp"
#include "xclip/kernels/cuda.hpp"

// Skips the running test unless a CUDA device is present.
#define XCLIP_REQUIRE_GPU()                                                                          \
  do {                                                                                                \
    if (::xclip::cuda::device_count() == 0) XCLIP_SKIP("no CUDA device on this machine: GPU test not run"); \
  } while (0)

namespace xclip::test {

// A device array of n elements from the caching allocator, released on scope exit.
template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t n) : n_(n), ptr_(static_cast<T*>(cuda::allocate(n * sizeof(T)))) {}
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { upload(host); }
  ~DeviceBuffer() { cuda::release(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* get() const { return ptr_; }
  size_t size() const { return n_; }
  void upload(const std::vector<T>& host) {
    REQUIRE(host.size() == n_);
    if (n_) cuda::copy(ptr_, true, host.data(), false, n_ * sizeof(T));
  }
  // cudaMemcpy on the legacy default stream waits for the kernels queued on the backend's stream.
  std::vector<T> download() const {
    std::vector<T> host(n_);
    if (n_) cuda::copy(host.data(), false, ptr_, true, n_ * sizeof(T));
    return host;
  }

 private:
  size_t n_;
  T* ptr_;
};

// The value an output is filled with before a kernel runs, so that an unwritten element fails.
template <class T>
T poison_value() {
  if constexpr (std::is_floating_point_v<T>)
    return std::numeric_limits<T>::quiet_NaN();
  else
    return T(-7777);
}

template <class T>
std::vector<T> poisoned(size_t n) {
  return std::vector<T>(n, poison_value<T>());
}

// A poisoned device buffer of n elements.
template <class T>
struct PoisonedBuffer : DeviceBuffer<T> {
  explicit PoisonedBuffer(size_t n) : DeviceBuffer<T>(poisoned<T>(n)) {}
};

template <class T>
std::vector<T> random_vector(size_t n, uint32_t seed, double lo = -2.0, double hi = 2.0) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<T> v(n);
  for (T& x : v) x = T(dist(gen));
  return v;
}

// Values with |v| in [lo, hi] and a random sign (safe denominators).
template <class T>
std::vector<T> random_away_from_zero(size_t n, uint32_t seed, double lo = 0.5, double hi = 2.0) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::bernoulli_distribution sign(0.5);
  std::vector<T> v(n);
  for (T& x : v) x = T(sign(gen) ? dist(gen) : -dist(gen));
  return v;
}

inline std::vector<int64_t> random_indices(size_t n, int64_t bound, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int64_t> dist(0, bound - 1);
  std::vector<int64_t> v(n);
  for (int64_t& x : v) x = dist(gen);
  return v;
}

// The tolerance the issue fixes for each element type: f32 1e-5 relative, f64 1e-12.
template <class T>
constexpr double default_rtol() {
  return std::is_same_v<T, float> ? 1e-5 : 1e-12;
}

// Every element within rtol·|want| + atol (atol defaults to rtol: a relative test for values of
// magnitude ≥ 1, absolute below), or within rtol·scale[i] + atol when a per-element `scale` is
// given (named by `scale_name` in the message). NaN only matches NaN; infinities must match exactly.
template <class T>
void expect_close(const std::vector<T>& got, const std::vector<T>& want, double rtol, const std::string& what,
                  double atol = -1, const std::vector<double>* scale = nullptr, const char* scale_name = "") {
  REQUIRE(got.size() == want.size());
  if (scale) REQUIRE(scale->size() == want.size());
  if (atol < 0) atol = rtol;
  size_t bad = 0, first = 0;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = double(got[i]), w = double(want[i]);
    bool ok;
    if (std::isnan(w) || std::isnan(g))
      ok = std::isnan(w) && std::isnan(g);
    else if (std::isinf(w) || std::isinf(g))
      ok = g == w;
    else
      ok = std::abs(g - w) <= rtol * (scale ? (*scale)[i] : std::abs(w)) + atol;
    if (!ok) {
      if (bad++ == 0) first = i;
      if (!std::isnan(g) && !std::isnan(w)) worst = std::max(worst, std::abs(g - w));
    }
  }
  std::ostringstream msg;
  msg << what << ": " << bad << " of " << got.size() << " elements differ (rtol " << rtol << ", atol " << atol
      << (scale ? std::string(", relative to ") + scale_name : std::string()) << ")";
  if (bad)
    msg << "; first at " << first << ": gpu " << double(got[first]) << " vs cpu " << double(want[first])
        << (scale ? " (scale " + std::to_string((*scale)[first]) + ")" : std::string())
        << "; worst finite difference " << worst;
  INFO(msg.str());
  CHECK(bad == 0);
}

// Exact equality (data movement, integer outputs).
template <class T>
void expect_equal(const std::vector<T>& got, const std::vector<T>& want, const std::string& what) {
  REQUIRE(got.size() == want.size());
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const bool same = std::memcmp(&got[i], &want[i], sizeof(T)) == 0;
    if (!same && bad++ == 0) first = i;
  }
  INFO(what << ": " << bad << " of " << got.size() << " elements differ; first at " << first);
  CHECK(bad == 0);
}

inline int64_t product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace xclip::test
#endif  // XCLIP_WITH_CUDA
