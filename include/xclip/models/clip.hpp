// CLIP image encoder (ViT) and text encoder with the OpenAI state_dict names (spec §1-3).
//
//   Clip clip(infer_clip_config(state));    // config from the checkpoint's shapes, as build_model
//   clip.load_state_dict(state);             // "visual.conv1.weight", ..., "logit_scale"
//   Tensor frames = clip.encode_image(images);            // [N, 3, R, R] -> [N, embed] (CLS)
//   TextEncoding t = clip.encode_text(ids);               // i64 [B, L] -> sentence [B, embed],
//                                                         //               words [B, L, embed]
// Inside X-CLIP the same module sits under "clip.": state_dict("clip.") / load_state_dict(sd, true,
// "clip.").
#pragma once
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "xclip/nn/layers.hpp"
#include "xclip/nn/module.hpp"

namespace xclip::models {

// ---- configuration (spec §1.1) ----------------------------------------------------------------
struct ClipVisionConfig {
  int64_t width = 0;       // visual.conv1.weight.shape[0]
  int64_t layers = 0;      // count of visual.*.attn.in_proj_weight
  int64_t heads = 0;       // width / head_width
  int64_t patch = 0;       // visual.conv1.weight.shape[-1]
  int64_t grid = 0;        // sqrt(visual.positional_embedding.shape[0] - 1)
  int64_t resolution = 0;  // patch · grid
  int64_t tokens() const { return grid * grid + 1; }
  bool operator==(const ClipVisionConfig&) const = default;
};

struct ClipTextConfig {
  int64_t width = 0;           // ln_final.weight.shape[0]
  int64_t layers = 0;          // distinct N of transformer.resblocks.N.*
  int64_t heads = 0;           // width / head_width
  int64_t context_length = 0;  // positional_embedding.shape[0]
  int64_t vocab_size = 0;      // token_embedding.weight.shape[0]
  bool operator==(const ClipTextConfig&) const = default;
};

struct ClipConfig {
  int64_t embed_dim = 0;  // text_projection.shape[1]
  ClipVisionConfig vision;
  ClipTextConfig text;

  static ClipConfig vit_b32();  // the table of spec §1.1
  static ClipConfig vit_b16();
  // "ViT: width 768, 12 layers, 12 heads, patch 32, 224 px (50 tokens); text: width 512, ..."
  std::string str() const;
  bool operator==(const ClipConfig&) const = default;
};
inline std::ostream& operator<<(std::ostream& os, const ClipConfig& c) { return os << c.str(); }

using ShapeList = std::vector<std::pair<std::string, Shape>>;

// Infers the config from tensor names and shapes exactly as the original build_model does; only
// names starting with `prefix` are considered (prefix stripped). heads = width / head_width (64 in
// every OpenAI CLIP; smaller test models may use narrower heads). Throws xclip::Error naming the
// missing tensor or the inconsistent shape (ResNet CLIPs, without visual.proj, are rejected).
ClipConfig infer_clip_config(const ShapeList& shapes, const std::string& prefix = "", int64_t head_width = 64);
ClipConfig infer_clip_config(const nn::NamedTensorList& state, const std::string& prefix = "",
                             int64_t head_width = 64);
// The prefix under which a state dict holds CLIP: "" for a plain CLIP, "clip." for X-CLIP /
// CLIP4Clip checkpoints; nullopt when there is no visual.proj under either.
std::optional<std::string> find_clip_prefix(const nn::NamedTensorList& state);
// {"embed_dim", "vision": {width, layers, heads, patch, grid, resolution},
//  "text": {width, layers, heads, context_length, vocab_size}}; from_json throws naming a missing key.
nlohmann::json clip_config_to_json(const ClipConfig& c);
ClipConfig clip_config_from_json(const nlohmann::json& j);

// ---- precision (spec §3) ----------------------------------------------------------------------
enum class ClipPrecision {
  f32,            // everything in the parameters' dtype (default)
  official_fp16,  // emulation of convert_weights(clip): see clip_fp16.cpp for what is rounded
  bf16_autocast,  // f32 parameters; both towers' matmuls under ops::AutocastBf16Guard (bf16
                  // operands, f32 accumulation and results; softmax, LayerNorm and the rest f32)
};

// True for the parameters convert_weights turns into fp16 (name without the "clip." prefix):
// conv1.weight, attn.in_proj_{weight,bias}, attn.out_proj.*, mlp.c_fc.*, mlp.c_proj.*,
// text_projection, visual.proj. Embeddings, LayerNorms and logit_scale stay f32.
bool is_official_fp16_parameter(const std::string& name);

// Rounds every element to the nearest fp16 value (ties to even, overflow to ±inf, subnormals
// kept) and returns it in x's dtype. Differentiable: the gradient passes straight through.
Tensor round_to_f16(const Tensor& x);

// ---- the model ---------------------------------------------------------------------------------
// visual.*: conv1 (no bias), class_embedding, positional_embedding, ln_pre, transformer, ln_post,
// proj. Registration order gives PyTorch's state_dict order (own parameters first).
class ClipVision : public nn::Module {
 public:
  ClipVision(const ClipVisionConfig& config, int64_t embed_dim, DType dtype);
  ClipVisionConfig config;
  Tensor& class_embedding;       // [width]
  Tensor& positional_embedding;  // [grid² + 1, width]
  Tensor& proj;                  // [width, embed]
  nn::WeightModule& conv1;           // weight [width, 3, patch, patch]
  nn::LayerNorm& ln_pre;
  nn::Transformer& transformer;
  nn::LayerNorm& ln_post;
};

struct ImageEncoding {
  Tensor features;  // [N, embed]: the CLS token after ln_post and proj (the frame feature)
  Tensor tokens;    // [N, grid² + 1, embed]: every token after ln_post and proj (return_hidden)
};

struct TextEncoding {
  Tensor sentence;  // [B, embed]: the row at argmax(ids) (the EOT token)
  Tensor words;     // [B, L, embed]: every position, SOT/EOT/padding included
};

class Clip : public nn::Module {
 public:
  // Parameters are zero (LayerNorm weights one) until loaded or init_random'd. `dtype` f32 or f64;
  // official_fp16 needs f32.
  explicit Clip(const ClipConfig& config, ClipPrecision precision = ClipPrecision::f32,
                DType dtype = DType::f32);

  // frames [N, 3, R, R] (R = resolution), normalised; returns [N, embed].
  Tensor encode_image(const Tensor& frames) const;
  ImageEncoding encode_image_with_tokens(const Tensor& frames) const;
  // ids i64/i32 [B, L], L ≤ context_length; positional_embedding[:L] and a causal mask of size L.
  TextEncoding encode_text(const Tensor& ids) const;
  // OpenAI CLIP's forward: exp(logit_scale) · normalize(image features) · normalize(sentences)ᵀ,
  // [N, B] (logits per image).
  Tensor forward(const Tensor& frames, const Tensor& ids) const;

  // OpenAI's initialize_parameters (normal weights scaled by width; conv1 as PyTorch's default
  // kaiming-uniform, logit_scale ln(1/0.07)): for tests and benchmarks, real use loads weights.
  void init_random(Generator& gen);
  // Rounds, in place, the parameters the original stores as fp16 (is_official_fp16_parameter),
  // so that state_dict() holds the values the original model holds after convert_weights.
  void round_official_fp16_parameters();

  const ClipConfig& config() const { return config_; }
  ClipPrecision precision() const { return precision_; }

 private:
  ClipConfig config_;
  ClipPrecision precision_;

 public:
  // Registration order = PyTorch's: own parameters, then visual, transformer, token_embedding,
  // ln_final.
  Tensor& positional_embedding;  // [context_length, text width]
  Tensor& text_projection;       // [text width, embed]
  Tensor& logit_scale;           // [] (stored as log)
  ClipVision& visual;
  nn::Transformer& transformer;
  nn::WeightModule& token_embedding;  // weight [vocab, text width]
  nn::LayerNorm& ln_final;

 private:
  // The rounding and layer calls that differ between the precision modes (one code path).
  Tensor half(const Tensor& x) const;  // round_to_f16 in official_fp16, identity otherwise
  bool autocast() const;               // bf16_autocast, or an enclosing AutocastBf16Guard
  Tensor norm(const nn::LayerNorm& ln, const Tensor& x) const;
  Tensor blocks(const nn::Transformer& t, const Tensor& x, const Tensor& mask) const;
  Tensor visual_hidden(const Tensor& frames) const;  // [N, T, width] after the transformer
  Tensor project_image(const Tensor& hidden) const;  // ln_post, then @ proj
  void check_frames(const Tensor& frames) const;
  void check_ids(const Tensor& ids) const;
};

// ---- the official fp16 emulation (clip_fp16.cpp) ----------------------------------------------
namespace fp16 {
// Each function computes what the original computes on fp16 tensors, with f32 storage; see the
// comments in clip_fp16.cpp for the rounding points.
Tensor layer_norm(const nn::LayerNorm& ln, const Tensor& x);
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);
Tensor residual_block(const nn::ResidualAttentionBlock& block, const Tensor& x, const Tensor& mask);
Tensor transformer(const nn::Transformer& t, const Tensor& x, const Tensor& mask);
}  // namespace fp16

}  // namespace xclip::models
