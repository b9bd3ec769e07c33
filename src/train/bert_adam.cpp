// BertAdam and AdamW (optimizer.hpp): the per-parameter bookkeeping (state, schedule, device
// checks). The element updates, BertAdam's per-parameter clipping included, are the kernel twins
// cpu:: / cuda:: bert_adam_step and adamw_step (src/kernels/optimizer.cpp, cuda/optimizer.cu),
// one call per device and element type for all the parameters of a step.
#include <cmath>

#include "xclip/kernels/dispatch.hpp"
#include "xclip/train/optimizer.hpp"

namespace xclip::train {

namespace {
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

// The parameters of one step, by device and element type, updated by one kernel-twin call each.
class SlotBatch {
 public:
  void add(Tensor& p, const Tensor& g, OptimizerState& st, double lr, double wd, int64_t step) {
    const size_t d = p.device() == Device::cpu ? 0 : 1;
    if (p.dtype() == DType::f32)
      f32_[d].push_back(slot<float>(p, g, st, lr, wd, step));
    else
      f64_[d].push_back(slot<double>(p, g, st, lr, wd, step));
  }
  void flush_bert_adam(const BertAdamOptions& o) {
    for (size_t d = 0; d < 2; ++d) {
      const Device dev = d == 0 ? Device::cpu : Device::cuda;
      if (!f32_[d].empty())
        k::bert_adam_step<float>(dev, f32_[d].data(), int64_t(f32_[d].size()), o.b1, o.b2, o.e, o.max_grad_norm);
      if (!f64_[d].empty())
        k::bert_adam_step<double>(dev, f64_[d].data(), int64_t(f64_[d].size()), o.b1, o.b2, o.e, o.max_grad_norm);
    }
  }
  void flush_adamw(const AdamWOptions& o) {
    for (size_t d = 0; d < 2; ++d) {
      const Device dev = d == 0 ? Device::cpu : Device::cuda;
      if (!f32_[d].empty()) k::adamw_step<float>(dev, f32_[d].data(), int64_t(f32_[d].size()), o.b1, o.b2, o.eps);
      if (!f64_[d].empty()) k::adamw_step<double>(dev, f64_[d].data(), int64_t(f64_[d].size()), o.b1, o.b2, o.eps);
    }
  }

 private:
  template <class T>
  static cpu::AdamSlot<T> slot(Tensor& p, const Tensor& g, OptimizerState& st, double lr, double wd, int64_t step) {
    cpu::AdamSlot<T> s;
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
  std::vector<cpu::AdamSlot<float>> f32_[2];  // [cpu, cuda]
  std::vector<cpu::AdamSlot<double>> f64_[2];
};

OptimizerState* find_state(const std::vector<ParamGroup>& groups, std::vector<std::vector<OptimizerState>>& state,
                           const Tensor& param) {
  for (size_t g = 0; g < groups.size() && g < state.size(); ++g)
    for (size_t i = 0; i < groups[g].params.size() && i < state[g].size(); ++i)
      if (groups[g].params[i].is_same(param)) return &state[g][i];
  return nullptr;
}

// Every parameter that has a gradient, with its state made or checked, its lr at its current step
// (the schedule before the step counter increments, as both optimizers do) and its step count
// incremented (AdamW's bias correction reads the new count; BertAdam has none).
SlotBatch collect_step(std::vector<ParamGroup>& groups, std::vector<std::vector<OptimizerState>>& state,
                       Schedule schedule, double t_total, double warmup, const char* who) {
  SlotBatch batch;
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    ParamGroup& group = groups[gi];
    for (size_t pi = 0; pi < group.params.size(); ++pi) {
      Tensor p = group.params[pi];
      if (!p.grad().defined()) continue;
      OptimizerState& st = state[gi][pi];
      init_state(st, p, group, pi, who);
      const double lr = scheduled_lr(group.lr, schedule, st.step, t_total, warmup);
      const Tensor g = grad_as_param(p, who);  // checked before the count moves
      st.step += 1;
      batch.add(p, g, st, lr, group.weight_decay, st.step);
    }
  }
  return batch;
}

// Per group, the lr the next step would use (the largest step count of its parameters).
std::vector<double> group_lrs(const std::vector<ParamGroup>& groups, const std::vector<std::vector<OptimizerState>>& state,
                              Schedule schedule, double t_total, double warmup) {
  std::vector<double> lrs;
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    int64_t step = 0;
    for (const auto& s : state[gi]) step = std::max(step, s.step);
    lrs.push_back(scheduled_lr(groups[gi].lr, schedule, step, t_total, warmup));
  }
  return lrs;
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
  return group_lrs(groups_, state_, options_.schedule, options_.t_total, options_.warmup);
}

OptimizerState* BertAdam::state_for(const Tensor& param) { return find_state(groups_, state_, param); }

void BertAdam::step() {
  collect_step(groups_, state_, options_.schedule, options_.t_total, options_.warmup, "BertAdam").flush_bert_adam(options_);
}

void BertAdam::to(Device device) { move_state(state_, device); }

void BertAdam::zero_grad() {
  for (ParamGroup& g : groups_)
    for (Tensor& p : g.params) p.zero_grad();
}

// ---- AdamW ---------------------------------------------------------------------------------------------
AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions options) : groups_(std::move(groups)), options_(options) {
  for (const ParamGroup& g : groups_) {
    for (const Tensor& p : g.params) check_param(p, "AdamW");
    state_.emplace_back(g.params.size());
  }
}

void AdamW::step() {
  collect_step(groups_, state_, options_.schedule, options_.t_total, options_.warmup, "AdamW").flush_adamw(options_);
}

std::vector<double> AdamW::current_lr() const {
  return group_lrs(groups_, state_, options_.schedule, options_.t_total, options_.warmup);
}

OptimizerState* AdamW::state_for(const Tensor& param) { return find_state(groups_, state_, param); }

void AdamW::to(Device device) { move_state(state_, device); }

void AdamW::zero_grad() {
  for (ParamGroup& g : groups_)
    for (Tensor& p : g.params) p.zero_grad();
}

}  // namespace xclip::train
