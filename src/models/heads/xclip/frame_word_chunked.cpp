// The frame-word term: which path runs when, and bounded memory for training.
//
// The fine-grained matrix c = (w · local_mat_weight)·fᵀ is [T, L, V, N]: 1.6 M elements for a
// training batch of 64 (L 32, N 12), 35 M for the official global batch of 300, 384 M for a 1k × 1k
// evaluation. Two paths compute the same value:
//  - No gradient needed (grad mode off, or no input requires grad): the fused kernel
//    (frame_word_fused.cpp, k::aosm_frame_word) forms each (text, video) pair's L×N block in a
//    small buffer and pools it at once; c is never stored. This is evaluation on both devices. On
//    CUDA, sizes beyond the kernel's budget (L·N > 4096, see cuda/aosm.cu) take the graph below.
//  - Otherwise (training): the graph of aosm_pool ops, with memory bounded by building c for
//    chunks of texts, each at most config.frame_word_chunk_elements elements. The whole term is
//    one node on the tape whose forward keeps only its inputs; its backward rebuilds each chunk's
//    graph, runs it backward and drops it (recomputation, as activation checkpointing), so at most
//    one chunk's intermediates are alive. Batches that fit in one chunk take the plain graph.
#include "xclip/autograd.hpp"
#include "xclip/models/heads/xclip_head.hpp"
#include "xclip/ops.hpp"

namespace xclip::models {

namespace {

// The differentiable inputs of the term, in a fixed order (undefined = identity / absent).
enum Slot { kWords, kFrames, kLocal, kWordMat, kFrameMat, kFrameMat2, kWordMat2, kSlots };

struct FrameWordData {
  HeadConfig config;
  Tensor word_mask;   // [T, L] 0/1 (read only with mask_padding)
  Tensor frame_mask;  // [V, N]
};

// The term for the given texts (all of `in[kWords]`) against every video: [T, V], before λ.
Tensor frame_word_block(const FrameWordData& d, const std::vector<Tensor>& in, const Tensor& word_mask) {
  const HeadConfig& c = d.config;
  const Tensor& words = in[kWords];
  const Tensor& frames = in[kFrames];
  const int64_t T = words.dim(0), L = words.dim(1), D = words.dim(2);
  const int64_t V = frames.dim(0), N = frames.dim(1);
  Tensor projected = in[kLocal].defined() ? ops::matmul(words, in[kLocal]) : words;  // w · local_mat_weight
  Tensor sims = ops::reshape(ops::matmul(ops::reshape(projected, Shape{T * L, D}),
                                         ops::reshape(frames, Shape{V * N, D}), false, true),
                             Shape{T, L, V, N});
  Tensor word_mask4, frame_mask4, word_mask3, frame_mask3;
  if (c.mask_padding) {
    word_mask4 = detail::mask_as(word_mask, sims.dtype(), Shape{T, L, 1, 1});
    frame_mask4 = detail::mask_as(d.frame_mask, sims.dtype(), Shape{1, 1, V, N});
    word_mask3 = detail::mask_as(word_mask, sims.dtype(), Shape{T, L, 1});
    frame_mask3 = detail::mask_as(d.frame_mask, sims.dtype(), Shape{1, V, N});
  }
  const Pool first = c.aggregation.first, second = c.aggregation.second;
  // First stage, both paths: over words for every frame, over frames for every word.
  Tensor word_level = aosm_pool(sims, 1, first, c.temperature, in[kWordMat], word_mask4);     // [T, V, N]
  Tensor frame_level = aosm_pool(sims, 3, first, c.temperature, in[kFrameMat], frame_mask4);  // [T, L, V]
  // Second stage: the sentence-to-frame and video-to-word scores.
  Tensor sent2frame = aosm_pool(word_level, 2, second, c.temperature, in[kFrameMat2], frame_mask3);  // [T, V]
  Tensor video2word = aosm_pool(frame_level, 1, second, c.temperature, in[kWordMat2], word_mask3);   // [T, V]
  return ops::scale(ops::add(sent2frame, video2word), 0.5);
}

struct Chunk {
  int64_t start, size;
};

std::vector<Chunk> text_chunks(int64_t T, int64_t per_text, int64_t budget) {
  const int64_t step = std::max<int64_t>(1, budget / std::max<int64_t>(1, per_text));
  std::vector<Chunk> out;
  for (int64_t s = 0; s < T; s += step) out.push_back({s, std::min(step, T - s)});
  return out;
}

std::vector<Tensor> with_words(std::vector<Tensor> in, const Tensor& words) {
  in[kWords] = words;
  return in;
}

Tensor narrow_rows(const Tensor& t, const Chunk& ch) { return ops::narrow(t, 0, ch.start, ch.size); }

// Forward chunk by chunk with no graph, concatenated along the texts.
Tensor chunked_forward(const FrameWordData& d, const std::vector<Tensor>& in, const std::vector<Chunk>& chunks) {
  NoGradGuard no_grad;
  std::vector<Tensor> parts;
  for (const Chunk& ch : chunks)
    parts.push_back(frame_word_block(d, with_words(in, narrow_rows(in[kWords], ch)), narrow_rows(d.word_mask, ch)));
  return parts.size() == 1 ? parts[0] : ops::concat(parts, 0);
}

// The backward of the checkpointed term: rebuild each chunk with fresh leaves, backpropagate the
// chunk's slice of the output gradient, keep the leaves' gradients, drop the chunk's graph.
std::vector<Tensor> chunked_backward(const FrameWordData& d, const std::vector<Tensor>& saved,
                                     const std::vector<Chunk>& chunks, const Tensor& grad_out) {
  GradModeGuard grad_on(true);
  std::vector<Tensor> leaves(kSlots);
  for (int i = kFrames; i < kSlots; ++i) {
    if (!saved[size_t(i)].defined()) continue;
    leaves[size_t(i)] = saved[size_t(i)].detach();
    leaves[size_t(i)].set_requires_grad(saved[size_t(i)].requires_grad());
  }
  const bool words_need_grad = saved[kWords].requires_grad();
  std::vector<Tensor> word_grads;
  for (const Chunk& ch : chunks) {
    Tensor w;
    {
      NoGradGuard no_grad;
      w = narrow_rows(saved[kWords].detach(), ch);
    }
    w.set_requires_grad(words_need_grad);
    Tensor out = frame_word_block(d, with_words(leaves, w), narrow_rows(d.word_mask, ch));
    if (out.requires_grad()) run_backward(out, narrow_rows(grad_out, ch));
    if (words_need_grad) word_grads.push_back(w.grad().defined() ? w.grad() : Tensor::zeros(w.shape(), w.dtype(), w.device()));
  }
  std::vector<Tensor> grads(kSlots);
  if (words_need_grad) grads[kWords] = word_grads.size() == 1 ? word_grads[0] : ops::concat(word_grads, 0);
  for (int i = kFrames; i < kSlots; ++i)
    if (leaves[size_t(i)].defined() && leaves[size_t(i)].requires_grad()) grads[size_t(i)] = leaves[size_t(i)].grad();
  return grads;
}

}  // namespace

Tensor frame_word_similarity(const HeadConfig& config, const AosmMatrices& aosm, const TextSide& text,
                             const VideoSide& video) {
  FrameWordData d{config, text.mask, video.mask};
  std::vector<Tensor> in(kSlots);
  in[kWords] = text.words;
  in[kFrames] = video.frames;
  if (aosm.defined()) {
    in[kLocal] = aosm.local_mat_weight;
    // The mixing matrices belong to the attention pooling only; mean and max have none.
    if (config.aggregation.first == Pool::attention) {
      in[kWordMat] = aosm.word_mat_weight;
      in[kFrameMat] = aosm.frame_mat_weight;
    }
    if (config.aggregation.second == Pool::attention) {
      in[kFrameMat2] = aosm.frame_mat_weight2;
      in[kWordMat2] = aosm.word_mat_weight2;
    }
  }
  const int64_t T = text.words.dim(0), L = text.words.dim(1);
  if (!needs_grad(in) && detail::frame_word_fused_fits(video.frames.device(), video.frames.dtype(), L,
                                                       video.frames.dim(1)))
    return detail::frame_word_fused(config,
                                    {in[kWords], in[kFrames], in[kLocal], in[kWordMat], in[kFrameMat],
                                     in[kFrameMat2], in[kWordMat2]},
                                    text.mask, video.mask);
  const int64_t per_text = L * video.frames.dim(0) * video.frames.dim(1);
  const std::vector<Chunk> chunks = text_chunks(T, per_text, config.frame_word_chunk_elements);
  if (chunks.size() == 1) return frame_word_block(d, in, text.mask);  // fits: the plain graph
  Tensor out = chunked_forward(d, in, chunks);
  if (!needs_grad(in)) return out;
  std::vector<Tensor> saved;
  for (const Tensor& t : in) saved.push_back(t.defined() ? t.detach() : t);
  for (size_t i = 0; i < in.size(); ++i)
    if (in[i].defined()) saved[i].set_requires_grad(in[i].requires_grad());
  return record("frame_word_chunked", out, in, [d, saved, chunks](const Tensor& g) {
    return chunked_backward(d, saved, chunks, g);
  });
}

}  // namespace xclip::models
