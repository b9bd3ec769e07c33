// HeadConfig: every option of the similarity head as data: which head family (heads/head.hpp's
// registry), the options every family reads (sim_header, max_words, max_frames, the temporal
// encoder's size, batch_size_val) and those of the X-CLIP family (τ, contrasts, aggregation,
// masks, learnable matrices, chunking). The defaults are what the official X-CLIP scripts train
// (sim_header seqTransf, 4 temporal layers, τ = 0.01, the four contrasts with the eight learnable
// AOSM matrices, nothing masked in the AOSM softmaxes); the paper's ablations are other values of
// the same fields, never a code fork.
//
// JSON (every key optional; names as main_xclip.py spells its flags where it has one):
//   {"head": "xclip" | "clip4clip",             the family; clip4clip applies its preset first
//    "model": ...,                              the same as "head" (the older spelling)
//    "sim_header": "seqTransf" | "meanP",       temporal encoder on / off (Table 8); the CLIP4Clip
//                                               families also take tightTransf (and EA seqLSTM)
//    "max_words": 32, "max_frames": 12, "cross_num_hidden_layers": 4,
//    "temporal_heads": 0,                       0 = width / 64, as the original
//    "temperature": 0.01,                       AOSM softmax τ (Table 9)
//    "contrasts": ["video_sentence", "video_word", "sentence_frame", "frame_word"],   (Table 6)
//    "aggregation": "attention" | "mean-mean" | "max-max" | "mean-max" | "max-mean", (Table 7)
//    "mask_padding": false, "learnable_aosm": true,
//    "use_original_clip_for_frame_features": true,
//    "batch_size_val": 40, "frame_word_chunk_elements": 16777216,
//    ...}                                       any option the chosen family declares (options below)
#pragma once
#include <cstdint>
#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

namespace xclip::models {

// How one AOSM stage reduces a similarity vector to a score.
//   attention: Σ_k x_k·w'_k with w = softmax(x/τ), w' = w·M (M the stage's learnable matrix,
//              the identity when learnable_aosm is off): the official AOSM.
//   mean:      (1/n) Σ_k x_k.     max: max_k x_k.
enum class Pool { attention, mean, max };

// Table 7 of the paper, "first-second". Our reading (the paper names the variants, the code has
// only attention), chosen so that each variant replaces every softmax-weighted sum of the coded
// AOSM by a pooling and nothing else changes:
//   first  = the pooling of the first stage of the fine-grained (frame-word) matrix, applied on
//            both AOSM paths: over words for every frame (word-level) and over frames for every
//            word (frame-level);
//   second = the pooling of the second stage of those two paths (over frames of the word-level
//            vector, over words of the frame-level vector) AND of the cross-grained vectors
//            (video-word over words, sentence-frame over frames), which are at the same
//            granularity as a first-stage output: one coarse side against one fine axis.
// So "max-mean" is FILIP's token-wise max then mean in both directions, averaged; "max-max" and
// "mean-mean" are the global max / mean of the matrix; "attention" is "attention-attention".
struct Aggregation {
  Pool first = Pool::attention;
  Pool second = Pool::attention;
  static Aggregation parse(const std::string& text);  // "attention", "mean-max", ...; throws
  std::string str() const;
  bool operator==(const Aggregation&) const = default;
};

// The four contrasts of Table 6, each averaged into the logits when on.
struct Contrasts {
  bool video_sentence = true;
  bool video_word = true;
  bool sentence_frame = true;
  bool frame_word = true;
  int count() const { return int(video_sentence) + int(video_word) + int(sentence_frame) + int(frame_word); }
  bool operator==(const Contrasts&) const = default;
};

struct HeadConfig {
  std::string head = "xclip";            // the head family (models::head_families())
  std::string sim_header = "seqTransf";  // "seqTransf" (temporal encoder) or "meanP" (none)
  int64_t max_words = 32;                 // L: the word_* matrices are [L, L]
  int64_t max_frames = 12;                // N: the frame_* matrices are [N, N]
  int cross_num_hidden_layers = 4;        // temporal encoder depth (the paper says 3, the scripts 4)
  int temporal_heads = 0;                 // 0: width / 64 as the original
  double temperature = 0.01;              // AOSM softmax temperature τ
  Contrasts contrasts;
  Aggregation aggregation;
  // Mask padded words (attention_mask 0) and padded frames (video_mask 0) in every AOSM softmax,
  // mean, max and weighted sum, as the paper's equations imply. Off = the official code, where all
  // L word positions (SOT, EOT, padding) and all N frames take part.
  bool mask_padding = false;
  // The eight identity-initialised matrices of the official code. Off = the paper's equations
  // (identity, not registered as parameters); with video_sentence only this is CLIP4Clip.
  bool learnable_aosm = true;
  // Official: the sentence-frame and frame-word terms use the raw CLIP frame features. false = the
  // paper's figure: they use the temporal encoder's outputs.
  bool use_original_clip_for_frame_features = true;
  int64_t batch_size_val = 40;            // evaluation chunk (texts × videos per block)
  // Upper bound on the elements of one [texts, L, videos, N] frame-word block built at a time in
  // training; larger batches are computed in text chunks with recomputation in the backward.
  int64_t frame_word_chunk_elements = int64_t(1) << 24;

  // Options of the chosen head family beyond the fields above, by the names the family declares
  // in the registry (HeadFamily::options: e.g. a follow-up model's flags under their official
  // names); a family reads them with option(). Keys no family declares are errors.
  std::map<std::string, nlohmann::json> options;
  // The family's option `key` (declared in the registry, so its default is known).
  nlohmann::json option(const std::string& key) const;
  // The same as T (bool, int, int64_t, double, std::string); throws "config: key 'k' must be
  // <type>, got <value>" for a value of another type.
  template <class T>
  T option_as(const std::string& key) const;

  bool temporal_encoder() const { return sim_header == "seqTransf"; }
  // CLIP4Clip's tight type: a cross encoder over every text-video pair (heads/cross_encoder.hpp).
  bool cross_encoder() const { return sim_header == "tightTransf"; }
  // The clip4clip head, meanP / seqTransf: video-sentence only, no learnable matrices.
  static HeadConfig clip4clip(const std::string& sim_header);

  // Throws xclip::Error naming the key on a bad value or an unknown key (keys in `ignore` are
  // skipped: a bundle's config.json also carries non-model keys).
  static HeadConfig from_json(const nlohmann::json& j, const std::set<std::string>& ignore = {});
  nlohmann::json to_json() const;
  void validate() const;  // throws on inconsistent values
};

}  // namespace xclip::models
