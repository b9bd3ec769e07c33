// The exact whole-batch step in bounded memory: see include/xclip/models/chunked_step.hpp.
#include "xclip/models/chunked_step.hpp"

#include <algorithm>
#include <cstdio>

#include "xclip/autograd.hpp"
#include "xclip/core/device_memory.hpp"
#include "xclip/ops.hpp"

namespace xclip::models {

namespace {

// A leaf holding `value` (no history) whose gradient backward will fill.
Tensor gradient_leaf(const Tensor& value) {
  Tensor leaf = value.detach();
  leaf.set_requires_grad(true);
  return leaf;
}

// The roots and their gradients of one chunk's recomputed outputs: an output whose leaf got no
// gradient (a head that does not read it) is left out.
struct Roots {
  std::vector<Tensor> outputs, gradients;
  void add(const Tensor& output, const Tensor& leaf, int64_t start, int64_t n) {
    if (!leaf.grad().defined() || !output.requires_grad()) return;
    outputs.push_back(output);
    gradients.push_back(ops::narrow(leaf.grad(), 0, start, n));  // a copy: tensors are contiguous
  }
};

}  // namespace

ChunkedStep::ChunkedStep(const RetrievalModel& model, const Tensor& input_ids, const Tensor& attention_mask,
                         const Tensor& video, const Tensor& video_mask, int64_t chunk_clips)
    : model_(model),
      input_ids_(input_ids),
      attention_mask_(attention_mask),
      video_(video),
      video_mask_(video_mask),
      chunk_(chunk_clips) {
  XCLIP_CHECK(chunk_clips >= 1, "chunked step: chunk_clips must be >= 1, got ", chunk_clips);
  XCLIP_CHECK(input_ids.ndim() == 2 && video.ndim() == 5 && input_ids.dim(0) == video.dim(0),
              "chunked step: ", input_ids.dim(0), " captions for ", video.ndim() == 5 ? video.dim(0) : -1,
              " clips; the contrastive batch pairs caption i with clip i");
  const int64_t B = input_ids.dim(0);
  std::vector<Tensor> sentences, words, frames;
  {
    NoGradGuard no_graph;  // step 1: only the features are kept
    for (int64_t s = 0; s < B; s += chunk_) {
      const int64_t n = std::min(chunk_, B - s);
      TextFeatures t = model.encode_text(ops::narrow(input_ids, 0, s, n), ops::narrow(attention_mask, 0, s, n));
      sentences.push_back(t.sentence);
      words.push_back(t.words);
      frames.push_back(model.encode_video(ops::narrow(video, 0, s, n), ops::narrow(video_mask, 0, s, n)).frames);
    }
  }
  const Device dev = model.device();
  text_ = {gradient_leaf(ops::concat(sentences, 0)), gradient_leaf(ops::concat(words, 0)), attention_mask.to(dev)};
  video_features_ = {gradient_leaf(ops::concat(frames, 0)), video_mask.to(dev)};
  // Step 2's forward: what RetrievalModel::forward does after the towers.
  HeadOutput head = model.head.forward(text_, video_features_, model.logit_scale());
  loss_ = symmetric_cross_entropy(head.logits);
  if (head.extra_loss.defined()) loss_ = ops::add(loss_, head.extra_loss);
}

double ChunkedStep::loss_value() const { return loss_.to(Device::cpu).to(DType::f64).item<double>(); }

void ChunkedStep::backward(double loss_scale) {
  XCLIP_CHECK(!done_, "chunked step: backward called twice (the head's graph is freed by the first)");
  done_ = true;
  (loss_scale == 1.0 ? loss_ : ops::scale(loss_, loss_scale)).backward();  // the head's gradients + dL/dfeatures
  loss_ = loss_.detach();
  const int64_t B = input_ids_.dim(0);
  for (int64_t s = 0; s < B; s += chunk_) {
    const int64_t n = std::min(chunk_, B - s);
    backward_text_chunk(s, n);
    backward_video_chunk(s, n);
  }
}

// Step 3 for captions [start, start + n): the text tower again, with a graph, and one backward
// from its outputs with the gradients they received in the head.
void ChunkedStep::backward_text_chunk(int64_t start, int64_t n) {
  TextFeatures t = model_.encode_text(ops::narrow(input_ids_, 0, start, n), ops::narrow(attention_mask_, 0, start, n));
  Roots roots;
  roots.add(t.sentence, text_.sentence, start, n);
  roots.add(t.words, text_.words, start, n);
  if (!roots.outputs.empty()) run_backward(roots.outputs, roots.gradients);
}

void ChunkedStep::backward_video_chunk(int64_t start, int64_t n) {
  VideoFeatures v = model_.encode_video(ops::narrow(video_, 0, start, n), ops::narrow(video_mask_, 0, start, n));
  Roots roots;
  roots.add(v.frames, video_features_.frames, start, n);
  if (!roots.outputs.empty()) run_backward(roots.outputs, roots.gradients);
}

// ---- --chunk_clips auto ------------------------------------------------------------------------

namespace {

// Every parameter's gradient handle, to put back after a probe: backward replaces a .grad by a
// new tensor (first arrival, or slot = slot + g), so the saved handles keep the old values.
class GradientSnapshot {
 public:
  explicit GradientSnapshot(const RetrievalModel& model) {
    for (auto& [name, p] : const_cast<RetrievalModel&>(model).named_parameters()) saved_.emplace_back(p, p.grad());
  }
  ~GradientSnapshot() {
    for (auto& [param, grad] : saved_) {
      if (grad.defined()) param.mutable_grad() = grad;
      else param.zero_grad();
    }
  }

 private:
  std::vector<std::pair<Tensor, Tensor>> saved_;
};

// The peak tensor memory of `work` above what was in use before it.
template <class Work>
size_t measured_peak(Device device, Work&& work) {
  const size_t before = tensor_memory(device).in_use;
  reset_tensor_memory_peak(device);
  work();
  const size_t peak = tensor_memory(device).peak;
  return peak > before ? peak - before : 0;
}

Tensor zeros_like(const Tensor& t) { return Tensor::zeros(t.shape(), t.dtype(), t.device()); }

// The towers' forward + backward on the first n clips and captions (zero output gradients).
void probe_towers(const RetrievalModel& model, const Tensor& ids, const Tensor& mask, const Tensor& video,
                  const Tensor& video_mask, int64_t n) {
  TextFeatures t = model.encode_text(ops::narrow(ids, 0, 0, n), ops::narrow(mask, 0, 0, n));
  VideoFeatures v = model.encode_video(ops::narrow(video, 0, 0, n), ops::narrow(video_mask, 0, 0, n));
  std::vector<Tensor> roots, grads;
  for (const Tensor& out : {t.sentence, t.words, v.frames}) {
    if (!out.requires_grad()) continue;
    roots.push_back(out);
    grads.push_back(zeros_like(out));
  }
  if (!roots.empty()) run_backward(roots, grads);
}

// The head and the loss, forward + backward, on zero features of a whole batch.
void probe_head(const RetrievalModel& model, const Tensor& mask, const Tensor& video_mask) {
  const int64_t B = mask.dim(0), D = model.clip.config().embed_dim;
  const Device dev = model.device();
  const DType dt = model.logit_scale().dtype();  // the towers return features in the model's dtype
  TextFeatures text{gradient_leaf(Tensor::zeros(Shape{B, D}, dt, dev)),
                    gradient_leaf(Tensor::zeros(Shape{B, mask.dim(1), D}, dt, dev)), mask.to(dev)};
  VideoFeatures video{gradient_leaf(Tensor::zeros(Shape{B, video_mask.dim(1), D}, dt, dev)), video_mask.to(dev)};
  HeadOutput head = model.head.forward(text, video, model.logit_scale());
  Tensor loss = symmetric_cross_entropy(head.logits);
  if (head.extra_loss.defined()) loss = ops::add(loss, head.extra_loss);
  loss.backward();
}

std::string mib(size_t bytes) { return format(int64_t((bytes + (size_t(1) << 19)) >> 20), " MiB"); }

}  // namespace

std::string ChunkPlan::str() const {
  return format(chunk_clips == 0 ? std::string("one graph for the batch of ") + std::to_string(batch)
                                 : format("chunks of ", chunk_clips, " clips (batch ", batch, ")"),
                "; measured ", mib(bytes_per_clip), " per clip + ", mib(bytes_fixed), " for the towers, ",
                mib(bytes_head), " for the head; ", mib(bytes_available), " available");
}

size_t measure_tower_bytes(const RetrievalModel& model, const Tensor& input_ids, const Tensor& attention_mask,
                           const Tensor& video, const Tensor& video_mask, int64_t n) {
  XCLIP_CHECK(n >= 1 && n <= input_ids.dim(0), "measure_tower_bytes: ", n, " clips of a batch of ", input_ids.dim(0));
  GradientSnapshot keep(model);
  return measured_peak(model.device(), [&] { probe_towers(model, input_ids, attention_mask, video, video_mask, n); });
}

size_t measure_head_bytes(const RetrievalModel& model, const Tensor& attention_mask, const Tensor& video_mask) {
  GradientSnapshot keep(model);
  return measured_peak(model.device(), [&] { probe_head(model, attention_mask, video_mask); });
}

ChunkPlan plan_chunk_clips(const RetrievalModel& model, const Tensor& input_ids, const Tensor& attention_mask,
                           const Tensor& video, const Tensor& video_mask, double fraction) {
  XCLIP_CHECK(fraction > 0 && fraction <= 1, "plan_chunk_clips: fraction must be in (0, 1], got ", fraction);
  const Device dev = model.device();
  const int64_t B = input_ids.dim(0);
  ChunkPlan plan;
  plan.batch = B;
  const size_t one = measure_tower_bytes(model, input_ids, attention_mask, video, video_mask, 1);
  const size_t two = B >= 2 ? measure_tower_bytes(model, input_ids, attention_mask, video, video_mask, 2) : 2 * one;
  plan.bytes_per_clip = std::max<size_t>(two > one ? two - one : one, 1);
  plan.bytes_fixed = one > plan.bytes_per_clip ? one - plan.bytes_per_clip : 0;
  plan.bytes_head = measure_head_bytes(model, attention_mask, video_mask);
  plan.bytes_available = available_memory(dev);
  const double budget = fraction * double(plan.bytes_available);
  const double one_graph = double(plan.bytes_fixed) + double(B) * double(plan.bytes_per_clip) + double(plan.bytes_head);
  if (one_graph <= budget) return plan;  // chunk 0
  const double room = budget - double(plan.bytes_fixed) - double(plan.bytes_head);
  plan.chunk_clips = std::clamp<int64_t>(int64_t(room / double(plan.bytes_per_clip)), 1, B);
  return plan;
}

}  // namespace xclip::models
