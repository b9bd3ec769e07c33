// The building blocks of CLIP and the temporal encoder, with PyTorch's parameter names:
// Linear (weight [out, in], bias), LayerNorm (weight, bias, eps), MultiheadAttention
// (in_proj_weight, in_proj_bias, out_proj.{weight,bias}), ResidualAttentionBlock (attn, ln_1,
// mlp.c_fc, mlp.c_proj, ln_2) and Transformer (resblocks.N).
#pragma once
#include "xclip/nn/module.hpp"

namespace xclip::nn {

// Parameters are created zero-filled in `dtype`; callers initialise or load them.

// A module holding one tensor under the name "weight": conv1 (no bias), token_embedding and
// frame_position_embeddings (nn.Embedding tables, read by index or as a slice of rows).
class WeightModule : public Module {
 public:
  explicit WeightModule(Tensor value) : weight(register_parameter("weight", std::move(value))) {}
  Tensor& weight;
};

class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, bool bias = true, DType dtype = DType::f32);
  Tensor forward(const Tensor& x) const;
  Tensor& weight;
  Tensor* bias = nullptr;
};

class LayerNorm : public Module {
 public:
  LayerNorm(int64_t dim, double eps, DType dtype = DType::f32);
  Tensor forward(const Tensor& x) const;
  Tensor& weight;
  Tensor& bias;
  double eps;
};

class MultiheadAttention : public Module {
 public:
  MultiheadAttention(int64_t width, int heads, DType dtype = DType::f32);
  // x [B, L, D]; mask as ops::multi_head_attention accepts ([L, L], [B, L, L], [B, 1, L]).
  Tensor forward(const Tensor& x, const Tensor& mask = Tensor()) const;
  Tensor& in_proj_weight;
  Tensor& in_proj_bias;
  Linear& out_proj;
  int heads;
};

// mlp: c_fc (D -> 4D), QuickGELU, c_proj (4D -> D).
class Mlp : public Module {
 public:
  Mlp(int64_t width, DType dtype = DType::f32);
  Tensor forward(const Tensor& x) const;
  Linear& c_fc;
  Linear& c_proj;
};

// The four steps a residual block's forward is made of. modules() is the layers' own forwards and
// ops::add; the emulation of the original's fp16 CLIP (models/clip_fp16.cpp) passes versions that
// round to fp16 where the original does, so the block and the loop over blocks are written once.
struct BlockOps {
  Tensor (*layer_norm)(const LayerNorm& ln, const Tensor& x);
  Tensor (*attention)(const MultiheadAttention& attn, const Tensor& x, const Tensor& mask);
  Tensor (*mlp)(const Mlp& mlp, const Tensor& x);
  Tensor (*residual_add)(const Tensor& x, const Tensor& branch);
  static const BlockOps& modules();
};

// Pre-norm block: x + attn(ln_1(x)), then x + mlp(ln_2(x)). `ln_eps` is 1e-5 in CLIP and 1e-12
// in X-CLIP's temporal encoder (BERT-style LayerNorm).
class ResidualAttentionBlock : public Module {
 public:
  ResidualAttentionBlock(int64_t width, int heads, double ln_eps, DType dtype = DType::f32);
  Tensor forward(const Tensor& x, const Tensor& mask = Tensor()) const;
  Tensor forward(const Tensor& x, const Tensor& mask, const BlockOps& steps) const;
  MultiheadAttention& attn;
  LayerNorm& ln_1;
  Mlp& mlp;
  LayerNorm& ln_2;
};

class Transformer : public Module {
 public:
  Transformer(int64_t width, int layers, int heads, double ln_eps, DType dtype = DType::f32);
  Tensor forward(const Tensor& x, const Tensor& mask = Tensor()) const;
  Tensor forward(const Tensor& x, const Tensor& mask, const BlockOps& steps) const;
  std::vector<ResidualAttentionBlock*> resblocks;
  int64_t width;
  int heads;
};

}  // namespace xclip::nn
