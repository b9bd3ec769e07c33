// The retrieval model (modules/modeling_xclip.py, loose_type): CLIP under `clip.` and a similarity
// head (heads/head.hpp) chosen by config.head, merged into the model's names; the symmetric
// CrossEn loss. The forward, top to bottom, is RetrievalModel::forward in src/models/model.cpp.
//
//   RetrievalModel model = ... ;               // models/build.hpp: from_checkpoint / from_scratch
//   auto out = model.forward(ids, attention_mask, video, video_mask);   // training graph + loss
//   out.loss.backward();
//   Tensor sim = model.similarity_for_eval(ids, attention_mask, video, video_mask);  // [T, V], blocks
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "xclip/models/clip.hpp"
#include "xclip/models/heads/head.hpp"

namespace xclip::models {

struct ModelOutput {
  TextFeatures text;    // CLIP features (not normalised)
  VideoFeatures video;
  HeadOutput head;      // head.logits [B, B]: rows texts, columns videos
  Tensor loss;          // [] (CrossEn(logits) + CrossEn(logitsᵀ)) / 2, plus head.extra_loss when defined
};

// What load_pretrained did, as the original prints after init_preweight.
struct LoadReport {
  bool head_from_clip = false;                // the head took tensors from CLIP's (the temporal encoder)
  std::vector<std::string> missing;           // parameters left at their initial value
  std::vector<std::string> unexpected;        // given tensors no parameter uses
  std::string str() const;
};

class RetrievalModel : public nn::Module {
 public:
  // The head is made by the registry from config.head. The temporal encoder's width is the text
  // width, which must equal the embedding width (the original adds the encoder's output to the
  // CLIP frame features).
  RetrievalModel(const HeadConfig& config, const ClipConfig& clip_config, ClipPrecision precision = ClipPrecision::f32,
                 DType dtype = DType::f32);

  Clip& clip;
  SimilarityHead& head;
  const HeadConfig& config() const { return head.config(); }
  const Tensor& logit_scale() const { return clip.logit_scale; }

  // input_ids i64 [B, L] (L = max_words), attention_mask [B, L].
  TextFeatures encode_text(const Tensor& input_ids, const Tensor& attention_mask) const;
  // video [B, F, 3, R, R] (F = max_frames; f64 is cast to f32 as the original's .float()),
  // video_mask [B, F]. Padded frames are encoded like the rest (the original does).
  VideoFeatures encode_video(const Tensor& video, const Tensor& video_mask) const;
  // The training forward on one device: logits of every text against every video and the loss.
  ModelOutput forward(const Tensor& input_ids, const Tensor& attention_mask, const Tensor& video,
                      const Tensor& video_mask) const;
  // The evaluation path: texts and videos encoded in batches of batch_size_val without a graph,
  // then the head's similarity_matrix (blocks of batch_size_val texts × videos). [T, V].
  Tensor similarity_for_eval(const Tensor& input_ids, const Tensor& attention_mask, const Tensor& video,
                             const Tensor& video_mask) const;

  // How training treats the parameter `name` (a name of named_parameters()): CLIP's rules for
  // clip.*, the head's for the rest. Throws for a name the model does not have.
  // The roles are worked out once, at construction (the parameter set is fixed then): the
  // optimizer's fp16 split, the global clip and the gradient scale ask per parameter per step.
  ParamRole param_role(const std::string& name) const;

  // modeling.py from_pretrained + init_preweight. `state` holds official names (clip.*, the
  // head's) or only CLIP's (with or without the clip. prefix). The head's parameters start from
  // the original's initialisation; a state without them gives the head its copies from CLIP
  // (SimilarityHead::copies_from_clip: the temporal encoder from CLIP's text tower).
  // Loading is by name and non-strict as the original's (shape mismatches are errors); `strict`
  // also makes missing parameters and unused tensors errors.
  LoadReport load_pretrained(const nn::NamedTensorList& state, bool strict = false);
  // Writes the official state_dict (safetensors, atomically); `xclip-cli convert` makes the torch.save
  // file the original code loads from it.
  void save(const std::string& path) const;

 private:
  std::map<std::string, ParamRole> roles_;  // every parameter's, from CLIP's rules and the head's
};

// The CLIP config of an X-CLIP or CLIP state dict: names under "clip." when present, else bare
// OpenAI names. head_width 64 for every OpenAI CLIP.
ClipConfig infer_xclip_clip_config(const nn::NamedTensorList& state, int64_t head_width = 64);

}  // namespace xclip::models
