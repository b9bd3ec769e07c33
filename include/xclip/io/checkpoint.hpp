// Loading checkpoints of every kind we meet, without PyTorch:
//
//   kind                 what it is                                   names it gives
//   safetensors          our own files (and any safetensors)          as stored
//   hf_clip_safetensors  Hugging Face CLIPModel safetensors           renamed to the OpenAI layout
//   torch_zip            torch.save (since 1.6): a state_dict, e.g.   the dict's keys
//                        the official X-CLIP pytorch_model.bin.N
//   torchscript          torch.jit.save archives, e.g. OpenAI's       model.state_dict() names:
//                        ViT-B-32.pt / ViT-B-16.pt                    visual.conv1.weight, ...
//   torch_legacy         torch.save before 1.6 (no zip)               the dict's keys
//
//   CheckpointInfo info;
//   NamedTensors sd = io::load_any_checkpoint("ViT-B-32.pt", &info);  // dispatch on content
//
// Tensors keep their stored dtype (fp16 stays fp16). Contiguous tensors of stored zip entries are
// views of the memory-mapped file; non-contiguous ones (views with strides) are made contiguous.
// Truncated, corrupt or unsupported files throw xclip::Error naming the file and the problem.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "xclip/io/safetensors.hpp"

namespace xclip::io {

enum class CheckpointKind { unknown, safetensors, hf_clip_safetensors, torch_zip, torchscript, torch_legacy };
const char* checkpoint_kind_name(CheckpointKind kind);  // "torchscript", ...

struct CheckpointInfo {
  CheckpointKind kind = CheckpointKind::unknown;
  bool renamed_from_hf = false;    // Hugging Face CLIP names were converted to the OpenAI layout
  std::vector<std::string> notes;  // anything a user should know (e.g. guesses made)
};

// Looks at the content (never the file name). Throws only when the file cannot be read; a file of
// no known kind gives `unknown`.
CheckpointKind detect_checkpoint_kind(const std::string& path);
CheckpointKind detect_checkpoint_kind(const std::shared_ptr<FileBytes>& bytes);

// A torch.save file (zip or legacy) or a TorchScript archive; names as stored (no renaming).
NamedTensors load_torch_checkpoint(const std::string& path, CheckpointInfo* info = nullptr);
NamedTensors load_torch_checkpoint(const std::shared_ptr<FileBytes>& bytes, CheckpointInfo* info = nullptr);

// Any kind above; Hugging Face CLIP names (in safetensors or torch.save files) are converted to the
// OpenAI layout. `info` (optional) receives what was found. A file of unknown kind is an error
// naming the file and what it starts with.
NamedTensors load_any_checkpoint(const std::string& path, CheckpointInfo* info = nullptr);
NamedTensors load_any_checkpoint(const std::shared_ptr<FileBytes>& bytes, CheckpointInfo* info = nullptr);

// ---- Hugging Face CLIP <-> OpenAI names ------------------------------------------------------
// True when the names are those of a Hugging Face CLIPModel (vision_model.*, text_model.*, ...).
bool is_hf_clip(const NamedTensors& tensors);
// vision_model./text_model. names -> OpenAI names: q/k/v projections concatenated into
// attn.in_proj_{weight,bias}; patch_embedding -> conv1; pre_layrnorm -> ln_pre; post_layernorm ->
// ln_post; fc1/fc2 -> c_fc/c_proj; layer_norm1/2 -> ln_1/ln_2; final_layer_norm -> ln_final;
// visual_projection.weight -> visual.proj and text_projection.weight -> text_projection
// (both transposed); position_ids buffers are dropped. Any other name is an error.
NamedTensors hf_clip_to_openai(const NamedTensors& hf);
// The inverse (q/k/v split, projections transposed); position_ids are not written.
NamedTensors openai_to_hf_clip(const NamedTensors& openai);

// The three scalar entries OpenAI's TorchScript files carry besides the weights; the original
// loaders delete them before building the model (modeling_xclip.py:93-95).
const std::vector<std::string>& openai_jit_extra_names();  // input_resolution, context_length, vocab_size

}  // namespace xclip::io
