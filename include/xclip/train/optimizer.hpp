// Optimizers behind one interface (Optimizer): BertAdam exactly as the original
// (modules/optimization.py: no bias correction, decoupled weight decay added to the update,
// per-parameter grad-norm clipping, the schedule evaluated at step/t_total before the step
// counter increments), torch.optim.AdamW beside it, and the official fp16 BertAdam
// (precision.hpp); learning-rate schedules; global grad-norm clipping as
// torch.nn.utils.clip_grad_norm_. The update arithmetic is a kernel twin (cpu:: / cuda::
// bert_adam_step, adamw_step, bert_adam_fp16_step), dispatched on the parameters' device.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "xclip/core/tensor.hpp"

namespace xclip::train {

// ---- schedules (src/train/schedule.cpp) ----------------------------------------------------------
// x = step / t_total. Exactly the original's functions:
//   warmup_cosine:   x/w if x < w else 0.5·(1 + cos(π·x))     (cosine of the global progress)
//   warmup_constant: x/w if x < w else 1
//   warmup_linear:   x/w if x < w else max((x − 1)/(w − 1), 0)
//   none:            1
enum class Schedule { warmup_cosine, warmup_linear, warmup_constant, none };
double schedule_factor(Schedule schedule, double x, double warmup);
// lr · schedule_factor(step / t_total); lr itself when t_total is −1 (no schedule).
double scheduled_lr(double lr, Schedule schedule, int64_t step, double t_total, double warmup);
Schedule schedule_from_name(const std::string& name);  // "warmup_cosine", ...
const char* schedule_name(Schedule s);

// ---- clipping (src/train/grad_clip.cpp) -------------------------------------------------------------
// torch.nn.utils.clip_grad_norm_(params, max_norm): total = ‖(‖g_i‖)_i‖₂ over defined grads;
// every grad is multiplied by min(max_norm / (total + 1e-6), 1). Returns the total norm.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);
// Its two halves, on the gradient's own device: Σ g² in double (any floating dtype), and
// g ← g·c in g's dtype with the product formed in double.
double grad_sum_squares(const Tensor& g);
void scale_grad(Tensor& g, double c);

// ---- parameter groups --------------------------------------------------------------------------------
struct ParamGroup {
  std::string name;           // e.g. "decay_clip"
  std::vector<Tensor> params; // leaves; their .grad is read, their storage updated in place
  double lr = 1e-4;
  double weight_decay = 0.0;
};

// Made at a parameter's first step on the parameter's device. It does not follow the parameter
// by itself: after model.to(d), call optimizer.to(d); a step with the state on another device
// than its parameter throws, naming the parameter.
struct OptimizerState {
  int64_t step = 0;  // per parameter, as the original keeps it
  Tensor m, v;       // same dtype as the parameter (as zeros_like in the original)
};

// ---- the interface ---------------------------------------------------------------------------------------
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // One update of every parameter that has a gradient (parameters without one are skipped, as
  // frozen parameters are in the original).
  virtual void step() = 0;
  virtual void zero_grad() = 0;
  // Per group, the scheduled learning rate of the next step.
  virtual std::vector<double> current_lr() const = 0;
  // The state of one parameter (found by identity), what a checkpoint saves and restores;
  // nullptr when this optimizer does not update it.
  virtual OptimizerState* state_for(const Tensor& param) = 0;
  // Moves every state tensor to `device`, values and step counts kept; a no-op for state already
  // there. Pair it with the model's move: model.to(d); optimizer.to(d).
  virtual void to(Device device) = 0;
  virtual std::string name() const = 0;
};

// ---- BertAdam (src/train/bert_adam.cpp) --------------------------------------------------------------
struct BertAdamOptions {
  double warmup = 0.1;   // warmup proportion; schedules use it
  double t_total = -1;   // total optimisation steps (a float, as the original); -1 = constant lr
  Schedule schedule = Schedule::warmup_cosine;
  double b1 = 0.9, b2 = 0.98, e = 1e-6;
  double max_grad_norm = 1.0;  // per-parameter clipping; <= 0 disables
};

class BertAdam : public Optimizer {
 public:
  BertAdam(std::vector<ParamGroup> groups, BertAdamOptions options);
  void step() override;
  void zero_grad() override;
  std::vector<double> current_lr() const override;
  OptimizerState* state_for(const Tensor& param) override;
  void to(Device device) override;
  std::string name() const override { return "BertAdam"; }
  const std::vector<ParamGroup>& groups() const { return groups_; }
  const BertAdamOptions& options() const { return options_; }
  // Per-parameter state in group order (for checkpoints); load_state expects the same layout.
  std::vector<std::vector<OptimizerState>>& state() { return state_; }

 private:
  std::vector<ParamGroup> groups_;
  BertAdamOptions options_;
  std::vector<std::vector<OptimizerState>> state_;
};

// ---- AdamW as torch.optim.AdamW (src/train/bert_adam.cpp) ----------------------------------------------
struct AdamWOptions {
  double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  double warmup = 0.0, t_total = -1;
  Schedule schedule = Schedule::none;
};

class AdamW : public Optimizer {
 public:
  AdamW(std::vector<ParamGroup> groups, AdamWOptions options);
  void step() override;  // p ← p·(1 − lr·wd); Adam with bias correction; lr = group lr · schedule
  void zero_grad() override;
  std::vector<double> current_lr() const override;
  OptimizerState* state_for(const Tensor& param) override;
  void to(Device device) override;
  std::string name() const override { return "AdamW"; }
  std::vector<std::vector<OptimizerState>>& state() { return state_; }

 private:
  std::vector<ParamGroup> groups_;
  AdamWOptions options_;
  std::vector<std::vector<OptimizerState>> state_;
};

}  // namespace xclip::train
