#include "xclip/models/heads/head_config.hpp"

#include <nlohmann/json.hpp>

#include <limits>
#include <type_traits>

#include "xclip/core/checked.hpp"
#include "xclip/core/error.hpp"
#include "xclip/io/json_file.hpp"
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

// Far above any X-CLIP setting (32 words, 12 frames), far below sizes that exhaust memory.
constexpr int64_t kMaxWords = 1024, kMaxFrames = 1024;

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
const char* type_word() {
  if constexpr (std::is_same_v<T, bool>) return "true or false";
  else if constexpr (std::is_same_v<T, std::string>) return "a string";
  else if constexpr (std::is_floating_point_v<T>) return "a number";
  else return "an integer";
}

// `v`, the value of `key`, as T, or "config: key 'k' must be <type>, got <value>" (the value cut
// short: never nlohmann's bare "type must be string, but is number", never a whole nested value).
template <class T>
T value_as(const nlohmann::json& v, const std::string& key) {
  bool ok = false;
  if constexpr (std::is_same_v<T, bool>) ok = v.is_boolean();
  else if constexpr (std::is_same_v<T, std::string>) ok = v.is_string();
  else if constexpr (std::is_floating_point_v<T>) ok = v.is_number();
  else ok = v.is_number_integer() && (v.is_number_unsigned() ? v.get<uint64_t>() <= uint64_t(INT64_MAX) : true);
  XCLIP_CHECK(ok, "config: key '", key, "' must be ", type_word<T>(), ", got ", io::json_excerpt(v, 80));
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    const int64_t x = v.get<int64_t>();
    return T(check_in_range(x, std::numeric_limits<T>::min(), std::numeric_limits<T>::max(), "config: " + key));
  }
  return v.get<T>();
}

template <class T>
T get_as(const nlohmann::json& j, const std::string& key) {
  return value_as<T>(j.at(key), key);
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
  XCLIP_CHECK(j.is_object(), "config: expected a JSON object, got ", io::json_excerpt(j, 80));
  HeadConfig c;
  XCLIP_CHECK(!(j.contains("model") && j.contains("head")), "config: give the head family once, as \"head\"");
  for (const char* key : {"head", "model"}) {
    if (!j.contains(key) || ignore.count(key)) continue;
    const auto family = get_as<std::string>(j, key);
    head_family(family);  // throws naming the known families
    // The clip4clip preset (ea_clip4clip's too), then the file's other keys on top of it.
    const bool clip4clip_family = family == "clip4clip" || family == "ea_clip4clip";
    c = clip4clip_family ? clip4clip(j.value("sim_header", std::string("meanP"))) : HeadConfig{};
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
      XCLIP_CHECK(value.is_array(), "config: contrasts must be a list of names, got ", io::json_excerpt(value, 120));
      c.contrasts = Contrasts{false, false, false, false};
      for (const auto& name : value) {
        XCLIP_CHECK(name.is_string(), "config: contrasts must be a list of names, got ", io::json_excerpt(value, 120));
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

template <class T>
T HeadConfig::option_as(const std::string& key) const {
  return value_as<T>(option(key), key);
}
template bool HeadConfig::option_as<bool>(const std::string&) const;
template int HeadConfig::option_as<int>(const std::string&) const;
template int64_t HeadConfig::option_as<int64_t>(const std::string&) const;
template double HeadConfig::option_as<double>(const std::string&) const;
template std::string HeadConfig::option_as<std::string>(const std::string&) const;

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
  // seqLSTM: CLIP4Clip's LSTM, built for the ea_clip4clip family only (its README configuration);
  // tightTransf: CLIP4Clip's tight type, for both CLIP4Clip families.
  const bool lstm_ok = sim_header == "seqLSTM" && head == "ea_clip4clip";
  const bool tight_ok = sim_header == "tightTransf" && (head == "clip4clip" || head == "ea_clip4clip");
  XCLIP_CHECK(sim_header == "seqTransf" || sim_header == "meanP" || lstm_ok || tight_ok,
              "config: sim_header must be seqTransf or meanP (or seqLSTM for ea_clip4clip, tightTransf for clip4clip "
              "and ea_clip4clip), got '", sim_header, "' for the ", head, " head");
  // Ranges for the values that size tensors ([max_frames, max_frames] matrices, attention over
  // max_words, layer stacks): checked here, before any of them allocates.
  check_in_range(max_words, 1, kMaxWords, "config: max_words");
  check_in_range(max_frames, 1, kMaxFrames, "config: max_frames");
  check_in_range(cross_num_hidden_layers, 0, 64, "config: cross_num_hidden_layers");
  check_in_range(temporal_heads, 0, 1024, "config: temporal_heads");
  XCLIP_CHECK(temperature > 0, "config: temperature must be positive, got ", temperature);
  XCLIP_CHECK(contrasts.count() > 0, "config: at least one contrast must be on");
  check_in_range(batch_size_val, 1, int64_t(1) << 20, "config: batch_size_val");
  check_in_range(frame_word_chunk_elements, 1, int64_t(1) << 40, "config: frame_word_chunk_elements");
}

}  // namespace xclip::models
