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
#include <cmath>

#include "xclip/models/clip.hpp"
#include "xclip/train/precision.hpp"

namespace xclip::train {

namespace {

// The output of one fp16 kernel: its f32 result rounded to fp16 (round to nearest even).
inline float r(float x) { return f16_to_float(float_to_f16(x)); }
// A Python float / c10::Scalar as the kernel uses it: converted to at::Half (via float).
inline float half_scalar(double s) { return r(float(s)); }

// The constants of one parameter's update, each already an fp16 value.
struct Fp16Constants {
  float b1, one_minus_b1, b2, one_minus_b2, e, wd, lr;
  bool decay;
};

Fp16Constants constants(const BertAdamOptions& o, double weight_decay, double lr_t) {
  return {half_scalar(o.b1), half_scalar(1 - o.b1), half_scalar(o.b2), half_scalar(1 - o.b2),
          half_scalar(o.e),  half_scalar(weight_decay), half_scalar(lr_t), weight_decay > 0};
}

// One element of the original's update, in its op order; every line is one kernel (one Half
// result). p, g are fp16 values held in floats.
void update_element(float& p, float g, f16_t& m16, f16_t& v16, const Fp16Constants& k) {
  float m = f16_to_float(m16), v = f16_to_float(v16);
  m = r(m * k.b1);                                // next_m.mul_(b1)
  m = r(m + r(k.one_minus_b1 * g));               // .add_(grad, alpha=1-b1): alpha·g, then the sum
  v = r(v * k.b2);                                // next_v.mul_(b2)
  v = r(v + r(r(k.one_minus_b2 * g) * g));        // .addcmul_(g, g, value=1-b2): (value·g)·g, then +
  const float root = r(std::sqrt(v));             // next_v.sqrt()
  const float denom = r(root + k.e);              // + e
  float u = r(m / denom);                         // next_m / (...)
  if (k.decay) u = r(u + r(p * k.wd));            // update += wd * p.data: wd·p, then the sum
  const float step = r(u * k.lr);                 // update_with_lr = lr_scheduled * update
  p = r(p - step);                                // p.data.add_(-update_with_lr): negation is exact
  m16 = float_to_f16(m);
  v16 = float_to_f16(v);
}

// clip_grad_norm_(p, max_norm) of torch 1.7 on one fp16 gradient. The norm is the exact one
// rounded to fp16 (CUDA accumulates in f32 and rounds the result; these agree unless the f32 sum
// lands within an f32 ulp of an fp16 rounding boundary); the norm of the one-element stack is that
// value again. Then total + 1e-6, max_norm / (...) = reciprocal · max_norm, each rounded, and
// `if clip_coef < 1: grad.mul_(clip_coef)` with a rounded product.
void clip_fp16_gradient(std::vector<float>& g, double max_norm) {
  double squares = 0;
  for (float x : g) squares += double(x) * double(x);
  const float total = r(float(std::sqrt(squares)));
  const float denom = r(total + half_scalar(1e-6));
  const float coef = r(r(1.0f / denom) * half_scalar(max_norm));
  if (coef < 1)
    for (float& x : g) x = r(x * coef);
}

std::vector<float> rounded_gradient(const Tensor& p) {
  XCLIP_CHECK(p.grad().numel() == p.numel(), "BertAdamFp16: gradient ", p.grad().str(), " for parameter ", p.name(),
              " ", p.str());
  std::vector<float> g = p.grad().to_vector<float>();
  for (float& x : g) x = r(x);  // the original's fp16 autograd produced the gradient in fp16
  return g;
}

// The parameter's values; they must already be fp16 values (the update keeps them so, and a
// value that is not one means the parameter was never rounded as convert_weights rounds it).
std::vector<float> fp16_values(const Tensor& p) {
  std::vector<float> w = p.to_vector<float>();
  for (size_t i = 0; i < w.size(); ++i)
    XCLIP_CHECK(r(w[i]) == w[i] || std::isnan(w[i]), "BertAdamFp16: parameter ", p.name(), " element ", i, " = ",
                w[i], " is not an fp16 value; round the fp16 CLIP weights first "
                      "(Clip::round_official_fp16_parameters)");
  return w;
}

void store(Tensor& p, const std::vector<float>& w) {
  if (p.dtype() == DType::f32) {
    float* out = p.data<float>();
    for (size_t i = 0; i < w.size(); ++i) out[i] = w[i];
  } else {
    f16_t* out = p.data<f16_t>();
    for (size_t i = 0; i < w.size(); ++i) out[i] = float_to_f16(w[i]);
  }
}

// g *= c in g's own precision (f32 as torch's f32 mul_; f64 exact products of the f32 c).
void scale_in_place(Tensor& g, float c) {
  if (g.dtype() == DType::f32) {
    float* x = g.data<float>();
    for (int64_t i = 0; i < g.numel(); ++i) x[i] *= c;
  } else {
    XCLIP_CHECK(g.dtype() == DType::f64, "gradient scaling: unsupported gradient ", g.str());
    double* x = g.data<double>();
    for (int64_t i = 0; i < g.numel(); ++i) x[i] *= double(c);
  }
}

double scheduled_lr(const BertAdamOptions& o, double lr, int64_t step) {
  return o.t_total == -1 ? lr : lr * schedule_factor(o.schedule, double(step) / o.t_total, o.warmup);
}

// The parameter's official name: from `names` by storage identity, else its own name.
std::string name_of(const Tensor& p, const nn::NamedTensorList& names) {
  for (const auto& [name, t] : names)
    if (t.same_storage(p) && t.storage_offset() == p.storage_offset() && t.numel() == p.numel()) return name;
  XCLIP_CHECK(!p.name().empty(), "BertAdamFp16: a parameter ", p.str(),
              " has no name; pass model.named_parameters() so fp16 parameters can be told apart");
  return p.name();
}

// CPU-only by design (the fp16 emulation reads and writes host memory): a parameter on another
// device, at construction or moved there later, is refused by name.
void require_cpu(const ParamGroup& group) {
  for (const Tensor& p : group.params)
    XCLIP_CHECK(p.device() == Device::cpu, "BertAdamFp16: parameter ", p.name().empty() ? "(unnamed)" : p.name(),
                " of group ", group.name, " is on ", device_name(p.device()),
                "; this optimizer runs on the CPU only (use BertAdam for a model on the GPU)");
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

}  // namespace

bool is_official_fp16_name(const std::string& name) {
  return name.rfind("clip.", 0) == 0 && models::is_official_fp16_parameter(name.substr(5));
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
      XCLIP_CHECK(p.device() == Device::cpu && (p.dtype() == DType::f32 || p.dtype() == DType::f16),
                  "BertAdamFp16: fp16 parameter ", p.name(), " ", p.str(), " must be an f32 or f16 CPU tensor");
      fp16_values(p);
    }
    fp16_state_.emplace_back(g.params.size());
  }
  for (const ParamGroup& g : fp32_.groups()) require_cpu(g);
}

void BertAdamFp16::step_fp16(ParamGroup& group, Tensor& p, OptimizerState& st) {
  if (!st.m.defined()) {  // zeros_like(p) of an fp16 parameter: fp16 moments
    st.m = Tensor::zeros(p.shape(), DType::f16);
    st.v = Tensor::zeros(p.shape(), DType::f16);
  }
  std::vector<float> g = rounded_gradient(p);
  if (options_.max_grad_norm > 0) clip_fp16_gradient(g, options_.max_grad_norm);
  std::vector<float> w = fp16_values(p);
  const Fp16Constants k = constants(options_, group.weight_decay, scheduled_lr(options_, group.lr, st.step));
  f16_t* m = st.m.data<f16_t>();
  f16_t* v = st.v.data<f16_t>();
  for (size_t i = 0; i < w.size(); ++i) update_element(w[i], g[i], m[i], v[i], k);
  store(p, w);
  st.step += 1;
}

void BertAdamFp16::step() {
  for (const ParamGroup& g : fp16_groups_) require_cpu(g);
  for (const ParamGroup& g : fp32_.groups()) require_cpu(g);
  for (size_t gi = 0; gi < fp16_groups_.size(); ++gi) {
    ParamGroup& group = fp16_groups_[gi];
    for (size_t pi = 0; pi < group.params.size(); ++pi)
      if (group.params[pi].grad().defined()) step_fp16(group, group.params[pi], fp16_state_[gi][pi]);
  }
  fp32_.step();  // parameters are independent: the order between the two kinds does not matter
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
      std::vector<float> g = rounded_gradient(p);
      double s = 0;
      for (float x : g) s += double(x) * double(x);
      const double n = r(float(std::sqrt(s)));
      squares += n * n;
    } else {
      for (double x : p.grad().to_vector<double>()) squares += x * x;
    }
  }
  const float total = float(std::sqrt(squares));
  const float coef = float(max_norm) / (total + 1e-6f);  // an f32 tensor
  if (!(coef < 1)) return total;
  for (const auto& [name, p] : params) {
    if (!p.grad().defined()) continue;
    Tensor t = p;
    if (is_fp16(name)) {
      // grad.mul_(clip_coef) on an fp16 grad: the f32 coefficient is cast to Half, the product rounded.
      std::vector<float> g = rounded_gradient(p);
      const float c = half_scalar(coef);
      for (float& x : g) x = r(x * c);
      t.set_grad(Tensor::from_vector<float>(g, p.shape()).to(p.grad().dtype()));
    } else {
      scale_in_place(t.mutable_grad(), coef);
    }
  }
  return total;
}

}  // namespace xclip::train
