// Parameter groups and freezing exactly as main_xclip.py (prep_optimizer and the freeze loop of
// main()); the roles of the parameters come from the model (ParamRole).
#include <string>

#include "xclip/train/trainer.hpp"

namespace xclip::train {

std::vector<NamedParamGroup> param_groups(const models::RetrievalModel& model, double lr, double coef_lr,
                                          double weight_decay) {
  std::vector<NamedParamGroup> groups(4);
  const char* names[] = {"decay_clip", "decay_other", "no_decay_clip", "no_decay_other"};
  for (int i = 0; i < 4; ++i) {
    groups[size_t(i)].group.name = names[i];
    groups[size_t(i)].group.lr = (i % 2 == 0) ? lr * coef_lr : lr;
    groups[size_t(i)].group.weight_decay = i < 2 ? weight_decay : 0.0;
  }
  for (const auto& [name, p] : model.named_parameters()) {
    const models::ParamRole role = model.param_role(name);
    const int index = (role.decay ? 0 : 2) + (role.clip ? 0 : 1);
    groups[size_t(index)].group.params.push_back(p);
    groups[size_t(index)].names.push_back(name);
  }
  return groups;
}

std::vector<std::string> freeze_clip_layers(models::RetrievalModel& model, int freeze_layer_num) {
  XCLIP_CHECK(freeze_layer_num >= -1 && freeze_layer_num <= 12, "--freeze_layer_num must be in [-1, 12], got ",
              freeze_layer_num);
  std::vector<std::string> frozen;
  if (freeze_layer_num == -1) return frozen;
  for (auto& [name, param] : model.clip.named_parameters()) {
    // "top layers always need to train"
    if (name.starts_with("ln_final.") || name.starts_with("text_projection") || name.starts_with("logit_scale") ||
        name.starts_with("visual.ln_post.") || name.starts_with("visual.proj"))
      continue;
    if (name.starts_with("visual.transformer.resblocks.") || name.starts_with("transformer.resblocks.")) {
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
