// CLIP image and text encoders (spec §1-2; module_clip.py VisualTransformer, CLIP.encode_image,
// CLIP.encode_text). One code path for every precision mode: `half()` marks every place where the
// original holds an fp16 tensor (identity in f32 mode), `norm()`/`blocks()` pick the f32 layers or
// their fp16 emulation (clip_fp16.cpp); in bf16_autocast the encoders run the f32 layers inside an
// ops::AutocastBf16Guard (their matmuls in bf16).
#include "xclip/models/clip.hpp"

#include <cmath>

#include "xclip/core/profile.hpp"
#include "xclip/ops.hpp"

namespace xclip::models {

namespace {

constexpr double kClipLayerNormEps = 1e-5;

ClipConfig validated(const ClipConfig& c, ClipPrecision precision, DType dtype) {
  const ClipVisionConfig& v = c.vision;
  const ClipTextConfig& t = c.text;
  XCLIP_CHECK(c.embed_dim > 0 && v.width > 0 && v.layers > 0 && v.heads > 0 && v.patch > 0 && v.grid > 0 &&
                  t.width > 0 && t.layers > 0 && t.heads > 0 && t.context_length > 0 && t.vocab_size > 0,
              "Clip: every size must be positive: ", c.str());
  XCLIP_CHECK(v.width % v.heads == 0 && t.width % t.heads == 0, "Clip: widths must divide into heads: ", c.str());
  XCLIP_CHECK(v.resolution == v.patch * v.grid, "Clip: resolution ", v.resolution, " != patch ", v.patch,
              " x grid ", v.grid);
  XCLIP_CHECK(dtype == DType::f32 || dtype == DType::f64, "Clip: parameters must be f32 or f64, got ",
              dtype_name(dtype));
  XCLIP_CHECK(precision == ClipPrecision::f32 || dtype == DType::f32, "Clip: the ",
              precision == ClipPrecision::official_fp16 ? "official fp16 emulation" : "bf16 autocast",
              " needs f32 parameters, got ", dtype_name(dtype));
  return c;
}

void fill_normal(Tensor& p, Generator& gen, double std) {
  p.copy_(Tensor::randn(p.shape(), gen, p.dtype(), 0.0, std));
}

// OpenAI initialize_parameters for one tower's blocks.
void init_blocks(nn::Transformer& t, Generator& gen) {
  const double width = double(t.width), layers = double(t.resblocks.size());
  const double attn_std = std::pow(width, -0.5);
  const double proj_std = attn_std * std::pow(2.0 * layers, -0.5);
  const double fc_std = std::pow(2.0 * width, -0.5);
  for (nn::ResidualAttentionBlock* b : t.resblocks) {
    fill_normal(b->attn.in_proj_weight, gen, attn_std);
    fill_normal(b->attn.out_proj.weight, gen, proj_std);
    fill_normal(b->mlp.c_fc.weight, gen, fc_std);
    fill_normal(b->mlp.c_proj.weight, gen, proj_std);
  }
}

}  // namespace

ClipVision::ClipVision(const ClipVisionConfig& c, int64_t embed_dim, DType dtype)
    : config(c),
      class_embedding(register_parameter("class_embedding", Tensor::zeros(Shape{c.width}, dtype))),
      positional_embedding(
          register_parameter("positional_embedding", Tensor::zeros(Shape{c.tokens(), c.width}, dtype))),
      proj(register_parameter("proj", Tensor::zeros(Shape{c.width, embed_dim}, dtype))),
      conv1(register_module("conv1",
                            std::make_shared<nn::WeightModule>(Tensor::zeros(Shape{c.width, 3, c.patch, c.patch}, dtype)))),
      ln_pre(register_module("ln_pre", std::make_shared<nn::LayerNorm>(c.width, kClipLayerNormEps, dtype))),
      transformer(register_module("transformer", std::make_shared<nn::Transformer>(
                                                     c.width, int(c.layers), int(c.heads), kClipLayerNormEps, dtype))),
      ln_post(register_module("ln_post", std::make_shared<nn::LayerNorm>(c.width, kClipLayerNormEps, dtype))) {}

Clip::Clip(const ClipConfig& config, ClipPrecision precision, DType dtype)
    : config_(validated(config, precision, dtype)),
      precision_(precision),
      positional_embedding(register_parameter(
          "positional_embedding", Tensor::zeros(Shape{config.text.context_length, config.text.width}, dtype))),
      text_projection(
          register_parameter("text_projection", Tensor::zeros(Shape{config.text.width, config.embed_dim}, dtype))),
      logit_scale(register_parameter("logit_scale", Tensor::zeros(Shape{}, dtype))),
      visual(register_module("visual", std::make_shared<ClipVision>(config.vision, config.embed_dim, dtype))),
      transformer(register_module("transformer",
                                  std::make_shared<nn::Transformer>(config.text.width, int(config.text.layers),
                                                                    int(config.text.heads), kClipLayerNormEps, dtype))),
      token_embedding(register_module("token_embedding", std::make_shared<nn::WeightModule>(Tensor::zeros(
                                                             Shape{config.text.vocab_size, config.text.width}, dtype)))),
      ln_final(register_module("ln_final", std::make_shared<nn::LayerNorm>(config.text.width, kClipLayerNormEps, dtype))) {}

// ---- precision-dependent pieces ----------------------------------------------------------------

Tensor Clip::half(const Tensor& x) const {
  return precision_ == ClipPrecision::official_fp16 ? round_to_f16(x) : x;
}

Tensor Clip::norm(const nn::LayerNorm& ln, const Tensor& x) const {
  return precision_ == ClipPrecision::official_fp16 ? fp16::layer_norm(ln, x) : ln.forward(x);
}

bool Clip::autocast() const {
  return precision_ == ClipPrecision::bf16_autocast || ops::autocast_bf16_enabled();
}

Tensor Clip::blocks(const nn::Transformer& t, const Tensor& x, const Tensor& mask) const {
  return precision_ == ClipPrecision::official_fp16 ? fp16::transformer(t, x, mask) : t.forward(x, mask);
}

// ---- image encoder -----------------------------------------------------------------------------

void Clip::check_frames(const Tensor& frames) const {
  const int64_t r = config_.vision.resolution;
  XCLIP_CHECK(frames.ndim() == 4 && frames.dim(1) == 3 && frames.dim(2) == r && frames.dim(3) == r,
              "Clip.encode_image: frames must be [N, 3, ", r, ", ", r, "], got ", frames.str());
  XCLIP_CHECK(frames.dtype() == visual.proj.dtype(), "Clip.encode_image: frames are ", dtype_name(frames.dtype()),
              " but the model is ", dtype_name(visual.proj.dtype()));
}

Tensor Clip::visual_hidden(const Tensor& frames) const {
  check_frames(frames);
  const int64_t n = frames.dim(0), width = config_.vision.width;
  // conv1 (kernel = stride = patch, no bias), flattened row-major over the grid: [N, grid², width].
  Tensor x = [&] {
    profile::Scope region("patch_embed");
    return half(ops::patch_embed(half(frames), half(visual.conv1.weight)));
  }();
  // Token 0 is class_embedding (+ zeros, as the original broadcasts it over the batch).
  Tensor cls = ops::add(Tensor::zeros(Shape{n, 1, width}, x.dtype(), x.device()),
                        ops::reshape(half(visual.class_embedding), Shape{1, 1, width}));
  x = ops::concat({cls, x}, 1);
  x = half(ops::add(x, half(visual.positional_embedding)));
  x = norm(visual.ln_pre, x);
  return blocks(visual.transformer, x, Tensor());  // no mask in the image encoder
}

Tensor Clip::project_image(const Tensor& hidden) const {
  profile::Scope region("ln_post_proj");
  return half(ops::matmul(norm(visual.ln_post, hidden), half(visual.proj)));
}

Tensor Clip::encode_image(const Tensor& frames) const {
  ops::AutocastBf16Guard bf16(autocast());
  // ln_post and proj act on each token independently: projecting only the CLS row gives the
  // same frame feature as the original, which projects all tokens and keeps token 0.
  profile::Scope region("visual");
  Tensor hidden = visual_hidden(frames);
  Tensor cls = ops::squeeze(ops::narrow(hidden, 1, 0, 1), 1);
  return project_image(cls);
}

ImageEncoding Clip::encode_image_with_tokens(const Tensor& frames) const {
  ops::AutocastBf16Guard bf16(autocast());
  profile::Scope region("visual");
  Tensor tokens = project_image(visual_hidden(frames));
  return {ops::squeeze(ops::narrow(tokens, 1, 0, 1), 1), tokens};
}

// ---- text encoder ------------------------------------------------------------------------------

void Clip::check_ids(const Tensor& ids) const {
  XCLIP_CHECK(ids.ndim() == 2 && ids.dim(1) >= 1 && ids.dim(1) <= config_.text.context_length,
              "Clip.encode_text: token ids must be [B, L] with 1 <= L <= context length ",
              config_.text.context_length, ", got ", ids.str());
  XCLIP_CHECK(ids.dtype() == DType::i64 || ids.dtype() == DType::i32, "Clip.encode_text: token ids must be i64 or i32, got ",
              ids.str());
  for (int64_t id : ids.to_vector<int64_t>())
    XCLIP_CHECK(id >= 0 && id < config_.text.vocab_size, "Clip.encode_text: token id ", id,
                " out of range for the vocabulary of ", config_.text.vocab_size);
}

TextEncoding Clip::encode_text(const Tensor& ids) const {
  check_ids(ids);
  ops::AutocastBf16Guard bf16(autocast());
  profile::Scope region("text");
  const int64_t L = ids.dim(1);
  Tensor x = half(ops::index_select(token_embedding.weight, ids));  // [B, L, width]
  x = half(ops::add(x, half(ops::narrow(positional_embedding, 0, 0, L))));
  // Causal mask built for the actual L (the original's lazy build_attention_mask).
  x = blocks(transformer, x, ops::causal_mask(L, x.dtype(), x.device()));
  Tensor words = half(ops::matmul(norm(ln_final, x), half(text_projection)));  // projection at every position
  // The sentence is the row of the largest id: the EOT token (49407) in CLIP's vocabulary.
  Tensor sentence = ops::select_rows(words, ops::argmax(ids, -1));
  return {sentence, words};
}

Tensor Clip::forward(const Tensor& frames, const Tensor& ids) const {
  Tensor image = ops::l2_normalize(encode_image(frames), -1);
  Tensor text = ops::l2_normalize(encode_text(ids).sentence, -1);
  return ops::mul(ops::exp(logit_scale), ops::matmul(image, text, false, true));
}

// ---- weights -----------------------------------------------------------------------------------

void Clip::init_random(Generator& gen) {
  NoGradGuard no_grad;
  const double vscale = std::pow(double(config_.vision.width), -0.5);
  fill_normal(visual.class_embedding, gen, vscale);
  fill_normal(visual.positional_embedding, gen, vscale);
  fill_normal(visual.proj, gen, vscale);
  // conv1 as PyTorch's default Conv2d init: kaiming_uniform(a=√5) = U(±1/sqrt(fan_in)).
  const double bound = 1.0 / std::sqrt(double(3 * config_.vision.patch * config_.vision.patch));
  visual.conv1.weight.copy_(Tensor::uniform(visual.conv1.weight.shape(), gen, -bound, bound, visual.conv1.weight.dtype()));
  init_blocks(visual.transformer, gen);
  fill_normal(token_embedding.weight, gen, 0.02);
  fill_normal(positional_embedding, gen, 0.01);
  init_blocks(transformer, gen);
  fill_normal(text_projection, gen, std::pow(double(config_.text.width), -0.5));
  logit_scale.fill_(std::log(1.0 / 0.07));
}

void Clip::round_official_fp16_parameters() {
  for (auto& [name, p] : named_parameters())
    if (is_official_fp16_parameter(name)) p.copy_(p.to(DType::f16));
}

}  // namespace xclip::models
