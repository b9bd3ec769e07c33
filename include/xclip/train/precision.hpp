// Training precision of the original run (xclip-spec-detailed.md §3.2, §5.5):
//  * BertAdamFp16: the original's BertAdam as it ran on the fp16 CLIP weights (fp16 gradients,
//    fp16 moments, every elementwise op rounded to fp16 in PyTorch 1.7's order); every other
//    parameter gets the ordinary fp32 BertAdam. This is --official_fp16.
//  * scale_pre_gather_gradients: the 1/world_size factor the 4-GPU (8 for ActivityNet) all-gather
//    + DDP average puts on the gradients of everything before the gather.
//
// The trainer picks them from the model's precision (ClipPrecision::official_fp16, set when the
// model is built: models/build.hpp rounds the CLIP weights as convert_weights does) and from
// TrainOptions::world_size_grad_scale; the model's ParamRole says which parameter is fp16 and which
// is used after the all-gather:
//   auto opt = make_optimizer(model, groups, options);       // BertAdamFp16 for an fp16 model
//   per step: loss.backward();
//             scale_pre_gather_gradients(model, 4);            // rounds fp16 gradients as DDP does
//             clip_global_grad_norm(model, 1.0);               // the loop's global clip, fp16-aware
//             opt->step(); opt->zero_grad();
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "xclip/models/model.hpp"
#include "xclip/nn/module.hpp"
#include "xclip/train/optimizer.hpp"

namespace xclip::train {

// True for the official names convert_weights(clip) stores as fp16: "clip." followed by a name
// models::is_official_fp16_parameter accepts (conv1, attention in/out projections, MLP linears,
// text_projection, visual.proj). CLIP's embeddings, LayerNorms and logit_scale are fp32.
bool is_official_fp16_name(const std::string& name);

// How the fp16 CLIP weights are held: as the model holds them in ClipPrecision::official_fp16, in
// f32 tensors whose values are exactly fp16 values (an f16 tensor is accepted too). BertAdamFp16
// reads the f32 gradient our autograd produced, rounds it to fp16 (the dtype the original's fp16
// autograd produced it in), computes every op of the update as an fp16 kernel would (f32
// arithmetic, result rounded to fp16) and writes back fp16 values, so the parameter stays exactly
// fp16 after every step. The moments are f16 tensors (zeros_like of an fp16 parameter). This is
// equivalent to fp16 storage because each emulated op is rounded exactly where PyTorch rounds
// (verified bit for bit against torch running the original code on fp16 tensors,
// tests/train/test_optimizer_fp16.cpp). All parameters, fp16 and fp32, must be on one device, the
// CPU or a GPU (a parameter elsewhere throws, at construction or at a step after a move); the
// moments live there, and a step is one bert_adam_fp16_step launch for the fp16 parameters plus
// the ordinary BertAdam for the fp32 ones. The CUDA step gives the CPU's bits exactly.
class BertAdamFp16 : public Optimizer {
 public:
  using NamePredicate = std::function<bool(const std::string& name)>;
  // `is_fp16(name)` selects the parameters updated in fp16 (default: the official set); those must
  // hold fp16 values (round them first, e.g. Clip::round_official_fp16_parameters). The name of a
  // group's parameter is looked up in `names` (model.named_parameters(); the tensors a Module
  // returns do not carry their dotted name) by identity of storage, else it is p.name(). A
  // parameter with neither throws, so that none is silently left on the fp32 rule.
  BertAdamFp16(const std::vector<ParamGroup>& groups, BertAdamOptions options, const nn::NamedTensorList& names,
               NamePredicate is_fp16 = is_official_fp16_name);
  // The same with every parameter's name taken from p.name(), which must then be the official
  // dotted name (a Module names its tensors relative to whichever module listed them first).
  BertAdamFp16(const std::vector<ParamGroup>& groups, BertAdamOptions options,
               NamePredicate is_fp16 = is_official_fp16_name);

  void step() override;       // every parameter with a gradient; the others are skipped (frozen)
  void zero_grad() override;  // all parameters of both kinds
  void to(Device device) override;  // moves the moments of both kinds, as BertAdam::to (after the model)
  std::vector<double> current_lr() const override;  // per group, as BertAdam::current_lr
  OptimizerState* state_for(const Tensor& param) override;  // fp16 state (f16 moments) or fp32
  std::string name() const override { return "BertAdamFp16"; }

  const BertAdamOptions& options() const { return options_; }
  // The fp16-updated parameters, in group order, and their state (m, v are f16 tensors).
  const std::vector<ParamGroup>& fp16_groups() const { return fp16_groups_; }
  std::vector<std::vector<OptimizerState>>& fp16_state() { return fp16_state_; }
  // The ordinary BertAdam over the remaining (fp32) parameters, same group order.
  BertAdam& fp32_optimizer() { return fp32_; }
  int64_t num_fp16_parameters() const;

 private:
  BertAdamOptions options_;
  std::vector<ParamGroup> fp16_groups_;
  std::vector<std::vector<OptimizerState>> fp16_state_;
  BertAdam fp32_;
};

// The original's clip_grad_norm_(model.parameters(), max_norm) over fp16 and fp32 gradients
// (torch 1.7 on CUDA): fp16 gradients (those is_fp16 selects, first rounded to fp16) contribute
// their norm rounded to fp16, the total is an f32 norm, and each fp16 gradient is multiplied by
// the coefficient rounded to fp16 with an fp16-rounded product. Returns the total norm. Works on
// the gradients' own device (only per-parameter norms come back to the host); the fp16 norms are
// summed exactly, so they are the same bits on either device.
double clip_grad_norm_official_fp16(const nn::NamedTensorList& params, double max_norm,
                                    const BertAdamFp16::NamePredicate& is_fp16 = is_official_fp16_name);

// ---- the multi-GPU gradient scale (spec-detailed §5.5) -------------------------------------------
// The original all-gathers the normalised features (backward: only the local slice) and DDP
// averages gradients over world_size ranks, so everything before the gather gets 1/world_size of
// the single-device gradient of the same global batch, while what is used only after it (the
// model's ParamRole::after_gather: clip.logit_scale, X-CLIP's similarity matrices) gets the exact one.
// Divides the gradient of every "before" parameter that has one by world_size, in place. In the
// official fp16 regime the fp16 parameters' gradients are rounded to fp16 before and after the
// division, as DDP divides the fp16 bucket (exact for normal values, it rounds the fp16 subnormals).
// world_size 1 leaves everything as it is. Runs on the gradients' own device.
void scale_pre_gather_gradients(const models::RetrievalModel& model, int world_size);

// ---- what the trainer calls ------------------------------------------------------------------------
// The optimizer of the model's precision over `groups`: BertAdamFp16 (fp16 CLIP weights, by the
// model's ParamRole::fp16) for ClipPrecision::official_fp16, else BertAdam.
std::unique_ptr<Optimizer> make_optimizer(const models::RetrievalModel& model, std::vector<ParamGroup> groups,
                                          const BertAdamOptions& options);
// The training loop's global clip: clip_grad_norm_official_fp16 for an official-fp16 model,
// clip_grad_norm over every parameter otherwise. Returns the total norm.
double clip_global_grad_norm(const models::RetrievalModel& model, double max_norm);

}  // namespace xclip::train
