// Learning-rate schedules of the original optimization.py.
#include <cmath>

#include "xclip/train/optimizer.hpp"

namespace xclip::train {

double schedule_factor(Schedule s, double x, double warmup) {
  if (s == Schedule::none) return 1.0;
  if (x < warmup) return x / warmup;
  switch (s) {
    case Schedule::warmup_cosine: return 0.5 * (1.0 + std::cos(M_PI * x));
    case Schedule::warmup_constant: return 1.0;
    case Schedule::warmup_linear: return std::max((x - 1.0) / (warmup - 1.0), 0.0);
    case Schedule::none: break;
  }
  return 1.0;
}

double scheduled_lr(double lr, Schedule schedule, int64_t step, double t_total, double warmup) {
  return t_total == -1 ? lr : lr * schedule_factor(schedule, double(step) / t_total, warmup);
}

Schedule schedule_from_name(const std::string& name) {
  if (name == "warmup_cosine") return Schedule::warmup_cosine;
  if (name == "warmup_linear") return Schedule::warmup_linear;
  if (name == "warmup_constant") return Schedule::warmup_constant;
  if (name == "none") return Schedule::none;
  throw Error(format("unknown schedule '", name, "' (warmup_cosine, warmup_linear, warmup_constant, none)"));
}

const char* schedule_name(Schedule s) {
  switch (s) {
    case Schedule::warmup_cosine: return "warmup_cosine";
    case Schedule::warmup_linear: return "warmup_linear";
    case Schedule::warmup_constant: return "warmup_constant";
    case Schedule::none: return "none";
  }
  return "?";
}

}  // namespace xclip::train
