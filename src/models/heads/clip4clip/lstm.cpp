// CLIP4Clip's seqLSTM temporal module (models/heads/clip4clip_lstm.hpp).
#include "xclip/models/heads/clip4clip_lstm.hpp"

#include <algorithm>
#include <cmath>

#include "xclip/autograd.hpp"
#include "xclip/core/error.hpp"
#include "xclip/ops.hpp"

namespace xclip::models {

namespace {
// The valid-frame count of every video (on the host: the loop over time steps needs them).
std::vector<int64_t> frame_counts(const Tensor& video_mask) {
  const Tensor m = video_mask.to(DType::i64).to(Device::cpu);
  const int64_t V = m.dim(0), N = m.dim(1);
  std::vector<int64_t> counts(size_t(V), 0);
  for (int64_t v = 0; v < V; ++v)
    for (int64_t n = 0; n < N; ++n) counts[size_t(v)] += m.data<int64_t>()[v * N + n] != 0;
  return counts;
}

// [V, 1]: 1 where step t is inside the video, 0 after its end.
Tensor inside(const std::vector<int64_t>& counts, int64_t t, DType dtype, Device device) {
  std::vector<double> v(counts.size());
  for (size_t i = 0; i < counts.size(); ++i) v[i] = t < counts[i] ? 1.0 : 0.0;
  return Tensor::from_vector<double>(v, Shape{int64_t(v.size()), 1}).to(dtype).to(device);
}
}  // namespace

FrameLstm::FrameLstm(int64_t width, DType dtype)
    : width_(width),
      weight_ih_(register_parameter("lstm_visual.weight_ih_l0", Tensor::zeros(Shape{4 * width, width}, dtype))),
      weight_hh_(register_parameter("lstm_visual.weight_hh_l0", Tensor::zeros(Shape{4 * width, width}, dtype))),
      bias_ih_(register_parameter("lstm_visual.bias_ih_l0", Tensor::zeros(Shape{4 * width}, dtype))),
      bias_hh_(register_parameter("lstm_visual.bias_hh_l0", Tensor::zeros(Shape{4 * width}, dtype))) {}

Tensor FrameLstm::forward(const Tensor& frames, const Tensor& video_mask) const {
  XCLIP_CHECK(frames.ndim() == 3 && frames.dim(2) == width_ && video_mask.ndim() == 2 &&
                  video_mask.dim(0) == frames.dim(0) && video_mask.dim(1) == frames.dim(1),
              "seqLSTM: frames must be [videos, frames, ", width_, "] with a matching video_mask, got ", frames.str(),
              " and ", video_mask.str());
  const int64_t V = frames.dim(0), N = frames.dim(1), D = width_;
  const std::vector<int64_t> counts = frame_counts(video_mask);
  XCLIP_CHECK(std::all_of(counts.begin(), counts.end(), [](int64_t c) { return c > 0; }),
              "seqLSTM: a video has no valid frame (video_mask all 0); the original's pack_padded_sequence "
              "refuses it too");
  const int64_t longest = *std::max_element(counts.begin(), counts.end());
  const Tensor input_gates = ops::linear(frames, weight_ih_, bias_ih_);  // [V, N, 4D], every step at once
  Tensor h = Tensor::zeros(Shape{V, D}, frames.dtype(), frames.device());
  Tensor c = h;
  std::vector<Tensor> steps;
  for (int64_t t = 0; t < longest; ++t) {
    const Tensor g = ops::add(ops::squeeze(ops::narrow(input_gates, 1, t, 1), 1), ops::linear(h, weight_hh_, bias_hh_));
    const Tensor i = ops::sigmoid(ops::narrow(g, 1, 0, D)), f = ops::sigmoid(ops::narrow(g, 1, D, D));
    const Tensor cell = ops::tanh(ops::narrow(g, 1, 2 * D, D)), o = ops::sigmoid(ops::narrow(g, 1, 3 * D, D));
    c = ops::add(ops::mul(f, c), ops::mul(i, cell));
    h = ops::mul(o, ops::tanh(c));
    // pad_packed_sequence: zeros after the video's end (the state runs on, its outputs are unused).
    steps.push_back(ops::unsqueeze(ops::mul(h, inside(counts, t, frames.dtype(), frames.device())), 1));
  }
  if (longest < N) steps.push_back(ops::narrow(frames, 1, longest, N - longest));
  return ops::add(steps.size() == 1 ? steps[0] : ops::concat(steps, 1), frames);
}

void FrameLstm::reset_parameters(Generator& gen) {
  NoGradGuard no_grad;
  const double bound = 1.0 / std::sqrt(double(width_));
  for (Tensor* t : {&weight_ih_, &weight_hh_, &bias_ih_, &bias_hh_})
    t->copy_(Tensor::uniform(t->shape(), gen, -bound, bound, DType::f64));
}

}  // namespace xclip::models
