#include "xclip/models/heads/head_config.hpp"

#include <nlohmann/json.hpp>

#include "xclip/core/error.hpp"
#include "xclip/models/heads/head.hpp"

namespace xclip::models {

namespace {

Pool parse_pool(const std::string& s, const std::string& whole) {
  if (s == "attention") return Pool::attention;
  if (s == "mean") return Pool::mean;
  if (s == "max") return Pool::max;
  throw Error(format("aggregation: unknown pooling '", s, "' in '", whole,
                     "' (expected attention, mean-mean, max-max, mean-max, max-mean)"));
}

const char* pool_name(Pool p) {
  switch (p) {
    case Pool::attention: return "attention";
    case Pool::mean: return "mean";
    case Pool::max: return "max";
  }
  return "?";
}

const char* const kContrastNames[] = {"video_sentence", "video_word", "sentence_frame", "frame_word"};

bool& contrast_flag(Contrasts& c, const std::string& name) {
  if (name == "video_sentence") return c.video_sentence;
  if (name == "video_word") return c.video_word;
  if (name == "sentence_frame") return c.sentence_frame;
  if (name == "frame_word") return c.frame_word;
  throw Error(format("config: unknown contrast '", name,
                     "' (expected video_sentence, video_word, sentence_frame, frame_word)"));
}

template <class T>
T get_as(const nlohmann::json& j, const std::string& key) {
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(format("config: key '", key, "' has the wrong type: ", e.what()));
  }
}

}  // namespace

Aggregation Aggregation::parse(const std::string& text) {
  if (text == "attention") return {Pool::attention, Pool::attention};
  const auto dash = text.find('-');
  if (dash == std::string::npos) throw Error(format("aggregation: cannot parse '", text, "'"));
  return {parse_pool(text.substr(0, dash), text), parse_pool(text.substr(dash + 1), text)};
}

std::string Aggregation::str() const {
  if (first == Pool::attention && second == Pool::attention) return "attention";
  return std::string(pool_name(first)) + "-" + pool_name(second);
}

HeadConfig HeadConfig::clip4clip(const std::string& sim_header) {
  HeadConfig c;
  c.head = "clip4clip";
  c.sim_header = sim_header;
  c.contrasts = Contrasts{true, false, false, false};
  c.learnable_aosm = false;
  return c;
}

HeadConfig HeadConfig::from_json(const nlohmann::json& j, const std::set<std::string>& ignore) {
  XCLIP_CHECK(j.is_object(), "config: expected a JSON object, got ", j.dump());
  HeadConfig c;
  XCLIP_CHECK(!(j.contains("model") && j.contains("head")), "config: give the head family once, as \"head\"");
  for (const char* key : {"head", "model"}) {
    if (!j.contains(key) || ignore.count(key)) continue;
    const auto family = get_as<std::string>(j, key);
    head_family(family);  // throws naming the known families
    // The clip4clip preset, then the file's other keys on top of it.
    c = family == "clip4clip" ? clip4clip(j.value("sim_header", std::string("meanP"))) : HeadConfig{};
    c.head = family;
  }
  for (const auto& [key, value] : j.items()) {
    if (ignore.count(key) || key == "model" || key == "head") continue;
    if (key == "sim_header") c.sim_header = get_as<std::string>(j, key);
    else if (key == "max_words") c.max_words = get_as<int64_t>(j, key);
    else if (key == "max_frames") c.max_frames = get_as<int64_t>(j, key);
    else if (key == "cross_num_hidden_layers") c.cross_num_hidden_layers = get_as<int>(j, key);
    else if (key == "temporal_heads") c.temporal_heads = get_as<int>(j, key);
    else if (key == "temperature") c.temperature = get_as<double>(j, key);
    else if (key == "aggregation") c.aggregation = Aggregation::parse(get_as<std::string>(j, key));
    else if (key == "mask_padding") c.mask_padding = get_as<bool>(j, key);
    else if (key == "learnable_aosm") c.learnable_aosm = get_as<bool>(j, key);
    else if (key == "use_original_clip_for_frame_features")
      c.use_original_clip_for_frame_features = get_as<bool>(j, key);
    else if (key == "batch_size_val") c.batch_size_val = get_as<int64_t>(j, key);
    else if (key == "frame_word_chunk_elements") c.frame_word_chunk_elements = get_as<int64_t>(j, key);
    else if (key == "contrasts") {
      XCLIP_CHECK(value.is_array(), "config: contrasts must be a list of names, got ", value.dump());
      c.contrasts = Contrasts{false, false, false, false};
      for (const auto& name : value) {
        XCLIP_CHECK(name.is_string(), "config: contrasts must be a list of names, got ", value.dump());
        contrast_flag(c.contrasts, name.get<std::string>()) = true;
      }
    } else if (head_family(c.head).options.count(key)) {
      c.options[key] = value;
    } else {
      throw Error(format("config: unknown key '", key, "'"));
    }
  }
  c.validate();
  return c;
}

nlohmann::json HeadConfig::option(const std::string& key) const {
  const auto& declared = head_family(head).options;
  const auto d = declared.find(key);
  XCLIP_CHECK(d != declared.end(), "config: the ", head, " head has no option '", key, "'");
  const auto it = options.find(key);
  return it != options.end() ? it->second : d->second;
}

nlohmann::json HeadConfig::to_json() const {
  nlohmann::json contrast_list = nlohmann::json::array();
  Contrasts copy = contrasts;
  for (const char* name : kContrastNames)
    if (contrast_flag(copy, name)) contrast_list.push_back(name);
  nlohmann::json j = {{"head", head},
          {"sim_header", sim_header},
          {"max_words", max_words},
          {"max_frames", max_frames},
          {"cross_num_hidden_layers", cross_num_hidden_layers},
          {"temporal_heads", temporal_heads},
          {"temperature", temperature},
          {"contrasts", contrast_list},
          {"aggregation", aggregation.str()},
          {"mask_padding", mask_padding},
          {"learnable_aosm", learnable_aosm},
          {"use_original_clip_for_frame_features", use_original_clip_for_frame_features},
          {"batch_size_val", batch_size_val},
          {"frame_word_chunk_elements", frame_word_chunk_elements}};
  for (const auto& [key, value] : options) j[key] = value;
  return j;
}

void HeadConfig::validate() const {
  const HeadFamily& family = head_family(head);  // throws naming the known families
  for (const auto& [key, value] : options)
    XCLIP_CHECK(family.options.count(key), "config: the ", head, " head has no option '", key, "'");
  XCLIP_CHECK(sim_header == "seqTransf" || sim_header == "meanP", "config: sim_header must be seqTransf or meanP, got '",
              sim_header, "' (seqLSTM and tightTransf are not part of X-CLIP)");
  XCLIP_CHECK(max_words > 0 && max_frames > 0, "config: max_words and max_frames must be positive, got ",
              max_words, " and ", max_frames);
  XCLIP_CHECK(cross_num_hidden_layers >= 0, "config: cross_num_hidden_layers must be >= 0, got ",
              cross_num_hidden_layers);
  XCLIP_CHECK(temporal_heads >= 0, "config: temporal_heads must be >= 0, got ", temporal_heads);
  XCLIP_CHECK(temperature > 0, "config: temperature must be positive, got ", temperature);
  XCLIP_CHECK(contrasts.count() > 0, "config: at least one contrast must be on");
  XCLIP_CHECK(batch_size_val > 0, "config: batch_size_val must be positive, got ", batch_size_val);
  XCLIP_CHECK(frame_word_chunk_elements > 0, "config: frame_word_chunk_elements must be positive, got ",
              frame_word_chunk_elements);
}

}  // namespace xclip::models
