// BertAdam as modules/optimization.py of the original, per parameter p with gradient g:
//   clip ‖g‖ to max_grad_norm (this parameter alone)
//   m ← b1·m + (1 − b1)·g ;  v ← b2·v + (1 − b2)·g²
//   u ← m / (sqrt(v) + e)                      (no bias correction)
//   u ← u + wd·p                               (if the group's wd > 0)
//   lr_t ← lr · schedule(step / t_total)       (step before incrementing; lr if t_total = −1)
//   p ← p − lr_t·u ;  step ← step + 1
// Elementwise arithmetic follows PyTorch's op order in the parameter's own precision.
#include <cmath>

#include "xclip/train/optimizer.hpp"

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
  XCLIP_CHECK(p.device() == Device::cpu && (p.dtype() == DType::f32 || p.dtype() == DType::f64), who,
              ": parameter ", (p.name().empty() ? std::string("(unnamed)") : p.name()), " ", p.str(),
              " must be an f32/f64 CPU tensor here");
}
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
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    ParamGroup& group = groups_[gi];
    for (size_t pi = 0; pi < group.params.size(); ++pi) {
      Tensor p = group.params[pi];
      if (!p.grad().defined()) continue;
      OptimizerState& st = state_[gi][pi];
      if (!st.m.defined()) {
        st.m = Tensor::zeros(p.shape(), p.dtype());
        st.v = Tensor::zeros(p.shape(), p.dtype());
      }
      if (options_.max_grad_norm > 0) clip_grad_norm({p}, options_.max_grad_norm);
      Tensor g = p.grad().dtype() == p.dtype() ? p.grad() : p.grad().to(p.dtype());
      XCLIP_CHECK(g.shape() == p.shape(), "BertAdam: gradient ", g.str(), " for parameter ", p.name(), " ", p.str());
      const double lr_t =
          options_.t_total == -1
              ? group.lr
              : group.lr * schedule_factor(options_.schedule, double(st.step) / options_.t_total, options_.warmup);
      if (p.dtype() == DType::f32)
        bert_adam_update<float>(p.data<float>(), g.data<float>(), st.m.data<float>(), st.v.data<float>(), p.numel(),
                                options_.b1, options_.b2, options_.e, group.weight_decay, lr_t);
      else
        bert_adam_update<double>(p.data<double>(), g.data<double>(), st.m.data<double>(), st.v.data<double>(),
                                 p.numel(), options_.b1, options_.b2, options_.e, group.weight_decay, lr_t);
      st.step += 1;
    }
  }
}

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
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    ParamGroup& group = groups_[gi];
    for (size_t pi = 0; pi < group.params.size(); ++pi) {
      Tensor p = group.params[pi];
      if (!p.grad().defined()) continue;
      OptimizerState& st = state_[gi][pi];
      if (!st.m.defined()) {
        st.m = Tensor::zeros(p.shape(), p.dtype());
        st.v = Tensor::zeros(p.shape(), p.dtype());
      }
      const double factor = options_.t_total == -1 ? 1.0
                                                   : schedule_factor(options_.schedule,
                                                                     double(st.step) / options_.t_total, options_.warmup);
      const double lr = group.lr * factor;
      st.step += 1;  // torch increments before computing the bias corrections
      Tensor g = p.grad().dtype() == p.dtype() ? p.grad() : p.grad().to(p.dtype());
      if (p.dtype() == DType::f32)
        adamw_update<float>(p.data<float>(), g.data<float>(), st.m.data<float>(), st.v.data<float>(), p.numel(),
                            options_.b1, options_.b2, options_.eps, group.weight_decay, lr, st.step);
      else
        adamw_update<double>(p.data<double>(), g.data<double>(), st.m.data<double>(), st.v.data<double>(), p.numel(),
                             options_.b1, options_.b2, options_.eps, group.weight_decay, lr, st.step);
    }
  }
}

void AdamW::zero_grad() {
  for (ParamGroup& g : groups_)
    for (Tensor& p : g.params) p.zero_grad();
}

}  // namespace xclip::train
