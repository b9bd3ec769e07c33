// The model a checkpoint's tensors describe, for `xclip-cli convert`: its config (from
// model_config.json beside the checkpoint, else read off the shapes) and the check that every
// tensor is one of its parameters with that parameter's shape. A torch.save output is written
// only after this check, because the original code load_state_dicts it by name: an unknown, a
// missing or a wrongly shaped tensor would fail there (or, loaded non-strictly, be silently
// ignored), far from the conversion that caused it.
#pragma once
#include <optional>
#include <string>

#include "xclip/io/safetensors.hpp"
#include "xclip/models/clip.hpp"
#include "xclip/models/heads/head_config.hpp"

namespace xclip::cli {

struct DescribedModel {
  models::ClipConfig clip;
  std::optional<models::HeadConfig> head;  // nullopt: CLIP alone (no head tensors in the state)
  std::string clip_prefix;                 // "clip." or "" (bare OpenAI names, CLIP alone)
  std::string config_source;               // the model_config.json used, or empty (from the shapes)
  std::string str() const;                 // "X-CLIP head xclip: seqTransf, 4 temporal layers, ..."
};

// Whether the state holds tensors of a retrieval model's head (matrices, frame positions,
// transformerClip) besides CLIP.
bool has_head_tensors(const io::NamedTensors& tensors);

// model_config.json beside `checkpoint` for a state with head tensors ({"clip", "xclip"}, as
// training writes it); else CLIP's config from the shapes (heads = width / head_width) and, with
// head tensors, the head config they imply (head_config_from_shapes). Errors name the file.
DescribedModel describe_model(const io::NamedTensors& tensors, const std::string& checkpoint,
                              const std::string& clip_prefix, int64_t head_width);

// The X-CLIP head config of a state without model_config.json: the official options, with what
// the shapes say (learnable_aosm when the matrices are there, max_words / max_frames from their
// sizes, seqTransf and its depth from frame_position_embeddings and transformerClip.resblocks.N).
// Options that leave no trace in the weights (τ, contrasts, aggregation) keep their defaults: they
// do not change which parameters exist.
models::HeadConfig head_config_from_shapes(const io::NamedTensors& tensors, const models::ClipConfig& clip);

// `tensors` in the order of the model's state_dict (the order torch.save(model.state_dict())
// writes), each checked against its parameter: every parameter present, no other tensor, the
// parameter's shape exactly (a one-element tensor for a scalar parameter, as numpy writers store
// clip.logit_scale, is given the scalar's shape []), a floating dtype. Throws one xclip::Error
// naming `source` and the offending tensors otherwise.
io::NamedTensors check_against_model(const io::NamedTensors& tensors, const DescribedModel& model,
                                     const std::string& source);

}  // namespace xclip::cli
