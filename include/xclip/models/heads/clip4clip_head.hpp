// The CLIP4Clip head family (Luo et al. 2021, modules/modeling.py, loose type), the baseline of
// X-CLIP's tables: the video feature is the masked mean of the normalised frame features, after
// the temporal encoder for seqTransf (the same encoder and names as X-CLIP's), and the logits are
// λ · t · vᵀ. No learnable matrices. Source: src/models/heads/clip4clip/head.cpp.
//   frame_position_embeddings.weight, transformerClip.resblocks.N.*   (seqTransf only)
// Config: head "clip4clip" (or "model": "clip4clip"), sim_header meanP | seqTransf; the X-CLIP
// options (contrasts, aggregation, learnable_aosm, ...) must stay at the CLIP4Clip preset.
// Head "ea_clip4clip": the same head with EA-CLIP4Clip's excitation / aggregation blocks on the
// video side (models/heads/excitation_aggregation.hpp; options se_block, se_type, reduction_ratio,
// excitation_aggregation_type, ea_intra_attn, ea_mask_frames): the frames are pooled without
// being normalised first, by the blocks' weights or a masked mean. It also takes sim_header
// seqLSTM (clip4clip_lstm.hpp; frame_position_embeddings.weight is then held but unused, as in
// the original's state_dict).
// Both families take sim_header tightTransf, CLIP4Clip's tight type (cross_encoder.hpp): the logits
// come from a cross transformer over every (text, video) pair, EA's excitation (se_type
// excitation) on the frames first; option hidden_dropout_prob (0.1) is its embeddings' dropout.
#pragma once
#include "xclip/models/heads/clip4clip_lstm.hpp"
#include "xclip/models/heads/cross_encoder.hpp"
#include "xclip/models/heads/excitation_aggregation.hpp"
#include "xclip/models/heads/head.hpp"

namespace xclip::models {

class Clip4ClipHead : public SimilarityHead {
 public:
  Clip4ClipHead(const HeadConfig& config, const HeadDims& dims, DType dtype = DType::f32);

  // Intermediates: sentence_output, visual_output_temporal, video_output, logits.video_sentence.
  HeadOutput forward(const TextFeatures& texts, const VideoFeatures& videos, const Tensor& logit_scale) const override;
  Tensor similarity_matrix(const TextFeatures& texts, const VideoFeatures& videos,
                           const Tensor& logit_scale) const override;
  void reset_parameters(uint64_t seed = 42) override;  // the temporal encoder's init_weights
  // The temporal encoder: before the gather, decayed unless a bias, f32, not CLIP. The EA blocks:
  // the same, after the gather (but excitation_seq's, which runs before the temporal module).
  ParamRole param_role(const std::string& name) const override;
  // tightTransf: the cross encoder from CLIP's text tower (CrossEncoder::copies_from_clip).
  nn::NamedTensorList copies_from_clip(const nn::NamedTensorList& state) const override;
  bool contrasts_within_rank() const override { return cross_ != nullptr; }

  // False for tightTransf: its logits have no text-independent video side.
  bool has_video_feature() const { return cross_ == nullptr; }
  // video_output [V, D] of these videos (what the search index stores); `steps` receives the
  // temporal module's output (visual_output_temporal) and the EA blocks' weights. Throws for tightTransf.
  Tensor video_feature(const VideoFeatures& videos, nn::NamedTensorList* steps = nullptr) const;
  // The EA blocks (nullptr for the plain clip4clip family).
  const ExcitationAggregation* excitation_aggregation() const { return ea_; }

 private:
  Tensor tight_similarity_matrix(const TextFeatures& texts, const VideoFeatures& videos) const;

  ExcitationAggregation* ea_ = nullptr;
  CrossEncoder* cross_ = nullptr;           // tightTransf
  double cross_dropout_ = 0;
  FrameLstm* lstm_ = nullptr;               // seqLSTM
  nn::WeightModule* lstm_positions_ = nullptr;  // seqLSTM's unused frame_position_embeddings
};

}  // namespace xclip::models
