// The --official_fp16 optimizer's kernels on the CPU: BertAdam on fp16 values, the exact fp16
// norm, and the fp16-rounded scalings of the global clip and the multi-GPU average. The element
// arithmetic is xclip/kernels/fp16_rounding.hpp, shared with cuda/optimizer_fp16.cu.
#include "xclip/kernels/cpu.hpp"
#include "xclip/kernels/fp16_rounding.hpp"

namespace xclip::cpu {

namespace {
using namespace fp16_rounding;

// A Python float / c10::Scalar as a Half kernel uses it: converted to at::Half (via float).
float half_scalar(double s) { return round_f16(float(s)); }

float norm_of_rounded(const float* x, int64_t n) {
  u128 units = 0;
  unsigned flags = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float h = round_f16(x[i]);
    const unsigned f = nonfinite_flag(h);
    flags |= f;
    if (!f) units += square_units(h);
  }
  return norm_from_square_units(units, flags);
}

void step_slot(const Fp16AdamSlot& s, const Fp16AdamConstants& k) {
  const Fp16UpdateConstants c{k.b1, k.one_minus_b1, k.b2, k.one_minus_b2, k.e, s.weight_decay, s.lr, s.decay};
  const float coef = k.clip ? clip_coefficient(norm_of_rounded(s.grad, s.numel), k.max_grad_norm, k.clip_eps) : 1.0f;
  for (int64_t i = 0; i < s.numel; ++i)
    update_stored_element(s.param, s.param_f16, i, s.grad[i], coef, s.m[i], s.v[i], c);
}
}  // namespace

Fp16AdamConstants fp16_adam_constants(double b1, double b2, double e, double max_grad_norm) {
  Fp16AdamConstants k;
  k.b1 = half_scalar(b1);
  k.one_minus_b1 = half_scalar(1 - b1);
  k.b2 = half_scalar(b2);
  k.one_minus_b2 = half_scalar(1 - b2);
  k.e = half_scalar(e);
  k.clip = max_grad_norm > 0;
  k.max_grad_norm = half_scalar(max_grad_norm);
  k.clip_eps = half_scalar(1e-6);
  return k;
}

void set_fp16_adam_scalars(Fp16AdamSlot& slot, double lr_t, double weight_decay) {
  slot.lr = half_scalar(lr_t);
  slot.weight_decay = half_scalar(weight_decay);
  slot.decay = weight_decay > 0;
}

void bert_adam_fp16_step(const Fp16AdamSlot* slots, int64_t count, const Fp16AdamConstants& k) {
  for (int64_t i = 0; i < count; ++i) step_slot(slots[i], k);
}

float f16_norm(const float* x, int64_t n) { return round_f16(norm_of_rounded(x, n)); }

void f16_scale(float* x, int64_t n, float c) {
  for (int64_t i = 0; i < n; ++i) x[i] = mul16(round_f16(x[i]), c);
}

void divide_by(float* x, int64_t n, float d, bool in_f16) {
  for (int64_t i = 0; i < n; ++i) x[i] = in_f16 ? div16(round_f16(x[i]), d) : div32(x[i], d);
}

int64_t first_non_f16_value(const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!(round_f16(x[i]) == x[i] || x[i] != x[i])) return i;
  return -1;
}

}  // namespace xclip::cpu
