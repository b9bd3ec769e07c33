// The model of a search index (search_model.hpp).
#include "search_model.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "xclip/core/error.hpp"
#include "xclip/io/checkpoint.hpp"
#include "xclip/io/json_file.hpp"
#include "xclip/models/build.hpp"

namespace xclip::cli {
namespace fs = std::filesystem;

FileStamp file_stamp(const fs::path& path) {
  const auto t = std::chrono::file_clock::to_sys(fs::last_write_time(path));
  return {uint64_t(fs::file_size(path)),
          int64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count())};
}

namespace {

// MODEL as a weights file: a train folder's model.safetensors (or best/model.safetensors).
fs::path weights_file(const std::string& model) {
  const fs::path p = model;
  if (fs::is_directory(p)) {
    for (const fs::path& c : {p / "model.safetensors", p / "best" / "model.safetensors"})
      if (fs::is_regular_file(c)) return c;
    // A training run without a best/ yet: its newest checkpoint.N.
    long newest = -1;
    for (const auto& e : fs::directory_iterator(p)) {
      const std::string n = e.path().filename().string();
      if (n.rfind("checkpoint.", 0) == 0 && n.find_first_not_of("0123456789", 11) == std::string::npos &&
          n.size() > 11 && fs::is_regular_file(e.path() / "model.safetensors"))
        newest = std::max(newest, std::stol(n.substr(11)));
    }
    if (newest >= 0) return p / ("checkpoint." + std::to_string(newest)) / "model.safetensors";
    throw Error(format(model, ": a folder without model.safetensors (nor best/ or checkpoint.N/ with one): give ",
                       "the checkpoint folder `train` wrote, or a weights file"));
  }
  XCLIP_CHECK(fs::is_regular_file(p), model, ": no such file or folder");
  return p;
}

void log_line(const std::string& line) { std::fprintf(stderr, "model: %s\n", line.c_str()); }

nlohmann::json describe(const models::RetrievalModel& m, const fs::path& weights, const char* kind) {
  const FileStamp s = file_stamp(weights);
  return {{"weights", fs::absolute(weights).lexically_normal().string()},
          {"kind", kind},
          {"config", models::model_config_to_json(m.clip.config(), m.config())},
          {"size", s.size},
          {"mtime", s.mtime}};
}

}  // namespace

SearchModel load_search_model(const SearchModelOptions& o) {
  const fs::path weights = weights_file(o.model);
  fs::path config = o.config ? fs::path(*o.config) : models::model_config_beside(weights);
  if (o.config) XCLIP_CHECK(fs::is_regular_file(config), "--config ", *o.config, ": no such file");
  SearchModel out;
  if (fs::is_regular_file(config)) {
    // A trained model: its own config (sizes and head), then its weights.
    const nlohmann::json j = io::read_json_file(config, "model config");
    models::ClipConfig clip;
    models::HeadConfig head;
    try {
      clip = models::clip_config_from_json(j.at("clip"));
      head = models::HeadConfig::from_json(j.at("xclip"));
    } catch (const std::exception& e) {
      throw Error(format("model config ", config.string(), ": ", e.what()));
    }
    XCLIP_CHECK(o.max_frames == 0 || o.max_frames == head.max_frames, "--max_frames ", o.max_frames, ": the model ",
                weights.string(), " was made for ", head.max_frames, " frames (its frame matrices are that size)");
    if (o.max_words) head.max_words = o.max_words;
    out.model = std::make_unique<models::RetrievalModel>(head, clip);
    const models::LoadReport r = out.model->load_pretrained(io::load_any_checkpoint(weights.string()).list());
    log_line(format(weights.string(), " (", config.string(), "): ", r.str()));
    out.description = describe(*out.model, weights, "model");
    return out;
  }
  // A plain CLIP: zero-shot retrieval with the CLIP4Clip meanP similarity.
  models::CheckpointSources s;
  s.clip = weights;
  s.log = log_line;
  s.head_config = [&o](const std::optional<models::HeadConfig>&) {
    models::HeadConfig h = models::HeadConfig::clip4clip("meanP");
    if (o.max_frames) h.max_frames = o.max_frames;
    if (o.max_words) h.max_words = o.max_words;
    return h;
  };
  out.model = models::from_checkpoint(s);
  log_line("no model_config.json: zero-shot CLIP retrieval (CLIP4Clip meanP: mean-pooled frames)");
  out.description = describe(*out.model, weights, "clip_zero_shot");
  return out;
}

SearchModel rebuild_search_model(const nlohmann::json& d, const fs::path& index_dir) {
  const fs::path weights = d.at("weights").get<std::string>();
  XCLIP_CHECK(fs::is_regular_file(weights), index_dir.string(), ": the model it was made with, ", weights.string(),
              ", is gone");
  const FileStamp s = file_stamp(weights);
  XCLIP_CHECK(s.size == d.at("size").get<uint64_t>() && s.mtime == d.at("mtime").get<int64_t>(), index_dir.string(),
              ": the model ", weights.string(), " changed since it was indexed: run xclip-cli index again");
  const nlohmann::json& c = d.at("config");
  SearchModel out;
  out.model = std::make_unique<models::RetrievalModel>(models::HeadConfig::from_json(c.at("xclip")),
                                                       models::clip_config_from_json(c.at("clip")));
  out.model->load_pretrained(io::load_any_checkpoint(weights.string()).list());
  out.description = d;
  return out;
}

}  // namespace xclip::cli
