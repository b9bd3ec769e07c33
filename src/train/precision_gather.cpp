// The world-size gradient scale of the original's multi-GPU run (xclip-spec-detailed.md §5.5).
#include <algorithm>
#include <array>

#include "xclip/kernels/dispatch.hpp"
#include "xclip/train/precision.hpp"

namespace xclip::train {

namespace {

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// Parameters used only after the all-gather: each rank computes the full [B, B] loss from the
// gathered features, so their local gradient is already the full one and DDP's average keeps it.
constexpr std::array<const char*, 9> kAfterGather = {
    "clip.logit_scale",  "global_mat_weight", "word_logit_weight", "frame_logit_weight", "local_mat_weight",
    "frame_mat_weight",  "word_mat_weight",   "frame_mat_weight2", "word_mat_weight2"};

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

GatherSide gather_side(const std::string& name) {
  if (std::find(kAfterGather.begin(), kAfterGather.end(), name) != kAfterGather.end()) return GatherSide::after;
  if (starts_with(name, "clip.") || starts_with(name, "transformerClip.") ||
      starts_with(name, "frame_position_embeddings."))
    return GatherSide::before;
  throw Error(format("gather_side: '", name,
                     "' is not an X-CLIP parameter name (clip.*, transformerClip.*, frame_position_embeddings.*, "
                     "or one of the eight similarity matrices)"));
}

void scale_pre_gather_gradients(const nn::NamedTensorList& params, int world_size, bool official_fp16) {
  XCLIP_CHECK(world_size >= 1, "scale_pre_gather_gradients: world_size must be >= 1, got ", world_size);
  for (const auto& [name, p] : params) {
    if (gather_side(name) == GatherSide::after || !p.grad().defined() || world_size == 1) continue;
    Tensor t = p;
    if (p.grad().dtype() == DType::f16) {  // an fp16 gradient tensor: divide its values in place
      Tensor g = p.grad().to(DType::f32);
      divide_gradient(g, world_size, true);
      t.set_grad(g.to(DType::f16));
    } else {
      divide_gradient(t.mutable_grad(), world_size, official_fp16 && is_official_fp16_name(name));
    }
  }
}

}  // namespace xclip::train
