// The CLIP configuration of a checkpoint, inferred from its tensor names and shapes as the original
// build_model does (spec §1.1-§2): vision width / layers / heads / patch / grid / resolution,
// embed_dim, context_length, vocab_size, text width / heads / layers.
//
//   NamedTensors sd = io::load_any_checkpoint("ViT-B-32.pt");
//   models::ClipConfig c = io::infer_clip_config(sd);          // == models::ClipConfig::vit_b32()
//   models::ClipConfig x = io::infer_clip_config(xclip_sd, "clip.");   // CLIP inside X-CLIP
//
// One implementation: this forwards to models::infer_clip_config (the model code builds from the
// same function), adding the file name to its errors.
#pragma once
#include <optional>
#include <string>

#include "xclip/io/safetensors.hpp"
#include "xclip/models/clip.hpp"

namespace xclip::io {

// Only names starting with `prefix` count (prefix stripped). heads = width / head_width (64 in
// every OpenAI CLIP). Throws xclip::Error naming the source file and the missing tensor or the
// inconsistent shape (ResNet CLIPs, without visual.proj, are rejected).
models::ClipConfig infer_clip_config(const NamedTensors& tensors, const std::string& prefix = "",
                                     int64_t head_width = 64);

// The prefix under which a state dict holds CLIP: "" for a plain CLIP, "clip." for X-CLIP /
// CLIP4Clip checkpoints; nullopt when there is no visual.proj under either.
std::optional<std::string> find_clip_prefix(const NamedTensors& tensors);

}  // namespace xclip::io
