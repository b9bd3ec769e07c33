// The X-CLIP model (modules/modeling_xclip.py, loose_type): CLIP under `clip.`, the temporal
// encoder and the similarity head (xclip_heads.hpp), the symmetric CrossEn loss.
//
//   auto w = io::load_safetensors("pytorch_model.safetensors");      // official names
//   XClip model(XClipConfig{}, infer_clip_config(w.list(), "clip."));
//   model.load_pretrained(w.list());           // X-CLIP or CLIP-only weights, as from_pretrained
//   auto out = model.forward(ids, attention_mask, video, video_mask);   // training graph + loss
//   out.loss.backward();
//   Tensor sim = model.similarity_for_eval(ids, attention_mask, video, video_mask);  // [T, V], blocks
#pragma once
#include <string>
#include <vector>

#include "xclip/models/clip.hpp"
#include "xclip/models/xclip_heads.hpp"

namespace xclip::models {

struct XClipOutput {
  TextFeatures text;    // CLIP features (not normalised)
  VideoFeatures video;
  HeadOutput head;      // head.terms.logits [B, B]: rows texts, columns videos
  Tensor loss;          // [] (CrossEn(logits) + CrossEn(logitsᵀ)) / 2
};

// What load_pretrained did, as the original prints after init_preweight.
struct LoadReport {
  bool temporal_from_clip = false;            // frame_position_embeddings / transformerClip copied from CLIP
  std::vector<std::string> missing;           // parameters left at their initial value
  std::vector<std::string> unexpected;        // given tensors no parameter uses
  std::string str() const;
};

class XClip : public XClipHeadsBase {
 public:
  // The temporal encoder's width is the text width, which must equal the embedding width (the
  // original adds the encoder's output to the CLIP frame features).
  XClip(const XClipConfig& config, const ClipConfig& clip_config, ClipPrecision precision = ClipPrecision::f32,
        DType dtype = DType::f32);

  Clip& clip;
  const Tensor& logit_scale() const override { return clip.logit_scale; }

  // input_ids i64 [B, L] (L = max_words), attention_mask [B, L].
  TextFeatures encode_text(const Tensor& input_ids, const Tensor& attention_mask) const;
  // video [B, F, 3, R, R] (F = max_frames; f64 is cast to f32 as the original's .float()),
  // video_mask [B, F]. Padded frames are encoded like the rest (the original does).
  VideoFeatures encode_video(const Tensor& video, const Tensor& video_mask) const;
  // The training forward on one device: logits of every text against every video and the loss.
  XClipOutput forward(const Tensor& input_ids, const Tensor& attention_mask, const Tensor& video,
                      const Tensor& video_mask) const;
  // The evaluation path: texts and videos encoded in batches of batch_size_val without a graph,
  // then similarity_matrix (blocks of batch_size_val texts × videos). [T, V].
  Tensor similarity_for_eval(const Tensor& input_ids, const Tensor& attention_mask, const Tensor& video,
                             const Tensor& video_mask) const;

  // modeling.py from_pretrained + init_preweight. `state` holds official X-CLIP names (clip.*,
  // the matrices, frame_position_embeddings, transformerClip.*) or only CLIP's (with or without
  // the clip. prefix). When it has no frame_position_embeddings (a CLIP-only state), seqTransf
  // initialises frame_position_embeddings from clip.positional_embedding and transformerClip
  // block n from CLIP text block n (n < cross_num_hidden_layers); the matrices stay the identity.
  // Loading is by name and non-strict as the original's (shape mismatches are errors); `strict`
  // also makes missing parameters and unused tensors errors.
  LoadReport load_pretrained(const nn::NamedTensorList& state, bool strict = false);
  // Writes the official state_dict (safetensors, atomically), loadable by the original code.
  void save(const std::string& path) const;
};

// The CLIP config of an X-CLIP or CLIP state dict: names under "clip." when present, else bare
// OpenAI names. head_width 64 for every OpenAI CLIP.
ClipConfig infer_xclip_clip_config(const nn::NamedTensorList& state, int64_t head_width = 64);

}  // namespace xclip::models
