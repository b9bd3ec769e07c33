// Building an X-CLIP model to train or evaluate: a small CLIP from a handful of sizes (training
// from scratch, e.g. the demo), random initialisation as CLIP's initialize_parameters followed by
// from_pretrained's copies into the temporal encoder, and the model config saved beside weights
// (model_config.json) so that a checkpoint of any size can be rebuilt.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "xclip/models/xclip.hpp"

namespace xclip::train {

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
models::ClipConfig scratch_clip_config(const ScratchClipOptions& options);

// CLIP's initialize_parameters (Clip::init_random) from `seed`, then what from_pretrained does with
// a CLIP state: the eight AOSM matrices the identity, frame_position_embeddings = CLIP's text
// positional_embedding and transformerClip block n = CLIP text block n (n < cross layers; any
// further block keeps the original's init_weights).
models::LoadReport init_xclip_random(models::XClip& model, uint64_t seed);

// {"clip": {embed_dim, vision: {...}, text: {...}}, "xclip": XClipConfig::to_json()}.
nlohmann::json model_config_to_json(const models::ClipConfig& clip, const models::XClipConfig& xclip);
models::ClipConfig clip_config_from_json(const nlohmann::json& j);  // throws naming a missing key
void save_model_config(const std::filesystem::path& path, const models::ClipConfig& clip,
                       const models::XClipConfig& xclip);  // atomically
// model_config.json in the folder of `weights`, when there is one.
std::filesystem::path model_config_beside(const std::filesystem::path& weights);

}  // namespace xclip::train
