// EA-CLIP4Clip (Jing et al., "An empirical study of excitation and aggregation design adaptions in
// CLIP4Clip for video-text retrieval", Neurocomputing 2024): frame-axis squeeze-and-excitation
// blocks that replace CLIP4Clip's mean pooling of the frame features. The head family
// "ea_clip4clip" is the CLIP4Clip head (clip4clip_head.hpp) with these blocks on its video side.
// Source: src/models/heads/clip4clip/excitation_aggregation.cpp.
//
// A block sees the N frame features of a video, X [N, D]:
//   squeeze     z = mean over D of every frame                          z ∈ R^N
//   two layers  s = fc.2( act( fc.0(z) ) )    fc.0 [h, N], fc.2 [N, h],  h = int(N // r)
//   excitation  e = sigmoid(s),         Y[n, :] = e[n] · X[n, :]        (the gates, "weight_exc")
//   aggregation a = softmax_n(s),       v = Σ_n a[n] · X[n, :]          (the weights, "weight_agg")
// act is ReLU or ReLU6 (which one, per configuration: EaOptions::parse). intra_attn, an extra
// per-frame scale the released code applies to every loose-type run, is behind ea_intra_attn:
//   ω_n = intra_mlp.2( ReLU( intra_mlp.0([x_n ; mean_n x_n]) ) ),  x_n ← ω_n · x_n.
//
// Official state_dict names (module attributes of the released modeling.py):
//   se_type excitation / aggregation:  se_block.fc.{0,2}.{weight,bias}
//   excitation_aggregation:            se_block.scale.fc.*  (excitation), se_block.aggregate.fc.*
//   excitation_seq:                    se_block_excitation.fc.*
//   ea_intra_attn:                     intra_mlp.0.{weight,bias} [D, 2D], intra_mlp.2.{weight,bias} [1, D]
// (The released model also holds `linear_mat`, an N×N identity it never uses: not built here.)
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "xclip/core/tensor.hpp"
#include "xclip/models/heads/head_config.hpp"
#include "xclip/nn/layers.hpp"

namespace xclip::models {

enum class FrameActivation { relu, relu6 };

// int(frames // ratio) with Python's float floor division (the original's hidden width); throws
// naming `what` when it is below 1 (the original's ratios 16 ... 512 give Linear(12 -> 0)).
int64_t frame_block_hidden(int64_t frames, double ratio, const std::string& what);

// One frame-axis block: squeeze, fc.0, act, fc.2, then sigmoid gates or softmax weights.
class FrameBlock : public nn::Module {
 public:
  enum class Kind { excitation, aggregation };
  FrameBlock(Kind kind, int64_t frames, double ratio, FrameActivation act, DType dtype = DType::f32);

  // The per-frame weights [B, N] of x [B, N, D]: the gates e (excitation) or the softmax a
  // (aggregation). With a mask [B, N], padded frames enter the squeeze as 0 and the softmax with
  // weight 0; an undefined mask masks nothing (the released code).
  Tensor weights(const Tensor& x, const Tensor& mask = Tensor()) const;
  // Applies weights w [B, N]: excitation -> [B, N, D] (x · e), aggregation -> [B, D] (Σ a x).
  Tensor apply(const Tensor& x, const Tensor& w) const;
  Tensor forward(const Tensor& x, const Tensor& mask = Tensor()) const { return apply(x, weights(x, mask)); }
  // init_weights of the original: weights N(0, 0.02), biases 0.
  void reset_parameters(Generator& gen);

  const Kind kind;
  const FrameActivation activation;
  const int64_t frames, hidden;

 private:
  nn::Linear& fc0_;
  nn::Linear& fc2_;
};

// intra_attn of the released code: x [B, N, D] -> ω · x with ω [B, N, 1] from [x_n ; x̄].
// With a mask, x̄ is the mean over the valid frames (the released code: all N frames).
class IntraAttention : public nn::Module {
 public:
  IntraAttention(int64_t width, DType dtype = DType::f32);
  Tensor forward(const Tensor& x, const Tensor& mask = Tensor()) const;
  void reset_parameters(Generator& gen);

 private:
  nn::Linear& fc0_;
  nn::Linear& fc2_;
};

// The EA options of a HeadConfig (HeadFamily "ea_clip4clip"), checked. Flag names as the original's
// main_task_retrieval.py, plus our two switches.
struct EaOptions {
  bool se_block = true;                          // --se_block
  std::string se_type = "excitation";            // --se_type
  double reduction_ratio = 4.0;                  // --reduction_ratio
  std::string excitation_aggregation_type = "unity";  // --excitation_aggregation_type
  bool intra_attn = false;                       // ea_intra_attn (the released code: always on)
  bool mask_frames = false;                      // ea_mask_frames (the released code: nothing masked)
  static EaOptions parse(const HeadConfig& config);  // throws naming the key on a bad value
};

// Every EA part of one head: the blocks its se_type asks for and intra_attn, under the official
// names (merged into the head's names), and the video feature they compute.
class ExcitationAggregation : public nn::Module {
 public:
  ExcitationAggregation(const HeadConfig& config, int64_t width, DType dtype = DType::f32);

  // Before the temporal module: the excitation of excitation_seq, else the frames themselves.
  Tensor before_temporal(const Tensor& frames, const Tensor& video_mask) const;
  // After it: intra_attn (when on), then the pooling of se_type (masked mean for excitation,
  // excitation_seq and se_block off; softmax weights for the aggregation types), L2-normalised:
  // [V, N, D] -> [V, D]. No per-frame normalisation before the pooling (unlike CLIP4Clip).
  // `steps` (optional) receives weight_exc / weight_agg.
  Tensor video_feature(const Tensor& temporal, const Tensor& video_mask, nn::NamedTensorList* steps = nullptr) const;
  // tightTransf (_get_cross_output): the frames the cross encoder sees, excited when se_type is
  // excitation (the only block the tight type applies), else as they are; `steps` receives weight_exc.
  Tensor cross_frames(const Tensor& frames, const Tensor& video_mask, nn::NamedTensorList* steps = nullptr) const;
  void reset_parameters(Generator& gen);
  // True for the parameters used after the all-gather (all but excitation_seq's excitation).
  bool after_gather(const std::string& name) const;
  const EaOptions& options() const { return options_; }

 private:
  Tensor mask_if_on(const Tensor& video_mask) const;
  // The excitation block's gates applied to x (x itself without one); `steps` receives weight_exc.
  Tensor excite(const Tensor& x, const Tensor& mask, nn::NamedTensorList* steps) const;
  EaOptions options_;
  FrameBlock* excitation_ = nullptr;       // before the pooling
  FrameBlock* aggregation_ = nullptr;      // the pooling itself
  FrameBlock* seq_excitation_ = nullptr;   // before the temporal module
  IntraAttention* intra_ = nullptr;
  std::vector<FrameBlock*> blocks_;
};

}  // namespace xclip::models
