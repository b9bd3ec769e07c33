// CLIP4Clip's seqLSTM temporal module (modules/modeling.py, _loose_similarity, sim_header
// "seqLSTM"), used by EA-CLIP4Clip's "Expansion Aggregation vs seqLSTM" configuration. One
// unidirectional LSTM layer of width D over the valid frames of each video (pack_padded_sequence
// with lengths = Σ video_mask), then pad_packed_sequence, which pads with zeros up to the longest
// video of the batch; frames past that length are the input frames themselves; then the residual:
//   out[b, t] = h_t + x_t            t <  len_b
//             = 0   + x_t            len_b ≤ t < max_b len_b
//             = x_t + x_t            t ≥ max_b len_b
// (so a padded frame's value depends on the other videos of the batch, as in the original).
// Gates as torch.nn.LSTM: g = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh = [i, f, g, o];
// c ← σ(f)·c + σ(i)·tanh(g), h ← σ(o)·tanh(c). Composed of existing ops.
// Official names: lstm_visual.{weight_ih_l0, weight_hh_l0} [4D, D], lstm_visual.{bias_ih_l0, bias_hh_l0} [4D].
// Source: src/models/heads/clip4clip/lstm.cpp.
#pragma once
#include "xclip/core/tensor.hpp"
#include "xclip/nn/module.hpp"

namespace xclip::models {

class FrameLstm : public nn::Module {
 public:
  FrameLstm(int64_t width, DType dtype = DType::f32);
  // frames [V, N, D], video_mask [V, N] -> [V, N, D]. Throws for a video without frames (the
  // original's pack_padded_sequence refuses a length 0 too).
  Tensor forward(const Tensor& frames, const Tensor& video_mask) const;
  // torch.nn.LSTM's reset_parameters (CLIP4Clip's init_weights leaves the LSTM alone): every
  // tensor uniform in ±1/√D.
  void reset_parameters(Generator& gen);

 private:
  int64_t width_;
  Tensor& weight_ih_;
  Tensor& weight_hh_;
  Tensor& bias_ih_;
  Tensor& bias_hh_;
};

}  // namespace xclip::models
