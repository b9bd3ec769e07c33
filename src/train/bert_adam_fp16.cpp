// BertAdam on fp16 parameters as the original ran it (PyTorch 1.7, CUDA): see precision.hpp.
//
// Which rounding happens where. The 1.7 CUDA kernels compute every op on at::Half: a Python-float
// operand (b1, b2, e, wd, lr_t) or a Scalar argument (alpha, value) is converted to Half before
// use (scalar_value<scalar_t>, Scalar::to<scalar_t>()), and each Half binary operator computes in
// f32 and rounds its result to Half. So inside one kernel `a + alpha*b` rounds twice (the product,
// then the sum) and `a + alpha*b*c` three times. Torch 1.13's CPU Half kernels do the same for mul,
// add and div (checked bit for bit); tools/reference/optimizer_fp16_reference.py notes the three
// ops where it differs or has no Half kernel and runs those as the CUDA kernel does.
// Consequences worth knowing (verified against that reference):
//   * fp16(1e-6) = 1.0133e-6 (a subnormal) is the eps in the denominator;
//   * lr_t itself is rounded to fp16 before it multiplies the update: at the CLIP lr 1e-7 it is
//     a multiple of 2^-24 = 5.96e-8 (1e-7 → 1.19e-7; below 2.98e-8, i.e. schedule < 0.298 → 0);
//   * with v == 0 (|g| ≲ 1.2e-3 from the start) the step is fp16(lr_t)·m/1.0133e-6: momentum SGD.
// The per-element update and the per-parameter clip are the kernel bert_adam_fp16_step
// (src/kernels/optimizer_fp16.cpp, its CUDA twin cuda/optimizer_fp16.cu, the shared arithmetic
// xclip/kernels/fp16_rounding.hpp); this file gathers the parameters into one call per step.
#include <cmath>

#include "xclip/kernels/dispatch.hpp"
#include "xclip/kernels/fp16_rounding.hpp"
#include "xclip/models/clip.hpp"
#include "xclip/train/precision.hpp"

namespace xclip::train {

namespace {
using fp16_rounding::round_f16;

const char* label(const Tensor& p) { return p.name().empty() ? "(unnamed)" : p.name().c_str(); }

// The gradient as an f32 tensor on its parameter's device (the kernels read f32).
Tensor f32_gradient(const Tensor& p, const char* who) {
  XCLIP_CHECK(p.grad().numel() == p.numel() && p.grad().device() == p.device(), who, ": gradient ", p.grad().str(),
              " for parameter ", label(p), " ", p.str());
  return p.grad().dtype() == DType::f32 ? p.grad() : p.grad().to(DType::f32);
}

// The parameter's values must already be fp16 values (the update keeps them so, and a value that
// is not one means the parameter was never rounded as convert_weights rounds it). An f16 tensor
// holds nothing else.
void check_fp16_values(const Tensor& p) {
  if (p.dtype() == DType::f16) return;
  const int64_t bad = k::first_non_f16_value(p.device(), p.data<float>(), p.numel());
  if (bad < 0) return;
  const float value = p.to(Device::cpu).to_vector<float>()[size_t(bad)];
  throw Error(format("BertAdamFp16: parameter ", label(p), " element ", bad, " = ", value,
                     " is not an fp16 value; round the fp16 CLIP weights first "
                     "(Clip::round_official_fp16_parameters)"));
}

double scheduled_lr(const BertAdamOptions& o, double lr, int64_t step) {
  return train::scheduled_lr(lr, o.schedule, step, o.t_total, o.warmup);
}

// The parameter's official name: from `names` by storage identity, else its own name.
std::string name_of(const Tensor& p, const nn::NamedTensorList& names) {
  for (const auto& [name, t] : names)
    if (t.same_storage(p) && t.storage_offset() == p.storage_offset() && t.numel() == p.numel()) return name;
  XCLIP_CHECK(!p.name().empty(), "BertAdamFp16: a parameter ", p.str(),
              " has no name; pass model.named_parameters() so fp16 parameters can be told apart");
  return p.name();
}

// The one device of all parameters, fp16 and fp32 (the fp16 step is one launch on it): a parameter
// elsewhere, at construction or moved there later, is refused by name. CPU when there is none.
Device common_device(const std::vector<ParamGroup>& fp16, const std::vector<ParamGroup>& fp32) {
  const Tensor* first = nullptr;
  for (const auto* groups : {&fp16, &fp32})
    for (const ParamGroup& g : *groups)
      for (const Tensor& p : g.params) {
        if (!first) first = &p;
        XCLIP_CHECK(p.device() == first->device(), "BertAdamFp16: parameter ", label(p), " of group ", g.name,
                    " is on ", device_name(p.device()), " but parameter ", label(*first), " is on ",
                    device_name(first->device()), "; all parameters must be on one device");
      }
  return first ? first->device() : Device::cpu;
}

// zeros_like(p) of an fp16 parameter: fp16 moments, on the parameter's device. State that does not
// fit (another device: the model moved but the optimizer did not; another shape or dtype, set
// through fp16_state()) is refused before a kernel could read the wrong memory.
void init_fp16_state(OptimizerState& st, const Tensor& p) {
  if (!st.m.defined() && !st.v.defined()) {
    st.m = Tensor::zeros(p.shape(), DType::f16, p.device());
    st.v = Tensor::zeros(p.shape(), DType::f16, p.device());
    return;
  }
  for (const Tensor* moment : {&st.m, &st.v}) {
    XCLIP_CHECK(moment->defined(), "BertAdamFp16: parameter ", label(p), " has only one of its moments m, v");
    XCLIP_CHECK(moment->device() == p.device(), "BertAdamFp16: parameter ", label(p), " is on ",
                device_name(p.device()), " but its moments are on ", device_name(moment->device()),
                "; move the optimizer with the model (optimizer.to(", device_name(p.device()), "))");
    XCLIP_CHECK(moment->dtype() == DType::f16 && moment->shape() == p.shape(), "BertAdamFp16: moment ",
                moment->str(), " of parameter ", label(p), " is not an f16 tensor of the parameter's shape ", p.str());
  }
}

// The kernel's view of one fp16 parameter (its scalars are set by the caller).
cpu::Fp16AdamSlot fp16_slot(Tensor& p, const Tensor& g, OptimizerState& st) {
  cpu::Fp16AdamSlot slot;
  if (p.dtype() == DType::f32)
    slot.param = p.data<float>();
  else
    slot.param_f16 = p.data<f16_t>();
  slot.grad = g.data<float>();
  slot.m = st.m.data<f16_t>();
  slot.v = st.v.data<f16_t>();
  slot.numel = p.numel();
  return slot;
}

// Splits the groups: same names and hyper-parameters, parameters by is_fp16 of their name.
std::vector<ParamGroup> select(const std::vector<ParamGroup>& groups, const nn::NamedTensorList& names,
                               const BertAdamFp16::NamePredicate& is_fp16, bool want_fp16) {
  std::vector<ParamGroup> out;
  for (const ParamGroup& g : groups) {
    ParamGroup part{g.name, {}, g.lr, g.weight_decay};
    for (const Tensor& p : g.params) {
      const std::string name = name_of(p, names);
      if (is_fp16(name) != want_fp16) continue;
      part.params.push_back(p);
      if (want_fp16 && p.name().empty()) part.params.back().set_name(name);  // for error messages
    }
    out.push_back(std::move(part));
  }
  return out;
}

// grad.mul_(clip_coef) on an fp16 grad: the f32 coefficient is cast to Half (c), the product is
// rounded. The gradient's values become fp16 values, in its own dtype.
void scale_fp16_gradient(Tensor& p, float c) {
  Tensor g = f32_gradient(p, "clip_grad_norm_official_fp16");  // the gradient itself, or an f32 copy
  k::f16_scale(g.device(), g.data<float>(), g.numel(), c);
  if (!g.is_same(p.grad())) p.set_grad(g.to(p.grad().dtype()));
}

// g *= c in g's own precision (f32 as torch's f32 mul_; f64 exact products of the f32 c): the
// product formed in double is exact for both, so scale_grad's single rounding is torch's.
void scale_fp32_gradient(Tensor& g, float c) {
  XCLIP_CHECK(g.dtype() == DType::f32 || g.dtype() == DType::f64, "gradient scaling: unsupported gradient ", g.str());
  scale_grad(g, double(c));
}

}  // namespace

bool is_official_fp16_name(const std::string& name) {
  return name.starts_with("clip.") && models::is_official_fp16_parameter(name.substr(5));
}

BertAdamFp16::BertAdamFp16(const std::vector<ParamGroup>& groups, BertAdamOptions options, NamePredicate is_fp16)
    : BertAdamFp16(groups, options, nn::NamedTensorList{}, std::move(is_fp16)) {}

BertAdamFp16::BertAdamFp16(const std::vector<ParamGroup>& groups, BertAdamOptions options,
                           const nn::NamedTensorList& names, NamePredicate is_fp16)
    : options_(options),
      fp16_groups_(select(groups, names, is_fp16, true)),
      fp32_(select(groups, names, is_fp16, false), options) {
  for (const ParamGroup& g : fp16_groups_) {
    for (const Tensor& p : g.params) {
      XCLIP_CHECK(p.dtype() == DType::f32 || p.dtype() == DType::f16, "BertAdamFp16: fp16 parameter ", p.name(),
                  " ", p.str(), " must be an f32 or f16 tensor");
      check_fp16_values(p);
    }
    fp16_state_.emplace_back(g.params.size());
  }
  common_device(fp16_groups_, fp32_.groups());
}

void BertAdamFp16::step() {
  const Device device = common_device(fp16_groups_, fp32_.groups());
  std::vector<cpu::Fp16AdamSlot> slots;
  std::vector<Tensor> gradients;  // the f32 gradients the slots point at, alive until the launch
  std::vector<OptimizerState*> stepped;
  for (size_t gi = 0; gi < fp16_groups_.size(); ++gi) {
    const ParamGroup& group = fp16_groups_[gi];
    for (size_t pi = 0; pi < group.params.size(); ++pi) {
      Tensor p = group.params[pi];
      if (!p.grad().defined()) continue;
      OptimizerState& st = fp16_state_[gi][pi];
      init_fp16_state(st, p);
      // On the CPU the values are checked every step, as they were at construction; on a GPU
      // only at construction (a check there costs a synchronisation per parameter).
      if (device == Device::cpu) check_fp16_values(p);
      gradients.push_back(f32_gradient(p, "BertAdamFp16"));
      slots.push_back(fp16_slot(p, gradients.back(), st));
      cpu::set_fp16_adam_scalars(slots.back(), scheduled_lr(options_, group.lr, st.step), group.weight_decay);
      stepped.push_back(&st);
    }
  }
  if (!slots.empty())
    k::bert_adam_fp16_step(device, slots.data(), int64_t(slots.size()),
                           cpu::fp16_adam_constants(options_.b1, options_.b2, options_.e, options_.max_grad_norm));
  for (OptimizerState* st : stepped) st->step += 1;  // after every check passed: a refused step changes nothing
  fp32_.step();  // parameters are independent: the order between the two kinds does not matter
}

void BertAdamFp16::to(Device device) {
  for (auto& group : fp16_state_)
    for (OptimizerState& st : group) {
      if (st.m.defined()) st.m = st.m.to(device);
      if (st.v.defined()) st.v = st.v.to(device);
    }
  fp32_.to(device);
}

void BertAdamFp16::zero_grad() {
  for (ParamGroup& g : fp16_groups_)
    for (Tensor& p : g.params) p.zero_grad();
  fp32_.zero_grad();
}

std::vector<double> BertAdamFp16::current_lr() const {
  // Parameters of one group step together; a group's fp16 parameters decide when any has stepped.
  std::vector<double> lrs = fp32_.current_lr();
  for (size_t gi = 0; gi < fp16_groups_.size(); ++gi) {
    int64_t step = -1;
    for (const OptimizerState& s : fp16_state_[gi]) step = std::max(step, s.step);
    if (step > 0) lrs[gi] = scheduled_lr(options_, fp16_groups_[gi].lr, step);
  }
  return lrs;
}

OptimizerState* BertAdamFp16::state_for(const Tensor& param) {
  for (size_t g = 0; g < fp16_groups_.size(); ++g)
    for (size_t i = 0; i < fp16_groups_[g].params.size(); ++i)
      if (fp16_groups_[g].params[i].is_same(param)) return &fp16_state_[g][i];
  return fp32_.state_for(param);
}

int64_t BertAdamFp16::num_fp16_parameters() const {
  int64_t n = 0;
  for (const ParamGroup& g : fp16_groups_) n += int64_t(g.params.size());
  return n;
}

// ---- the training loop's global clip over fp16 and fp32 gradients ----------------------------------
double clip_grad_norm_official_fp16(const nn::NamedTensorList& params, double max_norm,
                                    const BertAdamFp16::NamePredicate& is_fp16) {
  // torch 1.7: norms = [torch.norm(g)] (fp16 for fp16 grads), stacked (promoted to f32), normed.
  double squares = 0;
  for (const auto& [name, p] : params) {
    if (!p.grad().defined()) continue;
    if (is_fp16(name)) {
      const Tensor g = f32_gradient(p, "clip_grad_norm_official_fp16");
      const double n = k::f16_norm(g.device(), g.data<float>(), g.numel());
      squares += n * n;
    } else {
      squares += grad_sum_squares(p.grad());
    }
  }
  const float total = float(std::sqrt(squares));
  const float coef = float(max_norm) / (total + 1e-6f);  // an f32 tensor
  if (!(coef < 1)) return total;
  for (const auto& [name, p] : params) {
    if (!p.grad().defined()) continue;
    Tensor t = p;
    if (is_fp16(name))
      scale_fp16_gradient(t, round_f16(coef));
    else
      scale_fp32_gradient(t.mutable_grad(), coef);
  }
  return total;
}

}  // namespace xclip::train
