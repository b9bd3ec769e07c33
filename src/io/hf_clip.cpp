// Hugging Face CLIPModel names <-> OpenAI CLIP names (the layout X-CLIP's module_clip.py uses).
#include <algorithm>
#include <array>
#include <map>

#include "tensor_layout.hpp"
#include "xclip/io/checkpoint.hpp"

namespace xclip::io {

namespace {

// Names outside the residual blocks. The two projections are transposed separately.
const std::vector<std::pair<std::string, std::string>>& top_level_names() {  // (HF, OpenAI)
  static const std::vector<std::pair<std::string, std::string>> names{
      {"vision_model.embeddings.class_embedding", "visual.class_embedding"},
      {"vision_model.embeddings.patch_embedding.weight", "visual.conv1.weight"},
      {"vision_model.embeddings.position_embedding.weight", "visual.positional_embedding"},
      {"vision_model.pre_layrnorm.weight", "visual.ln_pre.weight"},  // sic: Hugging Face's spelling
      {"vision_model.pre_layrnorm.bias", "visual.ln_pre.bias"},
      {"vision_model.post_layernorm.weight", "visual.ln_post.weight"},
      {"vision_model.post_layernorm.bias", "visual.ln_post.bias"},
      {"text_model.embeddings.token_embedding.weight", "token_embedding.weight"},
      {"text_model.embeddings.position_embedding.weight", "positional_embedding"},
      {"text_model.final_layer_norm.weight", "ln_final.weight"},
      {"text_model.final_layer_norm.bias", "ln_final.bias"},
      {"logit_scale", "logit_scale"},
  };
  return names;
}

const std::vector<std::pair<std::string, std::string>>& projection_names() {  // (HF, OpenAI), transposed
  static const std::vector<std::pair<std::string, std::string>> names{
      {"visual_projection.weight", "visual.proj"}, {"text_projection.weight", "text_projection"}};
  return names;
}

const std::vector<std::pair<std::string, std::string>>& block_names() {  // inside one layer: (HF, OpenAI)
  static const std::vector<std::pair<std::string, std::string>> names{
      {"self_attn.out_proj.weight", "attn.out_proj.weight"}, {"self_attn.out_proj.bias", "attn.out_proj.bias"},
      {"layer_norm1.weight", "ln_1.weight"},                 {"layer_norm1.bias", "ln_1.bias"},
      {"mlp.fc1.weight", "mlp.c_fc.weight"},                 {"mlp.fc1.bias", "mlp.c_fc.bias"},
      {"mlp.fc2.weight", "mlp.c_proj.weight"},               {"mlp.fc2.bias", "mlp.c_proj.bias"},
      {"layer_norm2.weight", "ln_2.weight"},                 {"layer_norm2.bias", "ln_2.bias"},
  };
  return names;
}

const std::array<std::pair<const char*, const char*>, 2> kTowers{{
    {"vision_model.encoder.layers.", "visual.transformer.resblocks."},
    {"text_model.encoder.layers.", "transformer.resblocks."},
}};

const std::string* lookup(const std::vector<std::pair<std::string, std::string>>& table, const std::string& key,
                          bool forward) {
  for (const auto& [hf, openai] : table)
    if ((forward ? hf : openai) == key) return forward ? &openai : &hf;
  return nullptr;
}

// "12.rest" -> ("12", "rest"); false unless the index is all digits.
bool split_layer(const std::string& s, std::string& index, std::string& rest) {
  const size_t dot = s.find('.');
  if (dot == 0 || dot == std::string::npos) return false;
  index = s.substr(0, dot);
  rest = s.substr(dot + 1);
  return index.find_first_not_of("0123456789") == std::string::npos;
}

// q, k and v projections of one block waiting for each other.
struct PendingQkv {
  std::array<Tensor, 3> parts;
  int count = 0;
};

}  // namespace

bool is_hf_clip(const NamedTensors& tensors) {
  for (const auto& [name, _] : tensors)
    if (name.starts_with("vision_model.") || name.starts_with("text_model.")) return true;
  return false;
}

NamedTensors hf_clip_to_openai(const NamedTensors& hf) {
  const std::string& file = hf.source().empty() ? std::string("Hugging Face CLIP tensors") : hf.source();
  NamedTensors out(hf.source());
  std::map<std::string, PendingQkv> pending;  // "<openai block>.attn.in_proj_weight" -> parts
  for (const auto& [name, t] : hf) {
    if (name.size() >= 12 && name.compare(name.size() - 12, 12, "position_ids") == 0) continue;  // a buffer
    if (const std::string* o = lookup(top_level_names(), name, true)) {
      out.add(*o, t);
      continue;
    }
    if (const std::string* o = lookup(projection_names(), name, true)) {
      XCLIP_CHECK(t.ndim() == 2, file, ": '", name, "' has shape ", t.shape().str(), ", expected a matrix");
      out.add(*o, detail::transpose_2d(t));
      continue;
    }
    bool done = false;
    for (const auto& [hf_stem, openai_stem] : kTowers) {
      std::string index, rest;
      if (!name.starts_with(hf_stem) || !split_layer(name.substr(std::string(hf_stem).size()), index, rest)) continue;
      const std::string block = openai_stem + index + ".";
      if (const std::string* o = lookup(block_names(), rest, true)) {
        out.add(block + *o, t);
        done = true;
      }
      static const char* kParts = "qkv";
      for (int p = 0; p < 3 && !done; ++p)
        for (const char* kind : {"weight", "bias"})
          if (rest == std::string("self_attn.") + kParts[p] + "_proj." + kind) {
            const std::string target = block + "attn.in_proj_" + kind;
            PendingQkv& q = pending[target];
            XCLIP_CHECK(!q.parts[size_t(p)].defined(), file, ": '", name, "' appears twice");
            q.parts[size_t(p)] = t;
            if (++q.count == 3) out.add(target, detail::concat_dim0({q.parts[0], q.parts[1], q.parts[2]}));
            done = true;
          }
    }
    XCLIP_CHECK(done, file, ": '", name, "' is not a Hugging Face CLIP tensor name this converter knows");
  }
  for (const auto& [target, q] : pending)
    XCLIP_CHECK(q.count == 3, file, ": only ", q.count, " of the q/k/v projections for '", target, "' are present");
  return out;
}

NamedTensors openai_to_hf_clip(const NamedTensors& openai) {
  const std::string& file = openai.source().empty() ? std::string("CLIP tensors") : openai.source();
  NamedTensors out(openai.source());
  const auto& extras = openai_jit_extra_names();
  for (const auto& [name, t] : openai) {
    if (std::find(extras.begin(), extras.end(), name) != extras.end()) continue;
    if (const std::string* h = lookup(top_level_names(), name, false)) {
      out.add(*h, t);
      continue;
    }
    if (const std::string* h = lookup(projection_names(), name, false)) {
      XCLIP_CHECK(t.ndim() == 2, file, ": '", name, "' has shape ", t.shape().str(), ", expected a matrix");
      out.add(*h, detail::transpose_2d(t));
      continue;
    }
    bool done = false;
    for (const auto& [hf_stem, openai_stem] : kTowers) {
      std::string index, rest;
      if (!name.starts_with(openai_stem) || !split_layer(name.substr(std::string(openai_stem).size()), index, rest))
        continue;
      const std::string block = hf_stem + index + ".";
      if (const std::string* h = lookup(block_names(), rest, false)) {
        out.add(block + *h, t);
        done = true;
      } else if (rest == "attn.in_proj_weight" || rest == "attn.in_proj_bias") {
        XCLIP_CHECK(t.ndim() >= 1 && t.dim(0) % 3 == 0, file, ": '", name, "' has shape ", t.shape().str(),
                    "; its first dimension must split into q, k and v");
        const int64_t d = t.dim(0) / 3;
        const std::string kind = rest == "attn.in_proj_weight" ? "weight" : "bias";
        for (int p = 0; p < 3; ++p)
          out.add(block + "self_attn." + "qkv"[p] + "_proj." + kind, detail::slice_dim0(t, p * d, (p + 1) * d));
        done = true;
      }
    }
    XCLIP_CHECK(done, file, ": '", name, "' is not an OpenAI CLIP tensor name this converter knows");
  }
  return out;
}

}  // namespace xclip::io
