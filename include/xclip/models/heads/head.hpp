// The similarity head: everything of a video-text retrieval model after the CLIP towers, from
// CLIP features to the [texts, videos] logits. A head is a Module owned by the model
// (models/model.hpp), merged into the model's names so that its parameters keep their official
// top-level names (global_mat_weight, frame_position_embeddings.weight, transformerClip.*).
//
// One header and one folder per head family (src/models/heads/<family>/), chosen by the config's
// "head" through one registry (src/models/heads/registry.cpp):
//   xclip      X-CLIP: temporal encoder, four contrasts, AOSM            (heads/xclip_head.hpp)
//   clip4clip  CLIP4Clip: meanP / seqTransf video-sentence, tightTransf   (heads/clip4clip_head.hpp)
//   tc_mgc     TC-MGC: LVA-conditioned terms with SR + ISA, LSA, SDR     (heads/tc_mgc_head.hpp)
//   ea_clip4clip  the CLIP4Clip head with EA-CLIP4Clip's frame blocks  (heads/excitation_aggregation.hpp)
// A head also says how training treats each of its parameters (ParamRole), so the optimizer
// groups, the fp16 regime and the multi-GPU gradient scale need no list of names of their own.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "xclip/core/tensor.hpp"
#include "xclip/models/heads/head_config.hpp"
#include "xclip/models/temporal_encoder.hpp"
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

// Where a training forward's dropout masks come from: the rate, and the trainer's seed and
// micro-step (SimilarityHead::set_step_seed); p = 0 means no dropout (evaluation). `call` numbers
// the dropouts of one forward (< 16), each with a stream of its own.
struct DropoutDraw {
  double p = 0;
  uint64_t seed = 0;
  uint64_t step = 0;
  uint64_t stream(uint64_t call) const { return step * 16 + call; }
};

struct HeadOutput {
  Tensor logits;  // [T, V], logit scale applied
  // A term the head adds to the contrastive loss, already weighted (e.g. a follow-up model's
  // regulariser); undefined for X-CLIP and CLIP4Clip. Shape [].
  Tensor extra_loss;
  // What the head computed on the way, under the original's variable names (verify compares
  // them with a reference bundle): e.g. visual_output_temporal, video_output, logits.frame_word.
  nn::NamedTensorList intermediates;
  const Tensor* find(const std::string& name) const;  // nullptr when the head did not report it
};

// How training treats one parameter, as the original's training script does.
struct ParamRole {
  bool clip = false;          // in prep_optimizer's CLIP groups ("clip." in the name): lr · coef_lr
  bool decay = true;          // weight decay applies (not in the no_decay list)
  bool fp16 = false;          // held in fp16 by convert_weights in the official regime
  bool after_gather = false;  // used only after the features' all-gather: every rank has its full gradient
};

// The original's no_decay list (main_*.py prep_optimizer), matched as substrings of the name:
// "bias", "LayerNorm.bias", "LayerNorm.weight".
bool is_no_decay_parameter(const std::string& name);

// Sizes a head needs beyond its config.
struct HeadDims {
  int64_t embed_dim = 512;     // D: CLIP's joint width; also the temporal encoder's width
  int64_t position_rows = 77;  // rows of frame_position_embeddings (CLIP's context_length)
};

class SimilarityHead : public nn::Module {
 public:
  const HeadConfig& config() const { return config_; }

  // The training forward: all texts against all videos in one graph. logit_scale is
  // clip.logit_scale (its exp multiplies the similarities), shape [] or [1].
  virtual HeadOutput forward(const TextFeatures& texts, const VideoFeatures& videos,
                             const Tensor& logit_scale) const = 0;
  // Evaluation: [T, V] with no graph, built block by block (config().batch_size_val texts × videos).
  virtual Tensor similarity_matrix(const TextFeatures& texts, const VideoFeatures& videos,
                                   const Tensor& logit_scale) const = 0;
  // The original's initialisation of the head before any checkpoint is loaded.
  virtual void reset_parameters(uint64_t seed = 42) = 0;
  // from_pretrained with a state whose CLIP names are under "clip.": the tensors the head takes
  // from CLIP's, under the head's names. Default: the temporal encoder's copies from CLIP's text
  // tower when the state has no frame_position_embeddings (TemporalEncoder::copies_from_clip).
  virtual nn::NamedTensorList copies_from_clip(const nn::NamedTensorList& state) const;
  // The role of one of this head's parameters (a name named_parameters() lists); throws for
  // any other name, so no parameter is ever trained by a guessed rule.
  virtual ParamRole param_role(const std::string& name) const = 0;
  // The trainer's seed and global micro-step, told before each training forward: a head with
  // dropout draws its masks from them (dropout_draw; stateless, so a resumed run redraws the same).
  void set_step_seed(uint64_t seed, uint64_t step) {
    dropout_seed_ = seed;
    dropout_step_ = step;
  }
  // How the original trains this head on N GPUs. False: the features are all-gathered, every rank
  // contrasts the whole global batch, and the encoders' gradients carry 1/N (the loose types).
  // True: each rank contrasts its own B/N clips and DDP averages the ranks' gradients (CLIP4Clip's
  // tight type): the trainer then runs --world_size_grad_scale slices of the batch, each with 1/N
  // of the loss, and divides nothing afterwards. Default: false.
  virtual bool contrasts_within_rank() const { return false; }
  // Names in a loaded state the head knows and drops (e.g. an official checkpoint's unused
  // tensors); they are reported neither as used nor as unexpected. Default: none.
  virtual bool ignores_state_name(const std::string& /*name*/) const { return false; }
  // The matmuls of the head's encoders (the temporal transformer) in bf16 autocast.
  void set_bf16_autocast(bool on) { bf16_autocast_ = on; }
  // The temporal encoder (nullptr for meanP) and its output for these videos: [V, N, D], the
  // frames themselves without an encoder; under bf16 autocast when set.
  const TemporalEncoder* temporal_encoder() const { return temporal_; }
  Tensor temporal(const VideoFeatures& videos) const;

 protected:
  explicit SimilarityHead(const HeadConfig& config) : config_(config) { config_.validate(); }
  // Registers the temporal encoder the config asks for (none for meanP), merged into this head's
  // names; throws when frame_position_embeddings has fewer rows than max_frames.
  void register_temporal_encoder(const HeadDims& dims, DType dtype);
  // The original's init_weights of the temporal encoder, seeded (nothing without one).
  void reset_temporal_encoder(uint64_t seed);
  // Dropout at rate p for this training step (set_step_seed's seed and micro-step).
  DropoutDraw dropout_draw(double p) const { return {p, dropout_seed_, dropout_step_}; }
  HeadConfig config_;
  bool bf16_autocast_ = false;
  TemporalEncoder* temporal_ = nullptr;

 private:
  uint64_t dropout_seed_ = 0, dropout_step_ = 0;
};

// ---- the registry -------------------------------------------------------------------------------
using HeadFactory = std::function<std::unique_ptr<SimilarityHead>(const HeadConfig&, const HeadDims&, DType)>;
struct HeadFamily {
  const char* name;     // the config's "head"
  const char* summary;  // one line, for messages and --help
  HeadFactory make;
  // The family's own options (HeadConfig::options) with their defaults: accepted in the config
  // JSON and as command-line flags of train / eval under these names.
  std::map<std::string, nlohmann::json> options = {};
};
// Every head family: the library's (src/models/heads/registry.cpp), then any registered below.
const std::vector<HeadFamily>& head_families();
// Adds a family defined outside the library (an experiment in a user's own program, a test);
// register it before configs are parsed. Throws when the name is taken.
void register_head_family(HeadFamily family);
// The family named by config.head; throws listing the known names.
const HeadFamily& head_family(const std::string& name);
std::unique_ptr<SimilarityHead> make_head(const HeadConfig& config, const HeadDims& dims, DType dtype = DType::f32);

// ---- pieces every family uses --------------------------------------------------------------------
// The temporal encoder's head count: config.temporal_heads, or width / 64 as the original.
int temporal_heads(const HeadConfig& config, int64_t width);
// λ = exp(logit_scale) as a [] tensor for broadcasting; logit_scale has one element.
Tensor logit_scale_factor(const Tensor& logit_scale);
// sentence [T, D] or [T, 1, D] -> [T, D] (the raw EOT features, one row per text); throws otherwise.
Tensor sentence_rows(const Tensor& sentence);
// sentence [T, D] or [T, 1, D] -> L2-normalised [T, D] (x / ‖x‖, no epsilon, as the original).
Tensor normalized_sentence(const Tensor& sentence);
// The video feature: masked mean over valid frames of the L2-normalised temporal outputs (an
// all-padding video divides by 1, as the original), normalised again. temporal [V, N, D] -> [V, D].
Tensor mean_video_feature(const Tensor& temporal, const Tensor& video_mask);
// The video-sentence similarity λ · (t · M) · vᵀ, M = global_mat_weight or the identity when undefined.
Tensor video_sentence_logits(const Tensor& lambda, const Tensor& sentence, const Tensor& video,
                             const Tensor& global_mat_weight = Tensor());
// CrossEn of the original, both directions: (CE(logits) + CE(logitsᵀ)) / 2 with the diagonal
// as the targets. logits [B, B]; returns shape [].
Tensor symmetric_cross_entropy(const Tensor& logits);

}  // namespace xclip::models
