#include "train_setup.hpp"

#include <unistd.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "xclip/core/device_memory.hpp"
#include "xclip/core/error.hpp"
#include "xclip/io/file_bytes.hpp"
#include "xclip/io/json_file.hpp"
#include "xclip/io/npy.hpp"
#include "xclip/models/build.hpp"

namespace xclip::cli {

namespace fs = std::filesystem;

// ---- flags --------------------------------------------------------------------------------------

const std::set<std::string>& TrainFlags::value_flags() {
  static const std::set<std::string> v = [] {
    std::set<std::string> flags = {
        // main_xclip.py
        "train_csv", "val_csv", "data_path", "features_path", "output_dir", "lr", "coef_lr", "epochs", "batch_size",
        "batch_size_val", "max_words", "max_frames", "feature_framerate", "slice_framepos", "datatype", "sim_header",
        "linear_patch", "pretrained_clip_name", "init_model", "resume_model", "seed", "n_display", "warmup_proportion",
        "gradient_accumulation_steps", "num_thread_reader", "freeze_layer_num", "cross_num_hidden_layers",
        "train_frame_order", "eval_frame_order",
        // this implementation
        "config", "device", "frame_cache", "bpe", "init", "vision_width", "vision_layers", "patch", "image_resolution",
        "text_width", "text_layers", "embed_dim", "head_width", "model_config", "sampler_seed", "stop_after_epoch",
        "save_sim", "eval_json", "eval_split", "threads", "world_size_grad_scale", "keep_checkpoints",
        "chunk_clips"};
    // Every head family's own options, under the names it declares in the registry (the yes/no
    // ones are boolean flags, as main_tcmgc.py's store_true flags: bool_flags()).
    for (const models::HeadFamily& family : models::head_families())
      for (const auto& [name, default_value] : family.options)
        if (!default_value.is_boolean()) flags.insert(name);
    return flags;
  }();
  return v;
}

const std::set<std::string>& TrainFlags::bool_flags() {
  static const std::set<std::string> b = [] {
    std::set<std::string> flags = {"do_train",      "do_eval", "expand_msrvtt_sentences", "loose_type", "help",
                                   "official_fp16", "bf16",    "allow_missing_videos"};
    // A head family's yes/no options: --sdr_loss_flag sets it, --sdr_loss_flag=false clears it.
    for (const models::HeadFamily& family : models::head_families())
      for (const auto& [name, default_value] : family.options)
        if (default_value.is_boolean()) flags.insert(name);
    return flags;
  }();
  return b;
}

namespace {
std::set<std::string> merged(const std::set<std::string>& a, const std::set<std::string>& b) {
  std::set<std::string> out = a;
  out.insert(b.begin(), b.end());
  return out;
}

std::string canonical(std::string name) {
  for (char& c : name)
    if (c == '-') c = '_';
  return name;
}
}  // namespace

TrainFlags::TrainFlags(const std::vector<std::string>& argv, const std::set<std::string>& extra_values,
                       const std::set<std::string>& extra_bools)
    : args_(argv, merged(value_flags(), extra_values), merged(bool_flags(), extra_bools)) {
  auto path = args_.get("config");
  if (!path) return;
  const nlohmann::json j = io::read_json_file(*path, "--config");
  XCLIP_CHECK(j.is_object(), "--config ", *path, ": expected a JSON object of flag names");
  // A model settings file of data/configs/ (it names its head family) given to --config is read
  // as --model_config, so `train --config data/configs/tc_mgc_msrvtt.json` does what it says.
  if (j.contains("head") || j.contains("model")) {
    config_values_["model_config"] = *path;
    return;
  }
  const std::set<std::string> values = merged(value_flags(), extra_values), bools = merged(bool_flags(), extra_bools);
  for (const auto& [raw, value] : j.items()) {
    const std::string key = canonical(raw);
    XCLIP_CHECK(key != "config", "--config ", *path, ": a config cannot name another config");
    if (bools.count(key)) {
      XCLIP_CHECK(value.is_boolean(), "--config ", *path, ": '", raw, "' must be true or false");
      (value.get<bool>() ? config_flags_ : config_false_).insert(key);
    } else if (values.count(key)) {
      XCLIP_CHECK(value.is_string() || value.is_number(), "--config ", *path, ": '", raw,
                  "' must be a string or a number");
      config_values_[key] = value.is_string() ? value.get<std::string>() : value.dump();
    } else {
      throw Error(format("--config ", *path, ": unknown key '", raw, "'"));
    }
  }
}

std::optional<std::string> TrainFlags::get(const std::string& name) const {
  if (auto v = args_.get(name)) return v;
  auto it = config_values_.find(name);
  if (it != config_values_.end()) return it->second;
  return std::nullopt;
}

std::string TrainFlags::get(const std::string& name, const std::string& fallback) const {
  return get(name).value_or(fallback);
}

int64_t TrainFlags::get_int(const std::string& name, int64_t fallback) const {
  auto v = get(name);
  return v ? parse_int_flag(name, *v) : fallback;
}

double TrainFlags::get_double(const std::string& name, double fallback) const {
  auto v = get(name);
  return v ? parse_number_flag(name, *v) : fallback;
}

std::optional<bool> TrainFlags::bool_value(const std::string& name) const {
  if (auto b = args_.bool_value(name)) return b;
  if (config_flags_.count(name)) return true;
  if (config_false_.count(name)) return false;
  return std::nullopt;
}

bool TrainFlags::flag(const std::string& name) const {
  return args_.flag(name) || (config_flags_.count(name) > 0);
}

std::string TrainFlags::require(const std::string& name) const {
  auto v = get(name);
  XCLIP_CHECK(v.has_value() && !v->empty(), "--", name, " is required (see --help)");
  return *v;
}

void check_supported(const TrainFlags& f) {
  const std::string device = f.get("device", "cpu");
  XCLIP_CHECK(device == "cpu" || device == "cuda", "--device must be cpu or cuda, got '", device, "'");
  // The model, the optimizer and the evaluation follow the parameters' device; batches are made on
  // the CPU and moved; the official fp16 optimizer runs on either device.
  XCLIP_CHECK(device == "cpu" || cuda_available(),
              "--device cuda: this build has no CUDA or no GPU is visible (configure with XCLIP_CUDA=ON on a "
              "machine with a GPU); use --device cpu");
  XCLIP_CHECK(!(f.flag("official_fp16") && f.flag("bf16")),
              "--official_fp16 and --bf16 are two precision modes: choose one");
  const std::string patch = f.get("linear_patch", "2d");
  XCLIP_CHECK(patch == "2d", "--linear_patch ", patch,
              ": only 2d is implemented (every published X-CLIP script uses 2d)");
  // --sim_header and the other head options are checked by the head config (HeadConfig::validate).
}

std::shared_ptr<const text::ClipTokenizer> load_tokenizer(const TrainFlags& f) {
  fs::path bpe;
  if (auto p = f.get("bpe")) {
    bpe = *p;
    XCLIP_CHECK(fs::is_regular_file(bpe), "--bpe ", bpe.string(), ": no such file");
  } else {
    bpe = text::find_default_bpe_file();  // $XCLIP_BPE, the installed data folder, the source tree's data/
  }
  auto tokenizer = std::make_shared<const text::ClipTokenizer>(text::ClipTokenizer::from_bpe_file(bpe));
  if (!tokenizer->is_clip_vocabulary()) std::fprintf(stderr, "%s: %s\n", bpe.string().c_str(), tokenizer->vocabulary_note().c_str());
  return tokenizer;
}

data::DatasetOptions dataset_options(const TrainFlags& f, const std::string& split) {
  data::DatasetOptions o;
  o.kind = data::dataset_kind_from_name(f.get("datatype", "msrvtt"));
  o.split = split;
  o.data_path = f.require("data_path");
  o.features_path = f.require("features_path");
  XCLIP_CHECK(fs::exists(o.data_path), "--data_path ", o.data_path.string(), ": no such file or folder");
  XCLIP_CHECK(fs::is_directory(o.features_path), "--features_path ", o.features_path.string(), ": no such folder");
  o.train_csv = f.get("train_csv", "");
  o.val_csv = f.get("val_csv", "");
  o.expand_msrvtt_sentences = f.flag("expand_msrvtt_sentences");
  return o;
}

data::Dataset load_split(const TrainFlags& f, const std::string& split) {
  const data::DatasetOptions o = dataset_options(f, split);
  data::Dataset d = data::read_dataset(o);
  std::fprintf(stderr, "data: %s\n", d.summary().c_str());
  XCLIP_CHECK(!d.samples.empty(), "the ", split, " split of ", o.data_path.string(), " has no usable sample");
  return d;
}

data::FrameSampling frame_sampling(const TrainFlags& f, bool train, int64_t max_frames, int size) {
  data::FrameSampling s;
  s.max_frames = int(max_frames);
  s.feature_framerate = int(f.get_int("feature_framerate", 1));
  s.slice_framepos = int(f.get_int("slice_framepos", 0));
  s.frame_order = int(f.get_int(train ? "train_frame_order" : "eval_frame_order", 0));
  s.size = size;
  return s;
}

// ---- the model ------------------------------------------------------------------------------------

namespace {
// The head config: the one saved beside the weights, replaced by --model_config, then the flags.
models::HeadConfig head_config(const TrainFlags& f, const std::optional<models::HeadConfig>& saved) {
  models::HeadConfig c = saved.value_or(models::HeadConfig{});
  // The evaluation batch is a choice of this run (memory, speed), as in main_xclip.py, not a
  // property of the saved model: back to the default (40) unless --model_config or the flag sets it.
  c.batch_size_val = models::HeadConfig{}.batch_size_val;
  if (auto p = f.get("model_config")) c = models::HeadConfig::from_json(io::read_json_file(*p, "--model_config"));
  c.sim_header = f.get("sim_header", c.sim_header);
  c.max_words = f.get_int("max_words", c.max_words);
  c.max_frames = f.get_int("max_frames", c.max_frames);
  c.cross_num_hidden_layers = int(f.get_int("cross_num_hidden_layers", c.cross_num_hidden_layers));
  c.batch_size_val = f.get_int("batch_size_val", c.batch_size_val);
  // The chosen family's own options given as flags: yes/no ones as boolean flags, the others as
  // JSON values (numbers), else strings.
  for (const auto& [name, default_value] : models::head_family(c.head).options) {
    if (default_value.is_boolean()) {
      if (auto b = f.bool_value(name)) c.options[name] = *b;
    } else if (auto v = f.get(name)) {
      c.options[name] = nlohmann::json::accept(*v) ? nlohmann::json::parse(*v) : nlohmann::json(*v);
    }
  }
  c.validate();
  return c;
}

models::ScratchClipOptions scratch_options(const TrainFlags& f) {
  models::ScratchClipOptions o;
  o.vision_width = f.get_int("vision_width", o.vision_width);
  o.vision_layers = f.get_int("vision_layers", o.vision_layers);
  o.patch = f.get_int("patch", o.patch);
  o.image_resolution = f.get_int("image_resolution", o.image_resolution);
  o.text_width = f.get_int("text_width", o.text_width);
  o.text_layers = f.get_int("text_layers", o.text_layers);
  o.embed_dim = f.get_int("embed_dim", o.embed_dim);
  o.head_width = f.get_int("head_width", o.head_width);
  return o;
}

models::ClipPrecision precision(const TrainFlags& f) {
  if (f.flag("official_fp16")) return models::ClipPrecision::official_fp16;
  return f.flag("bf16") ? models::ClipPrecision::bf16_autocast : models::ClipPrecision::f32;
}

void log_model(const std::string& line) { std::fprintf(stderr, "model: %s\n", line.c_str()); }
}  // namespace

std::unique_ptr<models::RetrievalModel> build_model(const TrainFlags& f) {
  const std::string init = f.get("init", "pretrained");
  XCLIP_CHECK(init == "pretrained" || init == "random", "--init must be 'pretrained' or 'random', got '", init, "'");
  if (init == "random") {
    XCLIP_CHECK(!f.has("pretrained_clip_name") && !f.has("init_model"),
                "--init random trains from scratch: drop --pretrained_clip_name / --init_model");
    const models::ClipConfig clip = models::scratch_clip_config(scratch_options(f));
    const uint64_t seed = uint64_t(f.get_int("seed", 42));
    auto model = models::from_scratch(clip, head_config(f, std::nullopt), seed, precision(f));
    log_model(format("random init (seed ", seed, "), CLIP ", clip.str(), ", ", model->num_parameters(), " parameters"));
    return model;
  }
  XCLIP_CHECK(f.has("pretrained_clip_name") || f.has("init_model"),
              "no weights: pass --pretrained_clip_name CLIP_CHECKPOINT and/or --init_model XCLIP_CHECKPOINT, or "
              "--init random to train a small CLIP from scratch");
  models::CheckpointSources sources;
  if (f.has("pretrained_clip_name")) sources.clip = f.require("pretrained_clip_name");
  if (f.has("init_model")) sources.model = f.require("init_model");
  sources.head_width = f.get_int("head_width", 64);
  sources.precision = precision(f);
  sources.head_config = [&f](const std::optional<models::HeadConfig>& saved) { return head_config(f, saved); };
  sources.log = log_model;
  return models::from_checkpoint(sources);
}

// ---- loaders -----------------------------------------------------------------------------------------

void move_to_device(const TrainFlags& f, models::RetrievalModel& model) {
  if (f.get("device", "cpu") == "cuda") {
    model.to(Device::cuda);
    std::fprintf(stderr, "model: on the GPU\n");
  }
}

data::LoaderOptions loader_options(const TrainFlags& f, const models::RetrievalModel& model, const std::string& split,
                                   bool train) {
  data::LoaderOptions o;
  const int gas = int(f.get_int("gradient_accumulation_steps", 1));
  // main_xclip.py: args.batch_size = int(args.batch_size / args.gradient_accumulation_steps).
  // Evaluation batches are the model's batch_size_val (--batch_size_val, else the model config's,
  // default 40, the MSR-VTT scripts' value; main_xclip.py's argparse default, 3500, is not used), so
  // the encoding batches and the similarity blocks are one number.
  o.batch_size = train ? f.get_int("batch_size", 256) / gas : model.config().batch_size_val;
  XCLIP_CHECK(o.batch_size >= 1, "--batch_size / --gradient_accumulation_steps must be >= 1");
  o.shuffle = train;
  o.drop_last = train;
  o.seed = uint64_t(f.get_int("sampler_seed", 0));  // DistributedSampler's default seed, as the original
  o.threads = int(f.get_int("num_thread_reader", 1));
  o.max_words = int(model.config().max_words);
  o.sampling = frame_sampling(f, train, model.config().max_frames, int(model.clip.config().vision.resolution));
  // Training leaves an undecodable video's row out of its batch (an all-zero video is a NaN feature).
  o.drop_failed = train;
  if (auto cache = f.get("frame_cache")) {
    // One cache per split (DIR/train, DIR/test, ... as `extract` is run per split; val and test
    // stand in for each other, as they are one set for MSR-VTT and ActivityNet) or one cache.
    const fs::path root = *cache;
    std::vector<fs::path> candidates = {root / split};
    if (split == "val") candidates.push_back(root / "test");
    if (split == "test") candidates.push_back(root / "val");
    candidates.push_back(root);
    std::string tried;
    for (const fs::path& dir : candidates) {
      if (fs::exists(dir / "manifest.json")) {
        o.cache = data::FrameCache::open(dir);
        break;
      }
      tried += " " + (dir / "manifest.json").string();
    }
    XCLIP_CHECK(o.cache != nullptr, "--frame_cache ", *cache, ": no cache for the ", split, " split; looked for", tried,
                " (run xclip-cli extract --split ", split, " --out ", (root / split).string(), ")");
  }
  return o;
}

namespace {

// One error listing every missing and undecodable video of an evaluated split.
std::string unusable_videos_error(const data::Dataset& d, const std::vector<data::VideoProblem>& undecodable) {
  const size_t n = d.skipped.size() + undecodable.size();
  std::string s = format("the ", d.split, " split (", data::dataset_kind_name(d.kind), ") has ", n, " video",
                         n == 1 ? "" : "s", " that cannot be used (", d.skipped.size(), " missing, ", undecodable.size(),
                         " undecodable); without them it is a smaller test set with other numbers, so this is an ",
                         "error. Restore the files, or pass --allow_missing_videos to evaluate the pairs that remain ",
                         "(the table and JSON then count what was left out). `xclip-cli check` lists a split's ",
                         "problems before a run.");
  for (const data::VideoProblem& p : d.skipped) s += format("\n  ", p.video_id, "  ", p.file, "  missing: ", p.reason);
  for (const data::VideoProblem& p : undecodable)
    s += format("\n  ", p.video_id, "  ", p.file, "  undecodable: ", p.reason);
  return s;
}

// The similarity columns of the failed clips: the pairs of those clips (single-sentence sets), or
// the clips themselves (multi-sentence sets encode each clip once, in dataset order).
std::vector<int64_t> failed_columns(const data::Dataset& d, const std::vector<int64_t>& failed_clips) {
  if (d.multi_sentence_per_video) return failed_clips;
  std::set<int64_t> failed(failed_clips.begin(), failed_clips.end());
  std::vector<int64_t> columns;
  for (size_t i = 0; i < d.samples.size(); ++i)
    if (failed.count(d.samples[i].clip)) columns.push_back(int64_t(i));
  return columns;
}

}  // namespace

void check_missing_videos(const TrainFlags& f, const data::Dataset& dataset) {
  if (dataset.skipped.empty() || f.flag("allow_missing_videos")) return;
  throw Error(unusable_videos_error(dataset, {}));
}

train::EvalResult run_evaluation(const TrainFlags& f, const models::RetrievalModel& model,
                                 const data::Dataset& dataset, const data::LoaderOptions& options,
                                 const data::TextEncoder& encoder, const std::string& title) {
  data::LoaderOptions o = options;
  o.strict = false;  // every undecodable video is collected, then reported at once
  o.on_video_problem = [](const data::VideoProblem& p) {
    std::fprintf(stderr, "eval: video %s (%s) cannot be decoded: %s\n", p.video_id.c_str(), p.file.c_str(),
                 p.reason.c_str());
  };
  data::EvalLoaders loaders = data::make_eval_loaders(dataset, o, encoder);
  const data::Loader& videos = (loaders.videos ? *loaders.videos : *loaders.texts).loader();
  std::vector<data::VideoProblem> undecodable;
  const bool allowed = f.flag("allow_missing_videos");
  auto after_encoding = [&] {
    undecodable = videos.problems();
    if (!allowed && (!dataset.skipped.empty() || !undecodable.empty()))
      throw Error(unusable_videos_error(dataset, undecodable));
    return failed_columns(dataset, videos.failed_clips());
  };
  train::EvalResult r = train::evaluate(model, loaders.inputs, {}, after_encoding);
  r.missing_videos = dataset.skipped;
  r.undecodable_videos = std::move(undecodable);
  std::printf("%s", r.table(format(title, " (", r.sim.dim(0), " texts x ", r.sim.dim(1), " videos",
                                   r.multi_sentence ? ", multi-sentence" : "", ")"))
                        .c_str());
  std::fflush(stdout);
  return r;
}

// The files write_eval_outputs will write for this SIM.npy: the matrix and, for a multi-sentence
// set, the caption-to-video ids beside it.
static std::string caption_video_path(const std::string& sim_npy) {
  return fs::path(sim_npy).replace_extension("").string() + ".caption_video.npy";
}

void check_eval_outputs(const fs::path& json_path, const std::optional<std::string>& sim_npy) {
  if (!json_path.empty()) io::check_output_writable(json_path, "metrics JSON");
  if (sim_npy) {
    io::check_output_writable(*sim_npy, "--save_sim");
    io::check_output_writable(caption_video_path(*sim_npy), "--save_sim (caption-to-video ids)");
  }
}

void write_eval_outputs(const nlohmann::json& json, const train::EvalResult& r, const fs::path& json_path,
                        const std::optional<std::string>& sim_npy) {
  if (!json_path.empty()) {
    if (json_path.has_parent_path()) fs::create_directories(json_path.parent_path());
    io::write_text_file_atomically(json_path, json.dump(1) + "\n");
  }
  if (sim_npy) {
    io::save_npy(*sim_npy, r.sim);
    if (r.multi_sentence) {
      // `xclip-cli metrics SIM.npy --caption_video IDS.npy` groups the rows as this evaluation did.
      const std::string ids = caption_video_path(*sim_npy);
      io::save_npy(ids, Tensor::from_vector<int64_t>(r.caption_video, Shape{int64_t(r.caption_video.size())}));
      std::printf("eval: similarity %s, caption-to-video %s\n", sim_npy->c_str(), ids.c_str());
    } else {
      std::printf("eval: similarity %s\n", sim_npy->c_str());
    }
  }
}

}  // namespace xclip::cli
