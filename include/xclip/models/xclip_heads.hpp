// The parameters of X-CLIP outside the CLIP towers, under the official state_dict names, and the
// forward from CLIP features to logits and loss:
//   global_mat_weight, word_logit_weight, frame_logit_weight, local_mat_weight, frame_mat_weight,
//   word_mat_weight, frame_mat_weight2, word_mat_weight2   (learnable_aosm; identity at start)
//   clip.*                                                 (the CLIP model, owner of clip.logit_scale)
//   frame_position_embeddings.weight, transformerClip.resblocks.N.*   (seqTransf only)
// XClipHeadsBase holds the logic; XClipHeads is the heads alone (a stand-in `clip` child with only
// `logit_scale`), used by heads-only reference bundles, the gradient check and the benchmark;
// XClip (xclip.hpp) puts the real CLIP model under `clip.`.
#pragma once
#include <memory>

#include "xclip/models/temporal_encoder.hpp"
#include "xclip/models/xclip_config.hpp"
#include "xclip/models/xclip_head.hpp"
#include "xclip/nn/module.hpp"

namespace xclip::models {

// CLIP features of a batch of texts, as the encoders return them (not normalised).
struct TextFeatures {
  Tensor sentence;        // [T, D] (or [T, 1, D]) the EOT feature
  Tensor words;           // [T, L, D] every position
  Tensor attention_mask;  // [T, L]
};

// CLIP features of a batch of videos (not normalised).
struct VideoFeatures {
  Tensor frames;      // [V, N, D] CLS feature of every frame, padded frames included
  Tensor video_mask;  // [V, N]
};

struct HeadOutput {
  SimilarityTerms terms;  // terms.logits [T, V]
  Tensor temporal;        // [V, N, D] the temporal encoder's output (the frames for meanP)
  TextSide text;
  VideoSide video;
};

// Sizes the head parameters need beyond the config.
struct HeadDims {
  int64_t embed_dim = 512;        // D: CLIP's joint width; also the temporal encoder's width
  int64_t position_rows = 77;     // rows of frame_position_embeddings (CLIP's context_length)
};

class XClipHeadsBase : public nn::Module {
 public:
  const XClipConfig& config() const { return config_; }
  const AosmMatrices& aosm() const { return aosm_; }
  virtual const Tensor& logit_scale() const = 0;
  Embedding* frame_position_embeddings() const { return frame_position_embeddings_; }
  nn::Transformer* transformer_clip() const { return transformer_clip_; }

  // The temporal encoder's output for these videos (the frames themselves for meanP).
  Tensor temporal(const VideoFeatures& videos) const;
  VideoSide video_side(const VideoFeatures& videos, Tensor* temporal_out = nullptr) const;
  // The training forward: all texts against all videos in one graph.
  HeadOutput forward(const TextFeatures& texts, const VideoFeatures& videos) const;
  // Evaluation: [T, V] similarity built block by block (config.batch_size_val texts × videos),
  // with no graph. The temporal encoder runs once per video block (the original re-runs it for
  // every text block: same values). Memory: the normalised features plus one block's head.
  Tensor similarity_matrix(const TextFeatures& texts, const VideoFeatures& videos) const;

  // Resets the head parameters as the original initialises them before any checkpoint is
  // loaded: the eight matrices to the identity; frame_position_embeddings and transformerClip
  // Linear/Embedding weights N(0, 0.02), biases 0, LayerNorm (1, 0), in_proj xavier_uniform.
  // (from_pretrained then overwrites the temporal parts with copies from CLIP: see XClip.)
  void reset_head_parameters(uint64_t seed = 42);

 protected:
  XClipHeadsBase(const XClipConfig& config) : config_(config) { config_.validate(); }
  // Parameters in `dtype` (f32 normally; f64 for gradient checks).
  void register_aosm(int64_t embed_dim, DType dtype);
  void register_temporal(const HeadDims& dims, DType dtype);

  XClipConfig config_;
  AosmMatrices aosm_;
  // The temporal encoder's matmuls in bf16 (XClip with ClipPrecision::bf16_autocast): the
  // encoders are autocast, the similarity head and the loss stay f32.
  bool bf16_autocast_temporal_ = false;

 private:
  Embedding* frame_position_embeddings_ = nullptr;
  nn::Transformer* transformer_clip_ = nullptr;
};

class XClipHeads : public XClipHeadsBase {
 public:
  XClipHeads(const XClipConfig& config, const HeadDims& dims, DType dtype = DType::f32);
  const Tensor& logit_scale() const override { return logit_scale_; }

 private:
  Tensor logit_scale_;
};

// The temporal encoder's head count: config.temporal_heads, or width / 64 as the original.
int temporal_heads(const XClipConfig& config, int64_t width);

}  // namespace xclip::models
