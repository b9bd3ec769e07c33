// What the trainer takes from the model's precision: the optimizer, the global clip, and the
// world-size gradient scale of the original's multi-GPU run (xclip-spec-detailed.md §5.5).
#include <memory>

#include "xclip/kernels/dispatch.hpp"
#include "xclip/train/precision.hpp"

namespace xclip::train {

namespace {

// g ← g / world_size, rounded to fp16 before (the fp16 autograd output) and after (DDP's div_ on
// the fp16 bucket) when the parameter is fp16. f32/f64: one correctly rounded division. On the
// gradient's own device; an f64 gradient on a GPU goes through a host copy (no f64 kernel).
void divide_gradient(Tensor& g, int world_size, bool fp16) {
  if (g.dtype() == DType::f64) {
    Tensor h = g.device() == Device::cpu ? g : g.to(Device::cpu);
    double* x = h.data<double>();
    for (int64_t i = 0; i < h.numel(); ++i) x[i] /= world_size;
    if (!h.is_same(g)) g.copy_(h);
    return;
  }
  XCLIP_CHECK(g.dtype() == DType::f32, "scale_pre_gather_gradients: unsupported gradient ", g.str());
  k::divide_by(g.device(), g.data<float>(), g.numel(), float(world_size), fp16);
}

}  // namespace

void scale_pre_gather_gradients(const models::RetrievalModel& model, int world_size) {
  XCLIP_CHECK(world_size >= 1, "scale_pre_gather_gradients: world_size must be >= 1, got ", world_size);
  if (world_size == 1) return;
  const bool official_fp16 = model.clip.precision() == models::ClipPrecision::official_fp16;
  for (const auto& [name, p] : model.named_parameters()) {
    if (!p.grad().defined()) continue;
    const models::ParamRole role = model.param_role(name);
    if (role.after_gather) continue;
    Tensor t = p;
    if (p.grad().dtype() == DType::f16) {  // an fp16 gradient tensor: divide its values in place
      Tensor g = p.grad().to(DType::f32);
      divide_gradient(g, world_size, true);
      t.set_grad(g.to(DType::f16));
    } else {
      divide_gradient(t.mutable_grad(), world_size, official_fp16 && role.fp16);
    }
  }
}

namespace {
bool official_fp16(const models::RetrievalModel& model) {
  return model.clip.precision() == models::ClipPrecision::official_fp16;
}

BertAdamFp16::NamePredicate fp16_role(const models::RetrievalModel& model) {
  return [&model](const std::string& name) { return model.param_role(name).fp16; };
}
}  // namespace

std::unique_ptr<Optimizer> make_optimizer(const models::RetrievalModel& model, std::vector<ParamGroup> groups,
                                          const BertAdamOptions& options) {
  if (official_fp16(model))
    return std::make_unique<BertAdamFp16>(groups, options, model.named_parameters(), fp16_role(model));
  return std::make_unique<BertAdam>(std::move(groups), options);
}

double clip_global_grad_norm(const models::RetrievalModel& model, double max_norm) {
  if (official_fp16(model)) return clip_grad_norm_official_fp16(model.named_parameters(), max_norm, fp16_role(model));
  return clip_grad_norm(model.parameters(), max_norm);
}

}  // namespace xclip::train
