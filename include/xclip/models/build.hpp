// The one place that builds a RetrievalModel, for train, eval, verify and the benchmarks:
//   from_scratch     a CLIP of the given sizes with CLIP's initialize_parameters (seeded), then what
//                    from_pretrained does with a CLIP state (the head's copies from CLIP);
//   from_weights     tensors in memory (official names, CLIP-only or a full model), sizes inferred
//                    from their shapes;
//   from_checkpoint  a CLIP checkpoint and/or a model checkpoint on disk (any format
//                    io::load_any_checkpoint reads); sizes and head config from model_config.json
//                    beside the model checkpoint when there is one, else from the shapes.
// With ClipPrecision::official_fp16 the CLIP parameters are rounded as convert_weights does.
// model_config.json ({"clip": ClipConfig, "xclip": HeadConfig}) is written beside every
// checkpoint, so a model of any size is rebuilt from its folder.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "xclip/models/model.hpp"

namespace xclip::models {

// The sizes of a CLIP trained from scratch (the names of the CLI flags).
struct ScratchClipOptions {
  int64_t vision_width = 64, vision_layers = 2, patch = 8, image_resolution = 32;
  int64_t text_width = 64, text_layers = 2;
  int64_t embed_dim = 64;
  int64_t head_width = 32;        // heads = width / head_width (OpenAI CLIPs: 64)
  int64_t context_length = 77;    // text positions (also the frame_position_embeddings rows)
  int64_t vocab_size = 49408;     // the CLIP BPE vocabulary
};
// Throws naming the option when a size is not positive, a width is not a multiple of head_width,
// or image_resolution is not a multiple of patch.
ClipConfig scratch_clip_config(const ScratchClipOptions& options);

// CLIP's initialize_parameters (Clip::init_random) from `seed`, then from_pretrained with that
// CLIP state: the head's parameters at the original's initialisation and its copies from CLIP
// (frame_position_embeddings = CLIP's text positional_embedding, transformerClip block n = CLIP
// text block n). A temporal encoder without temporal_heads gets CLIP's text heads (it copies
// those blocks), not width / 64.
std::unique_ptr<RetrievalModel> from_scratch(const ClipConfig& clip, HeadConfig head, uint64_t seed,
                                             ClipPrecision precision = ClipPrecision::f32,
                                             DType dtype = DType::f32);
// Re-initialises an existing model as from_scratch does (same seed, same values).
LoadReport init_from_scratch(RetrievalModel& model, uint64_t seed);

// A model holding `weights` (official names; CLIP-only states under clip. or bare), as
// load_pretrained loads them; CLIP's sizes from the shapes (heads = width / head_width).
std::unique_ptr<RetrievalModel> from_weights(const nn::NamedTensorList& weights, const HeadConfig& head,
                                             ClipPrecision precision = ClipPrecision::f32, int64_t head_width = 64,
                                             LoadReport* report = nullptr);

struct CheckpointSources {
  std::filesystem::path clip;   // a CLIP checkpoint (OpenAI .pt, Hugging Face, safetensors), or empty
  std::filesystem::path model;  // a model checkpoint (ours, or the original's pytorch_model.bin), or empty
  int64_t head_width = 64;      // for sizes inferred from shapes
  ClipPrecision precision = ClipPrecision::f32;
  // The head config, given the one saved beside `model` (nullopt when there is none): the
  // caller's precedence of files and flags.
  std::function<HeadConfig(const std::optional<HeadConfig>& saved)> head_config;
  // Called with one line per step (what was loaded, the load reports); default: nothing.
  std::function<void(const std::string&)> log;
};
// The CLIP weights are loaded first, then the model's (as --pretrained_clip_name then --init_model).
std::unique_ptr<RetrievalModel> from_checkpoint(const CheckpointSources& sources);

nlohmann::json model_config_to_json(const ClipConfig& clip, const HeadConfig& head);
void save_model_config(const std::filesystem::path& path, const ClipConfig& clip, const HeadConfig& head);  // atomically
// model_config.json in the folder of `weights`, when there is one.
std::filesystem::path model_config_beside(const std::filesystem::path& weights);

}  // namespace xclip::models
