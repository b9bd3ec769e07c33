// Epoch checkpoints of a training run, one folder each:
//   output_dir/checkpoint.{epoch}/
//     model.safetensors      the official state_dict names (RetrievalModel::save), loadable as --init_model
//     model_config.json      the CLIP sizes and the X-CLIP options (rebuilds a model of any size)
//     optimizer.safetensors  per parameter m.<name>, v.<name> (the parameter's dtype) and
//                            step.<name> (i64 [1]); metadata: the optimizer's name
//     trainer_state.json     the loop: epoch finished, global step, t_total, batches per epoch,
//                            gradient_accumulation_steps, seed, best epoch / R@1, time so far
// A folder is written as checkpoint.{epoch}.partial/ and renamed when complete, so a folder with
// the final name is always whole; trainer_state.json alone is later rewritten (temp + rename)
// to record the epoch's evaluation. The batch order is a function of (seed, epoch) and the step
// has no randomness, so (seed, epoch) is the whole random state.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "xclip/models/model.hpp"
#include "xclip/train/trainer.hpp"

namespace xclip::train {

struct LoopState {
  int64_t epoch = -1;              // the last finished epoch (0-based)
  int64_t epochs = 0;
  int64_t global_step = 0;
  double t_total = 0;
  int64_t batches_per_epoch = 0;
  int gradient_accumulation_steps = 1;
  uint64_t seed = 0;
  double mean_loss = 0;            // of the epoch
  int64_t best_epoch = -1;
  double best_r1 = -1;
  double run_seconds = 0;          // training time up to this checkpoint
  int64_t clips_seen = 0;
  std::string optimizer;
  nlohmann::json to_json() const;
  static LoopState from_json(const nlohmann::json& j, const std::string& source);
};

std::filesystem::path checkpoint_dir(const std::filesystem::path& output_dir, int64_t epoch);

// Writes the whole folder atomically (see above); replaces an existing folder of that epoch.
void save_training_checkpoint(const std::filesystem::path& dir, const models::RetrievalModel& model,
                              const std::vector<NamedParamGroup>& groups, Optimizer& optimizer,
                              const LoopState& state);
// Rewrites trainer_state.json of an existing checkpoint (temp + rename).
void update_loop_state(const std::filesystem::path& dir, const LoopState& state);

// Loads weights (strict: every parameter, nothing else) and optimizer state into an already built
// model and optimizer with the same groups; returns the loop state. Errors name the file and the
// tensor (a shape that does not match, a state for a parameter the model lacks).
LoopState load_training_checkpoint(const std::filesystem::path& dir, models::RetrievalModel& model,
                                   const std::vector<NamedParamGroup>& groups, Optimizer& optimizer);
LoopState read_loop_state(const std::filesystem::path& dir);

// `path` itself when it holds trainer_state.json, else the checkpoint.N folder with the largest N
// inside `path` (an output folder). Throws saying what was looked for.
std::filesystem::path find_checkpoint(const std::filesystem::path& path);

// Removes output_dir/checkpoint.E for every E < first_kept, except the folders in `keep` (compared
// by path); returns the folders removed. A folder is renamed to checkpoint.E.old before it is
// deleted, so that a removal cut short never leaves a partial folder under a checkpoint's name.
std::vector<std::filesystem::path> remove_checkpoints_before(const std::filesystem::path& output_dir, int64_t first_kept,
                                                             const std::vector<std::filesystem::path>& keep);

// Copies a checkpoint's model.safetensors and model_config.json into output_dir/best/
// (atomically: best.partial/, then rename), with metrics.json describing why.
void save_best(const std::filesystem::path& output_dir, const std::filesystem::path& checkpoint,
               const nlohmann::json& metrics);

}  // namespace xclip::train
