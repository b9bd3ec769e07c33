// The X-CLIP training loop as the original main_xclip.py runs it (spec §6): per batch the loss
// (divided by gradient_accumulation_steps) is back-propagated; every gradient_accumulation_steps
// batches the global gradient norm is clipped to 1.0, the optimizer (BertAdam, warmup_cosine over
// t_total, its own per-parameter clipping) steps, the gradients are zeroed and clip.logit_scale is
// clamped to ≤ ln 100. After every epoch: a checkpoint (train_checkpoint.hpp), an evaluation and
// the best-so-far bookkeeping by text-to-video R@1.
//
//   MyBatches train = ...;                       // a data::BatchSource (the Loader in xclip_data)
//   TrainOptions o;  o.output_dir = "out";  o.epochs = 5;
//   Trainer trainer(model, train, o);
//   trainer.set_evaluator([&](int64_t epoch) { return evaluate(model, test_inputs).t2v; });
//   TrainSummary s = trainer.run();              // or trainer.resume("out/checkpoint.2") first
//
// Determinism: the batches of an epoch depend only on (seed, epoch) (the loader's contract) and
// nothing in the step is random, so a run resumed from an epoch checkpoint computes the same
// losses, step for step, as an uninterrupted run.
#pragma once
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "xclip/core/tensor.hpp"
#include "xclip/data/batch.hpp"
#include "xclip/models/model.hpp"
#include "xclip/train/metrics.hpp"
#include "xclip/train/optimizer.hpp"

namespace xclip::train {

class TrainLog;  // train_log.hpp

// ---- parameter groups and freezing (main_xclip.py prep_optimizer / freeze) ---------------------------
// A group with the names of its parameters (same order), for checkpoints and reports.
struct NamedParamGroup {
  ParamGroup group;
  std::vector<std::string> names;
};
// The four groups of prep_optimizer, in its order: decay & clip (lr·coef_lr, wd), decay & other
// (lr, wd), no-decay & clip (lr·coef_lr, 0), no-decay & other (lr, 0), by the model's ParamRole
// (clip, decay) of each parameter. Every parameter is listed, frozen ones too (they have no
// gradient, so the optimizer skips them, as the original does).
std::vector<NamedParamGroup> param_groups(const models::RetrievalModel& model, double lr, double coef_lr,
                                          double weight_decay = 0.2);

// The original's freezing of CLIP parameters (-1: nothing). Kept trainable: ln_final., text_projection,
// logit_scale, visual.ln_post., visual.proj and resblocks.N with N ≥ freeze_layer_num in either
// tower; every other CLIP parameter gets requires_grad off. Returns the names frozen ("clip."
// included). freeze_layer_num must be in [-1, 12]; linear_patch 3d is not supported.
std::vector<std::string> freeze_clip_layers(models::RetrievalModel& model, int freeze_layer_num);

// torch.clamp_(logit_scale.data, max=max_value) after each step; the bound is rounded to the
// parameter's dtype. A GPU parameter is clamped through a CPU copy (one scalar per step).
void clamp_logit_scale(Tensor& logit_scale, double max_value);

// ---- the loop ----------------------------------------------------------------------------------------
struct TrainOptions {
  std::filesystem::path output_dir;      // checkpoints, train_log.jsonl, best.json
  int64_t epochs = 5;
  double lr = 1e-4;
  double coef_lr = 1e-3;                 // lr factor of the clip.* groups
  double warmup_proportion = 0.1;
  double weight_decay = 0.2;
  double max_grad_norm = 1.0;            // global clip before the step (and BertAdam's per parameter)
  double logit_scale_max = std::log(100.0);
  int gradient_accumulation_steps = 1;
  int64_t n_display = 100;               // progress line every n optimizer steps (0: never)
  uint64_t seed = 42;                    // recorded in checkpoints; the batch order's seed
  // Stop after finishing this epoch (checkpoint written), as an interruption would: resumable.
  int64_t stop_after_epoch = -1;
  bool save_checkpoints = true;
  // Keep the best epoch's checkpoint and the newest keep_checkpoints (>= 1, so that the run can
  // always be resumed) epoch checkpoints; older ones are removed after each epoch, once its
  // checkpoint is written and evaluated. The checkpoint a run resumed from is never removed by
  // that run. -1 keeps all, as the original.
  int64_t keep_checkpoints = -1;
  // The 1/N the original's N-GPU all-gather leaves on the encoders' gradients (precision.hpp,
  // scale_pre_gather_gradients), applied before the global clip. 1 = one device's exact gradient.
  // For a head that contrasts within each rank (SimilarityHead::contrasts_within_rank: the tight
  // type) it is the number of ranks instead: every batch is split into N slices, each contrasted
  // on its own with 1/N of the loss, and nothing is divided afterwards (DDP's average).
  int world_size_grad_scale = 1;
  // The exact whole-batch gradient in bounded memory (models/chunked_step.hpp): the towers hold a
  // graph for chunk_clips clips at a time. 0: one graph for the whole batch; kChunkAuto: the
  // largest chunk that fits the memory available, measured on the first batch (plan_chunk_clips).
  static constexpr int64_t kChunkAuto = -1;
  int64_t chunk_clips = 0;
  // Called with every progress / status line (default: stdout).
  std::function<void(const std::string&)> print;
};

struct TrainSummary {
  int64_t first_epoch = 0;       // 0, or the epoch after a resumed checkpoint
  int64_t epochs_done = 0;       // epochs finished by this run
  int64_t global_step = 0;       // optimizer steps since the start of training
  double last_loss = NAN;        // mean loss of the last finished epoch
  int64_t best_epoch = -1;
  double best_r1 = -1;           // text-to-video R@1 of best_epoch (-1 without evaluation)
  std::filesystem::path last_checkpoint, best_checkpoint;
  bool stopped_non_finite = false;  // a NaN / Inf loss or gradient norm stopped the run
  std::string message;              // why it stopped, when it did
};

class Trainer {
 public:
  // `model` and `source` must outlive the trainer. Builds the parameter groups and the optimizer
  // of the model's precision (precision.hpp, make_optimizer) with t_total = (batches_per_epoch +
  // gas − 1) / gas · epochs (a float, as the original).
  Trainer(models::RetrievalModel& model, data::BatchSource& source, TrainOptions options);
  ~Trainer();

  // Called after every epoch's checkpoint; its R@1 (text-to-video) selects the best epoch.
  void set_evaluator(std::function<RetrievalMetrics(int64_t epoch)> evaluate) { evaluate_ = std::move(evaluate); }
  // Restores weights, optimizer state and loop state from a checkpoint folder (or the newest
  // checkpoint in an output folder); the next run() continues with the following epoch.
  void resume(const std::filesystem::path& checkpoint);
  TrainSummary run();

  double t_total() const { return t_total_; }
  const std::vector<NamedParamGroup>& groups() const { return groups_; }
  Optimizer& optimizer() { return *optimizer_; }

 private:
  double train_epoch(int64_t epoch, TrainSummary& summary);
  bool optimizer_step(int64_t epoch, int64_t step_in_epoch, double loss, double seconds, TrainSummary& summary);
  double batch_gradient(const data::Batch& batch, int gas, uint64_t micro_step);
  double slice_gradient(const data::Batch& batch, int gas);
  int64_t chunk_clips_for(const data::Batch& batch);
  void finish_epoch(int64_t epoch, double mean_loss, TrainSummary& summary);
  void remove_old_checkpoints(int64_t epoch);
  void print(const std::string& line) const;

  models::RetrievalModel& model_;
  data::BatchSource& source_;
  TrainOptions options_;
  std::vector<NamedParamGroup> groups_;
  std::unique_ptr<Optimizer> optimizer_;
  std::function<RetrievalMetrics(int64_t)> evaluate_;
  double t_total_ = 0;
  int64_t start_epoch_ = 0;
  int64_t global_step_ = 0;
  int64_t best_epoch_ = -1;
  double best_r1_ = -1;
  std::filesystem::path best_checkpoint_, last_checkpoint_;
  std::filesystem::path resumed_from_;  // the checkpoint resume() loaded ("" when none): kept
  std::unique_ptr<TrainLog> log_;
  std::optional<int64_t> planned_chunk_clips_;  // --chunk_clips auto: decided on the first batch
  double run_seconds_ = 0;   // training time so far, for clips/s and the ETA
  int64_t clips_seen_ = 0;
};

}  // namespace xclip::train
