// The trainer's optimizer seam for --official_fp16: BertAdamFp16 (precision.hpp) behind
// TrainOptimizer, so that checkpoints find every parameter's state (fp16 moments included).
#include "xclip/train/precision.hpp"
#include "xclip/train/trainer.hpp"

namespace xclip::train {

namespace {
OptimizerState* find_state(const std::vector<ParamGroup>& groups, std::vector<std::vector<OptimizerState>>& state,
                           const Tensor& param) {
  for (size_t g = 0; g < groups.size() && g < state.size(); ++g)
    for (size_t i = 0; i < groups[g].params.size() && i < state[g].size(); ++i)
      if (groups[g].params[i].is_same(param)) return &state[g][i];
  return nullptr;
}

class BertAdamFp16Optimizer final : public TrainOptimizer {
 public:
  BertAdamFp16Optimizer(const std::vector<ParamGroup>& groups, const BertAdamOptions& options,
                        const nn::NamedTensorList& names)
      : adam_(groups, options, names) {}
  void step() override { adam_.step(); }
  void zero_grad() override { adam_.zero_grad(); }
  std::vector<double> current_lr() const override { return adam_.current_lr(); }
  OptimizerState* state_for(const Tensor& param) override {
    if (OptimizerState* s = find_state(adam_.fp16_groups(), adam_.fp16_state(), param)) return s;
    BertAdam& fp32 = adam_.fp32_optimizer();
    return find_state(fp32.groups(), fp32.state(), param);
  }
  std::string name() const override { return "BertAdamFp16"; }

 private:
  BertAdamFp16 adam_;
};
}  // namespace

OptimizerFactory bert_adam_fp16_factory(nn::NamedTensorList names) {
  return [names = std::move(names)](std::vector<ParamGroup> groups, const BertAdamOptions& options) {
    return std::unique_ptr<TrainOptimizer>(std::make_unique<BertAdamFp16Optimizer>(groups, options, names));
  };
}

}  // namespace xclip::train
