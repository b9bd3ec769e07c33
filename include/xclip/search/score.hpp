// Scoring queries against an index with the model's own similarity head: the same functions the
// head's similarity_matrix (what `eval` runs) calls, on the video sides stored in the index.
//   X-CLIP     similarity_terms: the four contrasts with AOSM, averaged (xclip_head.hpp)
//   CLIP4Clip  video_sentence_logits on the mean-pooled video feature (meanP / seqTransf)
// Nothing here decodes video: the index command (src/cli/video) makes the video sides with
// video_sides() from CLIP frame features.
#pragma once
#include <string>
#include <vector>

#include "xclip/models/model.hpp"
#include "xclip/search/index.hpp"

namespace xclip::search {

// The head's video side of encoded videos: for X-CLIP XClipHead::video_side (temporal encoder,
// mean video feature, normalised frames), for CLIP4Clip the mean-pooled video feature and the
// normalised CLIP frames. f32 on the CPU. Throws for a head family search does not know.
VideoSides video_sides(const models::RetrievalModel& model, const models::VideoFeatures& videos);

// [Q, V] scores of Q encoded texts against every indexed video, and each contrast that the head
// has (λ applied, as in the logits; undefined when the head does not compute it).
struct Scores {
  Tensor logits;
  Tensor video_sentence, video_word, sentence_frame, frame_word;
};
// Videos are scored in blocks of `block`. The fused frame-word kernel needs no [T, L, V, N] memory,
// so a block's memory is T·V·max(L, N) values of the cross-grained terms: large blocks are cheap, and
// each block repeats the words' projection (bench_search: 10,000 videos in one block are faster
// than in ten).
inline constexpr int64_t kDefaultBlock = 16384;
Scores score(const models::RetrievalModel& model, const models::TextFeatures& texts, const VideoSides& videos,
             int64_t block = kDefaultBlock);

// The approximate, faster search (`search --shortlist K`): per query the K videos with the best
// video-sentence term (a plain dot product: 4 ms for 10,000 videos), then the full similarity on
// those K only. Exact for the videos it scores; a video outside the shortlist gets logits −∞ and
// terms 0. K <= 0, K >= V or a head whose full similarity is the video-sentence term: score().
Scores score_shortlist(const models::RetrievalModel& model, const models::TextFeatures& texts,
                       const VideoSides& videos, int64_t shortlist, int64_t block = kDefaultBlock);

// Row q of a batch of text features (one query).
models::TextFeatures text_row(const models::TextFeatures& texts, int64_t q);

// What X-CLIP matched between one text and one video (the HTML page's heat map): the word × frame
// similarities and the AOSM attention weights of each stage (softmax over the axis, then the
// learnable mixing matrix), padding words dropped. CLIP4Clip: only the similarities and terms.
struct MatchDetail {
  int64_t words = 0, frames = 0;            // real tokens (SOT..EOT) and real frames
  std::vector<float> word_frame;             // [words, frames] c = (w·local_mat_weight)·fᵀ
  std::vector<float> word_weight_per_frame;  // [words, frames] first stage over words, per frame
  std::vector<float> frame_weight_per_word;  // [words, frames] first stage over frames, per word
  std::vector<float> sentence_frame_weight;  // [frames] sentence-frame stage over frames
  std::vector<float> video_word_weight;      // [words] video-word stage over words
  double video_sentence = 0, video_word = 0, sentence_frame = 0, frame_word = 0, total = 0;
};
// `text` is one row of the query's TextFeatures (T = 1); `row` the video's row in `videos`.
MatchDetail explain(const models::RetrievalModel& model, const models::TextFeatures& text, const VideoSides& videos,
                    int64_t row);

// Scores of rows sorted best first (ties: the lower row first), at most `top` (0: all).
std::vector<int64_t> ranking(const float* scores, int64_t n, int64_t top);

}  // namespace xclip::search
