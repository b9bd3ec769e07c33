// BertAdam and AdamW element updates on the CPU (cpu.hpp); cuda/optimizer.cu is the twin and
// reproduces this arithmetic exactly.
#include <algorithm>
#include <cmath>

#include "xclip/kernels/cpu.hpp"

namespace xclip::cpu {

namespace {
// clip_grad_norm_ of one parameter: total = sqrt(Σg²) in double, g ← g·min(max / (total + 1e-6), 1).
template <class T>
void clip_one(T* g, int64_t n, double max_norm) {
  if (max_norm <= 0) return;
  const double total = std::sqrt(sum_squares<T>(g, n));
  const double coef = std::min(max_norm / (total + 1e-6), 1.0);
  if (coef != 1.0) scale_by<T>(g, n, coef);  // x·1 == x exactly: torch's multiply by 1 is skipped
}

template <class T>
void bert_adam_update(const AdamSlot<T>& s, double b1, double b2, double e) {
  T *p = s.param, *m = s.m, *v = s.v;
  const T* g = s.grad;
  const T tb1 = T(b1), tb2 = T(b2), a1 = T(1 - b1), a2 = T(1 - b2), te = T(e), twd = T(s.weight_decay), tlr = T(s.lr);
  for (int64_t i = 0; i < s.numel; ++i) {
    m[i] = T(m[i] * tb1);
    m[i] = T(m[i] + a1 * g[i]);
    v[i] = T(v[i] * tb2);
    v[i] = T(v[i] + a2 * (g[i] * g[i]));
    T u = T(m[i] / T(std::sqrt(v[i]) + te));
    if (s.weight_decay > 0) u = T(u + T(twd * p[i]));
    p[i] = T(p[i] - T(tlr * u));
  }
}

template <class T>
void adamw_update(const AdamSlot<T>& s, double b1, double b2, double eps) {
  T *p = s.param, *m = s.m, *v = s.v;
  const T* g = s.grad;
  const double bc1 = 1 - std::pow(b1, double(s.step)), bc2 = 1 - std::pow(b2, double(s.step));
  const T decay = T(1 - s.lr * s.weight_decay), step_size = T(s.lr / bc1), bc2_sqrt = T(std::sqrt(bc2));
  for (int64_t i = 0; i < s.numel; ++i) {
    p[i] = T(p[i] * decay);
    m[i] = T(m[i] * T(b1) + T(1 - b1) * g[i]);
    v[i] = T(v[i] * T(b2) + T(1 - b2) * g[i] * g[i]);
    const T denom = T(T(std::sqrt(v[i]) / bc2_sqrt) + T(eps));
    p[i] = T(p[i] - step_size * T(m[i] / denom));
  }
}
}  // namespace

template <class T>
void bert_adam_step(const AdamSlot<T>* slots, int64_t count, double b1, double b2, double e, double max_grad_norm) {
  for (int64_t k = 0; k < count; ++k) {
    clip_one(slots[k].grad, slots[k].numel, max_grad_norm);
    bert_adam_update(slots[k], b1, b2, e);
  }
}

template <class T>
void adamw_step(const AdamSlot<T>* slots, int64_t count, double b1, double b2, double eps) {
  for (int64_t k = 0; k < count; ++k) adamw_update(slots[k], b1, b2, eps);
}

template void bert_adam_step<float>(const AdamSlot<float>*, int64_t, double, double, double, double);
template void bert_adam_step<double>(const AdamSlot<double>*, int64_t, double, double, double, double);
template void adamw_step<float>(const AdamSlot<float>*, int64_t, double, double, double);
template void adamw_step<double>(const AdamSlot<double>*, int64_t, double, double, double);

}  // namespace xclip::cpu
