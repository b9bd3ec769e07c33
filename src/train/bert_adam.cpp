// BertAdam as modules/optimization.py of the original, per parameter p with gradient g:
//   clip ‖g‖ to max_grad_norm (this parameter alone)
//   m ← b1·m + (1 − b1)·g ;  v ← b2·v + (1 − b2)·g²
//   u ← m / (sqrt(v) + e)                      (no bias correction)
//   u ← u + wd·p                               (if the group's wd > 0)
//   lr_t ← lr · schedule(step / t_total)       (step before incrementing; lr if t_total = −1)
//   p ← p − lr_t·u ;  step ← step + 1
// Elementwise arithmetic follows PyTorch's op order in the parameter's own precision.
// CPU parameters are updated here one by one; CUDA parameters are collected and updated by one
// fused launch sequence (cuda::bert_adam_step / adamw_step), which reproduces the same arithmetic.
#include <cmath>

#include "xclip/train/optimizer.hpp"
#ifdef XCLIP_WITH_CUDA
#include "xclip/kernels/cuda.hpp"
#endif

namespace xclip::train {

namespace {
template <class T>
void bert_adam_update(T* p, const T* g, T* m, T* v, int64_t n, double b1, double b2, double e, double wd,
                      double lr_t) {
  const T tb1 = T(b1), tb2 = T(b2), a1 = T(1 - b1), a2 = T(1 - b2), te = T(e), twd = T(wd), tlr = T(lr_t);
  for (int64_t i = 0; i < n; ++i) {
    m[i] = T(m[i] * tb1);
    m[i] = T(m[i] + a1 * g[i]);
    v[i] = T(v[i] * tb2);
    v[i] = T(v[i] + a2 * (g[i] * g[i]));
    T u = T(m[i] / T(std::sqrt(v[i]) + te));
    if (wd > 0) u = T(u + T(twd * p[i]));
    p[i] = T(p[i] - T(tlr * u));
  }
}

void check_param(const Tensor& p, const char* who) {
  XCLIP_CHECK(p.dtype() == DType::f32 || p.dtype() == DType::f64, who, ": parameter ",
              (p.name().empty() ? std::string("(unnamed)") : p.name()), " ", p.str(), " must be f32 or f64");
}

// The parameter's gradient in the parameter's dtype, stored back as its .grad (so that clipping
// in place, on either device, changes the gradient the caller sees, as on the CPU).
Tensor grad_as_param(Tensor& p, const char* who) {
  if (p.grad().dtype() != p.dtype()) p.set_grad(p.grad().to(p.dtype()));
  XCLIP_CHECK(p.grad().shape() == p.shape() && p.grad().device() == p.device(), who, ": gradient ", p.grad().str(),
              " for parameter ", p.name(), " ", p.str());
  return p.grad();
}

std::string param_label(const Tensor& p, const ParamGroup& group, size_t index) {
  return p.name().empty() ? format("#", index, " of group ", group.name) : p.name();
}

// Lazily made state, on the parameter's device. State that does not fit its parameter is refused
// here, before a kernel could read the wrong memory: left on another device (the model moved, the
// optimizer not), or of another shape or dtype (set through state()).
void init_state(OptimizerState& st, const Tensor& p, const ParamGroup& group, size_t index, const char* who) {
  if (!st.m.defined() && !st.v.defined()) {
    st.m = Tensor::zeros(p.shape(), p.dtype(), p.device());
    st.v = Tensor::zeros(p.shape(), p.dtype(), p.device());
    return;
  }
  XCLIP_CHECK(st.m.defined() && st.v.defined(), who, ": parameter ", param_label(p, group, index),
              " has only one of its moments m, v");
  const bool same_device = st.m.device() == p.device() && st.v.device() == p.device();
  XCLIP_CHECK(same_device, who, ": parameter ", param_label(p, group, index), " is on ", device_name(p.device()),
              " but its optimizer state (m on ", device_name(st.m.device()), ", v on ", device_name(st.v.device()),
              ") is not; move the optimizer with the model (optimizer.to(", device_name(p.device()), "))");
  for (const Tensor* moment : {&st.m, &st.v})
    XCLIP_CHECK(moment->shape() == p.shape() && moment->dtype() == p.dtype(), who, ": the optimizer state ",
                moment->str(), " of parameter ", param_label(p, group, index), " does not fit the parameter ", p.str());
}

void move_state(std::vector<std::vector<OptimizerState>>& state, Device device) {
  for (auto& group : state)
    for (OptimizerState& st : group) {
      if (st.m.defined()) st.m = st.m.to(device);
      if (st.v.defined()) st.v = st.v.to(device);
    }
}

// The CUDA parameters of one step, by element type, updated together by flush().
class CudaBatch {
 public:
  void add(Tensor& p, const Tensor& g, OptimizerState& st, double lr, double wd, int64_t step) {
#ifdef XCLIP_WITH_CUDA
    if (p.dtype() == DType::f32)
      f32_.push_back(slot<float>(p, g, st, lr, wd, step));
    else
      f64_.push_back(slot<double>(p, g, st, lr, wd, step));
#else
    (void)g, (void)st, (void)lr, (void)wd, (void)step;
    throw Error(format("optimizer: parameter ", p.name(), " is on ", device_name(p.device()),
                       " but this build has no CUDA support"));
#endif
  }
  void flush_bert_adam(const BertAdamOptions& o) {
#ifdef XCLIP_WITH_CUDA
    if (!f32_.empty()) cuda::bert_adam_step<float>(f32_.data(), int64_t(f32_.size()), o.b1, o.b2, o.e, o.max_grad_norm);
    if (!f64_.empty()) cuda::bert_adam_step<double>(f64_.data(), int64_t(f64_.size()), o.b1, o.b2, o.e, o.max_grad_norm);
#else
    (void)o;
#endif
  }
  void flush_adamw(const AdamWOptions& o) {
#ifdef XCLIP_WITH_CUDA
    if (!f32_.empty()) cuda::adamw_step<float>(f32_.data(), int64_t(f32_.size()), o.b1, o.b2, o.eps);
    if (!f64_.empty()) cuda::adamw_step<double>(f64_.data(), int64_t(f64_.size()), o.b1, o.b2, o.eps);
#else
    (void)o;
#endif
  }

 private:
#ifdef XCLIP_WITH_CUDA
  template <class T>
  static cuda::AdamSlot<T> slot(Tensor& p, const Tensor& g, OptimizerState& st, double lr, double wd, int64_t step) {
    cuda::AdamSlot<T> s;
    s.param = p.data<T>();
    s.grad = const_cast<T*>(g.data<T>());  // BertAdam writes the clipped gradient back
    s.m = st.m.data<T>();
    s.v = st.v.data<T>();
    s.numel = p.numel();
    s.lr = lr;
    s.weight_decay = wd;
    s.step = step;
    return s;
  }
  std::vector<cuda::AdamSlot<float>> f32_;
  std::vector<cuda::AdamSlot<double>> f64_;
#endif
};
}  // namespace

BertAdam::BertAdam(std::vector<ParamGroup> groups, BertAdamOptions options)
    : groups_(std::move(groups)), options_(options) {
  XCLIP_CHECK(options_.b1 >= 0 && options_.b1 < 1 && options_.b2 >= 0 && options_.b2 < 1 && options_.e >= 0,
              "BertAdam: invalid b1/b2/e ", options_.b1, "/", options_.b2, "/", options_.e);
  XCLIP_CHECK(options_.t_total == -1 || options_.t_total > 0, "BertAdam: t_total must be positive or -1, got ",
              options_.t_total);
  for (const ParamGroup& g : groups_) {
    XCLIP_CHECK(g.lr >= 0, "BertAdam: group ", g.name, " has a negative lr ", g.lr);
    for (const Tensor& p : g.params) check_param(p, "BertAdam");
    state_.emplace_back(g.params.size());
  }
}

std::vector<double> BertAdam::current_lr() const {
  std::vector<double> lrs;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    int64_t step = 0;
    for (const auto& s : state_[gi]) step = std::max(step, s.step);
    const double factor = options_.t_total == -1
                              ? 1.0
                              : schedule_factor(options_.schedule, double(step) / options_.t_total, options_.warmup);
    lrs.push_back(groups_[gi].lr * factor);
  }
  return lrs;
}

void BertAdam::step() {
  CudaBatch on_gpu;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    ParamGroup& group = groups_[gi];
    for (size_t pi = 0; pi < group.params.size(); ++pi) {
      Tensor p = group.params[pi];
      if (!p.grad().defined()) continue;
      OptimizerState& st = state_[gi][pi];
      init_state(st, p, group, pi, "BertAdam");
      const double lr_t =
          options_.t_total == -1
              ? group.lr
              : group.lr * schedule_factor(options_.schedule, double(st.step) / options_.t_total, options_.warmup);
      if (p.device() != Device::cpu) {  // clipped inside the fused step
        on_gpu.add(p, grad_as_param(p, "BertAdam"), st, lr_t, group.weight_decay, st.step + 1);
        st.step += 1;
        continue;
      }
      if (options_.max_grad_norm > 0) clip_grad_norm({p}, options_.max_grad_norm);
      Tensor g = p.grad().dtype() == p.dtype() ? p.grad() : p.grad().to(p.dtype());
      XCLIP_CHECK(g.shape() == p.shape(), "BertAdam: gradient ", g.str(), " for parameter ", p.name(), " ", p.str());
      if (p.dtype() == DType::f32)
        bert_adam_update<float>(p.data<float>(), g.data<float>(), st.m.data<float>(), st.v.data<float>(), p.numel(),
                                options_.b1, options_.b2, options_.e, group.weight_decay, lr_t);
      else
        bert_adam_update<double>(p.data<double>(), g.data<double>(), st.m.data<double>(), st.v.data<double>(),
                                 p.numel(), options_.b1, options_.b2, options_.e, group.weight_decay, lr_t);
      st.step += 1;
    }
  }
  on_gpu.flush_bert_adam(options_);
}

void BertAdam::to(Device device) { move_state(state_, device); }

void BertAdam::zero_grad() {
  for (ParamGroup& g : groups_)
    for (Tensor& p : g.params) p.zero_grad();
}

// ---- AdamW ---------------------------------------------------------------------------------------------
namespace {
template <class T>
void adamw_update(T* p, const T* g, T* m, T* v, int64_t n, double b1, double b2, double eps, double wd, double lr,
                  int64_t step) {
  const double bc1 = 1 - std::pow(b1, double(step)), bc2 = 1 - std::pow(b2, double(step));
  const T decay = T(1 - lr * wd), step_size = T(lr / bc1), bc2_sqrt = T(std::sqrt(bc2));
  for (int64_t i = 0; i < n; ++i) {
    p[i] = T(p[i] * decay);
    m[i] = T(m[i] * T(b1) + T(1 - b1) * g[i]);
    v[i] = T(v[i] * T(b2) + T(1 - b2) * g[i] * g[i]);
    const T denom = T(T(std::sqrt(v[i]) / bc2_sqrt) + T(eps));
    p[i] = T(p[i] - step_size * T(m[i] / denom));
  }
}
}  // namespace

AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions options) : groups_(std::move(groups)), options_(options) {
  for (const ParamGroup& g : groups_) {
    for (const Tensor& p : g.params) check_param(p, "AdamW");
    state_.emplace_back(g.params.size());
  }
}

void AdamW::step() {
  CudaBatch on_gpu;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    ParamGroup& group = groups_[gi];
    for (size_t pi = 0; pi < group.params.size(); ++pi) {
      Tensor p = group.params[pi];
      if (!p.grad().defined()) continue;
      OptimizerState& st = state_[gi][pi];
      init_state(st, p, group, pi, "AdamW");
      const double factor = options_.t_total == -1 ? 1.0
                                                   : schedule_factor(options_.schedule,
                                                                     double(st.step) / options_.t_total, options_.warmup);
      const double lr = group.lr * factor;
      st.step += 1;  // torch increments before computing the bias corrections
      if (p.device() != Device::cpu) {
        on_gpu.add(p, grad_as_param(p, "AdamW"), st, lr, group.weight_decay, st.step);
        continue;
      }
      Tensor g = p.grad().dtype() == p.dtype() ? p.grad() : p.grad().to(p.dtype());
      if (p.dtype() == DType::f32)
        adamw_update<float>(p.data<float>(), g.data<float>(), st.m.data<float>(), st.v.data<float>(), p.numel(),
                            options_.b1, options_.b2, options_.eps, group.weight_decay, lr, st.step);
      else
        adamw_update<double>(p.data<double>(), g.data<double>(), st.m.data<double>(), st.v.data<double>(), p.numel(),
                             options_.b1, options_.b2, options_.eps, group.weight_decay, lr, st.step);
    }
  }
  on_gpu.flush_adamw(options_);
}

void AdamW::to(Device device) { move_state(state_, device); }

void AdamW::zero_grad() {
  for (ParamGroup& g : groups_)
    for (Tensor& p : g.params) p.zero_grad();
}

}  // namespace xclip::train
