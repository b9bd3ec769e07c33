#include "xclip/models/temporal_encoder.hpp"

#include "xclip/ops.hpp"

namespace xclip::models {

Embedding::Embedding(int64_t rows, int64_t dim, DType dtype)
    : weight(register_parameter("weight", Tensor::zeros(Shape{rows, dim}, dtype))) {}

Tensor frame_padding_mask(const Tensor& video_mask, DType dtype) {
  XCLIP_CHECK(video_mask.ndim() == 2, "temporal encoder: video_mask must be [videos, frames], got ", video_mask.str());
  NoGradGuard no_grad;  // the mask is data
  Tensor m = video_mask.to(dtype);
  Tensor additive = ops::scale(ops::add_scalar(ops::neg(m), 1.0), kFramePaddingLogit);
  return additive.view(Shape{m.dim(0), 1, m.dim(1)});
}

Tensor temporal_encode(const Tensor& frames, const Tensor& video_mask, const Tensor& position_table,
                       const nn::Transformer& transformer) {
  XCLIP_CHECK(frames.ndim() == 3, "temporal encoder: frames must be [videos, frames, dim], got ", frames.str());
  const int64_t V = frames.dim(0), N = frames.dim(1), D = frames.dim(2);
  XCLIP_CHECK(video_mask.ndim() == 2 && video_mask.dim(0) == V && video_mask.dim(1) == N,
              "temporal encoder: video_mask ", video_mask.str(), " does not match frames ", frames.str());
  XCLIP_CHECK(position_table.ndim() == 2 && position_table.dim(1) == D && position_table.dim(0) >= N,
              "temporal encoder: frame_position_embeddings ", position_table.str(), " cannot serve ", N,
              " frames of width ", D);
  XCLIP_CHECK(transformer.width == D, "temporal encoder: transformerClip width ", transformer.width,
              " differs from the frame feature width ", D);
  Tensor positions = ops::narrow(position_table, 0, 0, N);  // [N, D], broadcast over videos
  Tensor x = ops::add(frames, positions);
  x = transformer.forward(x, frame_padding_mask(video_mask, frames.dtype()));
  return ops::add(x, frames);
}

}  // namespace xclip::models
