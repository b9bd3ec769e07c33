// What `xclip-cli train` and `xclip-cli eval` share: the flags of main_xclip.py (and a --config
// JSON file with the same keys; flags on the command line win), the datasets, loaders, tokenizer
// and the model (pretrained CLIP, an X-CLIP checkpoint, or a small CLIP initialised at random).
#pragma once
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../args.hpp"
#include "xclip/data/batch_source.hpp"
#include "xclip/data/dataset.hpp"
#include "xclip/data/frame_cache.hpp"
#include "xclip/models/model.hpp"
#include "xclip/text/tokenizer.hpp"
#include "xclip/train/evaluate.hpp"

namespace xclip::cli {

// The command line merged with --config FILE.json.
class TrainFlags {
 public:
  // `extra_values` / `extra_bools`: flags only one command has. Throws on an unknown flag or key.
  TrainFlags(const std::vector<std::string>& argv, const std::set<std::string>& extra_values = {},
             const std::set<std::string>& extra_bools = {});
  bool has(const std::string& name) const { return args_.has(name) || config_values_.count(name) || config_flags_.count(name); }
  std::optional<std::string> get(const std::string& name) const;
  std::string get(const std::string& name, const std::string& fallback) const;
  int64_t get_int(const std::string& name, int64_t fallback) const;
  double get_double(const std::string& name, double fallback) const;
  bool flag(const std::string& name) const;
  // A boolean flag given on the command line (wins) or in the --config file; nullopt when neither.
  std::optional<bool> bool_value(const std::string& name) const;
  std::string require(const std::string& name) const;  // throws "--name is required"
  const std::vector<std::string>& positional() const { return args_.positional(); }

  static const std::set<std::string>& value_flags();
  static const std::set<std::string>& bool_flags();

 private:
  Args args_;
  std::map<std::string, std::string> config_values_;
  std::set<std::string> config_flags_;       // booleans true in the config
  std::set<std::string> config_false_;       // booleans false in the config
};

// Rejects what this build cannot do (--device cuda without a GPU, --linear_patch 3d).
void check_supported(const TrainFlags& f);

std::shared_ptr<const text::ClipTokenizer> load_tokenizer(const TrainFlags& f);

// --datatype, --data_path, --features_path, --train_csv, --val_csv, --expand_msrvtt_sentences.
data::DatasetOptions dataset_options(const TrainFlags& f, const std::string& split);
// read_dataset of those options, with a summary line on stderr; a split without any usable sample
// is an error.
data::Dataset load_split(const TrainFlags& f, const std::string& split);

// --max_frames, --feature_framerate, --slice_framepos, --train_frame_order / --eval_frame_order
// (`train` picks which), with frames of `size` pixels: the frame rule of a run.
data::FrameSampling frame_sampling(const TrainFlags& f, bool train, int64_t max_frames, int size);

// The data rules of an evaluated split (val, test): a video that is missing or cannot be decoded
// would make it a smaller test set with other numbers, so it is an error listing every such video
// (id, file, reason), unless --allow_missing_videos leaves their pairs out. Throws when `dataset`
// has missing videos and they are not allowed (before a long run: train checks val and test first).
void check_missing_videos(const TrainFlags& f, const data::Dataset& dataset);

// The model (models/build.hpp): --init random (from_scratch: a small CLIP from the --vision_* /
// --text_* sizes, seeded by --seed), else --pretrained_clip_name and/or --init_model checkpoints
// (from_checkpoint). Head options: model_config.json beside --init_model, replaced by
// --model_config FILE.json, then --sim_header, --max_words, --max_frames,
// --cross_num_hidden_layers, --batch_size_val.
std::unique_ptr<models::RetrievalModel> build_model(const TrainFlags& f);

// --device cuda: moves the parameters to the GPU (before the optimizer is built).
void move_to_device(const TrainFlags& f, models::RetrievalModel& model);

// Loader options of a split for this model (frame size = the model's image resolution; the frame
// cache of that split when --frame_cache is given).
data::LoaderOptions loader_options(const TrainFlags& f, const models::RetrievalModel& model, const std::string& split,
                                   bool train);

// Fails now when an output of write_eval_outputs could not be written (its folder is made).
void check_eval_outputs(const std::filesystem::path& json_path, const std::optional<std::string>& sim_npy);

// Evaluates and prints the table. Missing videos (read) and undecodable ones (found while encoding)
// are one error listing them all, raised before the metrics, unless --allow_missing_videos: then
// their pairs are left out and the table and JSON count them (check_missing_videos).
train::EvalResult run_evaluation(const TrainFlags& f, const models::RetrievalModel& model,
                                 const data::Dataset& dataset, const data::LoaderOptions& options,
                                 const data::TextEncoder& encoder, const std::string& title);
// Writes `json` to json_path (atomically) and, when sim_npy is given, the similarity as .npy (plus,
// for multi-sentence sets, SIM.caption_video.npy for `xclip-cli metrics --caption_video`).
void write_eval_outputs(const nlohmann::json& json, const train::EvalResult& r, const std::filesystem::path& json_path,
                        const std::optional<std::string>& sim_npy);

}  // namespace xclip::cli
