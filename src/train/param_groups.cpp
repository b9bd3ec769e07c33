// Parameter groups and freezing exactly as main_xclip.py (prep_optimizer and the freeze loop of
// main()), and the BertAdam adapter behind the trainer's optimizer seam.
#include <string>

#include "xclip/train/trainer.hpp"

namespace xclip::train {

namespace {
bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

class BertAdamOptimizer final : public TrainOptimizer {
 public:
  BertAdamOptimizer(std::vector<ParamGroup> groups, const BertAdamOptions& options)
      : adam_(std::move(groups), options) {}
  void step() override { adam_.step(); }
  void zero_grad() override { adam_.zero_grad(); }
  std::vector<double> current_lr() const override { return adam_.current_lr(); }
  OptimizerState* state_for(const Tensor& param) override {
    const auto& groups = adam_.groups();
    for (size_t g = 0; g < groups.size(); ++g)
      for (size_t i = 0; i < groups[g].params.size(); ++i)
        if (groups[g].params[i].is_same(param)) return &adam_.state()[g][i];
    return nullptr;
  }
  std::string name() const override { return "BertAdam"; }

 private:
  BertAdam adam_;
};
}  // namespace

TrainBatch to_device(TrainBatch batch, Device device) {
  for (Tensor* t : {&batch.input_ids, &batch.attention_mask, &batch.video, &batch.video_mask})
    if (t->defined() && t->device() != device) *t = t->to(device);
  return batch;
}

std::unique_ptr<TrainOptimizer> make_bert_adam(std::vector<ParamGroup> groups, const BertAdamOptions& options) {
  return std::make_unique<BertAdamOptimizer>(std::move(groups), options);
}

// no_decay = ['bias', 'LayerNorm.bias', 'LayerNorm.weight']; any(nd in n for nd in no_decay).
// CLIP's and the temporal encoder's LayerNorms are named ln_*, so only "bias" ever matches them.
bool is_no_decay_parameter(const std::string& name) {
  for (const char* nd : {"bias", "LayerNorm.bias", "LayerNorm.weight"})
    if (name.find(nd) != std::string::npos) return true;
  return false;
}

bool is_clip_parameter(const std::string& name) { return name.find("clip.") != std::string::npos; }

std::vector<NamedParamGroup> xclip_param_groups(const nn::NamedTensorList& params, double lr, double coef_lr,
                                                double weight_decay) {
  std::vector<NamedParamGroup> groups(4);
  const char* names[] = {"decay_clip", "decay_other", "no_decay_clip", "no_decay_other"};
  for (int i = 0; i < 4; ++i) {
    groups[size_t(i)].group.name = names[i];
    groups[size_t(i)].group.lr = (i % 2 == 0) ? lr * coef_lr : lr;
    groups[size_t(i)].group.weight_decay = i < 2 ? weight_decay : 0.0;
  }
  for (const auto& [name, p] : params) {
    const int index = (is_no_decay_parameter(name) ? 2 : 0) + (is_clip_parameter(name) ? 0 : 1);
    groups[size_t(index)].group.params.push_back(p);
    groups[size_t(index)].names.push_back(name);
  }
  return groups;
}

std::vector<std::string> freeze_clip_layers(models::XClip& model, int freeze_layer_num) {
  XCLIP_CHECK(freeze_layer_num >= -1 && freeze_layer_num <= 12, "--freeze_layer_num must be in [-1, 12], got ",
              freeze_layer_num);
  std::vector<std::string> frozen;
  if (freeze_layer_num == -1) return frozen;
  for (auto& [name, param] : model.clip.named_parameters()) {
    // "top layers always need to train"
    if (starts_with(name, "ln_final.") || starts_with(name, "text_projection") || starts_with(name, "logit_scale") ||
        starts_with(name, "visual.ln_post.") || starts_with(name, "visual.proj"))
      continue;
    if (starts_with(name, "visual.transformer.resblocks.") || starts_with(name, "transformer.resblocks.")) {
      const std::string rest = name.substr(name.find(".resblocks.") + std::string(".resblocks.").size());
      if (std::stoi(rest.substr(0, rest.find('.'))) >= freeze_layer_num) continue;
    }
    Tensor p = param;  // shares the parameter's state
    p.set_requires_grad(false);
    frozen.push_back("clip." + name);
  }
  return frozen;
}

}  // namespace xclip::train
