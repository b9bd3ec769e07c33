// The training loop (main_xclip.py train_epoch + the epoch loop of main()); see trainer.hpp.
#include "xclip/train/trainer.hpp"

#include <chrono>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "xclip/autograd.hpp"
#include "xclip/models/chunked_step.hpp"
#include "xclip/ops.hpp"
#include "xclip/train/precision.hpp"
#include "xclip/train/train_checkpoint.hpp"
#include "xclip/train/train_log.hpp"

namespace xclip::train {

namespace {
double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double scalar_of(const Tensor& t) { return (t.device() == Device::cpu ? t : t.to(Device::cpu)).item_double(); }

nlohmann::json metrics_to_json(const RetrievalMetrics& m) {
  return {{"R1", m.r1}, {"R5", m.r5}, {"R10", m.r10}, {"MR", m.median_rank}, {"MeanR", m.mean_rank}};
}
}  // namespace

void clamp_logit_scale(Tensor& logit_scale, double max_value) {
  Tensor host = logit_scale.device() == Device::cpu ? logit_scale : logit_scale.to(Device::cpu);
  if (host.dtype() == DType::f32) {
    float* p = host.data<float>();
    *p = std::min(*p, float(max_value));
  } else {
    double* p = host.data<double>();
    *p = std::min(*p, max_value);
  }
  if (!host.is_same(logit_scale)) logit_scale.copy_(host);
}

Trainer::Trainer(models::RetrievalModel& model, data::BatchSource& source, TrainOptions options)
    : model_(model), source_(source), options_(std::move(options)) {
  XCLIP_CHECK(options_.epochs >= 1, "train: epochs must be >= 1, got ", options_.epochs);
  XCLIP_CHECK(options_.chunk_clips >= 0 || options_.chunk_clips == TrainOptions::kChunkAuto,
              "train: chunk_clips must be >= 0 (0: one graph) or auto, got ", options_.chunk_clips);
  XCLIP_CHECK(options_.gradient_accumulation_steps >= 1, "train: gradient_accumulation_steps must be >= 1, got ",
              options_.gradient_accumulation_steps);
  XCLIP_CHECK(!options_.output_dir.empty(), "train: an output folder is needed");
  const int64_t batches = source_.batches_per_epoch();
  XCLIP_CHECK(batches >= 1, "train: the training set gives no batch (", source_.samples_per_epoch(),
              " samples; is batch_size larger than the set?)");
  const int gas = options_.gradient_accumulation_steps;
  // num_train_optimization_steps = (int(len(loader) + gas - 1) / gas) * epochs: true division.
  t_total_ = double(batches + gas - 1) / double(gas) * double(options_.epochs);
  XCLIP_CHECK(options_.world_size_grad_scale >= 1, "train: world_size_grad_scale must be >= 1, got ",
              options_.world_size_grad_scale);
  XCLIP_CHECK(options_.keep_checkpoints == -1 || options_.keep_checkpoints >= 1,
              "train: keep_checkpoints must be -1 (all) or >= 1 (the newest is what a run resumes from), got ",
              options_.keep_checkpoints);
  groups_ = param_groups(model_, options_.lr, options_.coef_lr, options_.weight_decay);
  BertAdamOptions bo;
  bo.warmup = options_.warmup_proportion;
  bo.t_total = t_total_;
  bo.schedule = Schedule::warmup_cosine;
  bo.max_grad_norm = options_.max_grad_norm;
  std::vector<ParamGroup> plain;
  for (const auto& g : groups_) plain.push_back(g.group);
  optimizer_ = make_optimizer(model_, std::move(plain), bo);
  std::filesystem::create_directories(options_.output_dir);
  log_ = std::make_unique<TrainLog>(options_.output_dir / "train_log.jsonl");
}

Trainer::~Trainer() = default;

void Trainer::print(const std::string& line) const {
  if (options_.print) {
    options_.print(line);
  } else {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  }
}

void Trainer::resume(const std::filesystem::path& path) {
  const std::filesystem::path dir = find_checkpoint(path);
  const LoopState s = read_loop_state(dir);
  const std::string where = (dir / "trainer_state.json").string();
  // A different schedule or batch count would give a different run, not a continued one.
  XCLIP_CHECK(s.batches_per_epoch == source_.batches_per_epoch(), where, ": trained with ", s.batches_per_epoch,
              " batches per epoch, this run has ", source_.batches_per_epoch(), " (same data and batch_size?)");
  XCLIP_CHECK(s.epochs == options_.epochs && s.gradient_accumulation_steps == options_.gradient_accumulation_steps,
              where, ": trained for epochs=", s.epochs, " with gradient_accumulation_steps=",
              s.gradient_accumulation_steps, "; this run asks for ", options_.epochs, " and ",
              options_.gradient_accumulation_steps, " (the schedule depends on both)");
  XCLIP_CHECK(s.seed == options_.seed, where, ": trained with seed ", s.seed, ", this run has ", options_.seed);
  XCLIP_CHECK(s.epoch + 1 < options_.epochs, where, ": epoch ", s.epoch, " was the last of ", options_.epochs,
              "; nothing left to train");
  load_training_checkpoint(dir, model_, groups_, *optimizer_);
  start_epoch_ = s.epoch + 1;
  global_step_ = s.global_step;
  best_epoch_ = s.best_epoch;
  best_r1_ = s.best_r1;
  if (best_epoch_ >= 0) best_checkpoint_ = checkpoint_dir(options_.output_dir, best_epoch_);
  last_checkpoint_ = dir;
  resumed_from_ = dir;
  run_seconds_ = s.run_seconds;
  clips_seen_ = s.clips_seen;
  log_->write({{"event", "resume"}, {"checkpoint", dir.string()}, {"epoch", start_epoch_}, {"global_step", global_step_}});
  print(format("train: resumed from ", dir.string(), " (epoch ", s.epoch + 1, " done, global step ", global_step_,
               "); continuing with epoch ", start_epoch_ + 1, "/", options_.epochs));
}

TrainSummary Trainer::run() {
  TrainSummary summary;
  summary.first_epoch = start_epoch_;
  for (int64_t epoch = start_epoch_; epoch < options_.epochs; ++epoch) {
    const double mean_loss = train_epoch(epoch, summary);
    if (summary.stopped_non_finite) break;
    finish_epoch(epoch, mean_loss, summary);
    ++summary.epochs_done;
    if (options_.stop_after_epoch >= 0 && epoch >= options_.stop_after_epoch && epoch + 1 < options_.epochs) {
      summary.message = format("stopped after epoch ", epoch + 1, " as asked; resume with --resume_model ",
                               last_checkpoint_.string());
      break;
    }
  }
  summary.global_step = global_step_;
  summary.best_epoch = best_epoch_;
  summary.best_r1 = best_r1_;
  summary.last_checkpoint = last_checkpoint_;
  summary.best_checkpoint = best_checkpoint_;
  return summary;
}

// One epoch; returns the mean loss of its batches.
double Trainer::train_epoch(int64_t epoch, TrainSummary& summary) {
  source_.start_epoch(epoch);
  const int gas = options_.gradient_accumulation_steps;
  optimizer_->zero_grad();
  int64_t batches = 0, pending = 0, step_in_epoch = 0;
  double total_loss = 0, step_loss = 0, step_start = now_seconds();
  const Device device = model_.device();
  while (std::optional<data::Batch> batch = source_.next()) {
    *batch = data::to_device(std::move(*batch), device);
    const double loss = batch_gradient(*batch, gas, uint64_t(global_step_ * gas + pending));
    if (!std::isfinite(loss)) {
      summary.stopped_non_finite = true;
      summary.message = format("the loss is ", loss, " at epoch ", epoch + 1, ", batch ", batches + 1,
                               " (global step ", global_step_ + 1, "); stopped. The last good checkpoint is ",
                               last_checkpoint_.empty() ? std::string("none (no epoch finished)") : last_checkpoint_.string());
      log_->write({{"event", "stopped"}, {"reason", "non-finite loss"}, {"epoch", epoch}, {"batch", batches + 1},
                   {"global_step", global_step_ + 1}, {"last_checkpoint", last_checkpoint_.string()}});
      return NAN;
    }
    total_loss += loss;
    step_loss += loss / gas;
    clips_seen_ += batch->size();
    ++batches;
    // The original steps every gas batches; a remainder at the end of the epoch is stepped too
    // (t_total counts it), so that no gradient crosses an epoch boundary.
    const bool last = batches == source_.batches_per_epoch();
    if (++pending == gas || last) {
      const double seconds = now_seconds() - step_start;
      if (!optimizer_step(epoch, ++step_in_epoch, step_loss * gas / double(pending), seconds, summary)) return NAN;
      pending = 0;
      step_loss = 0;
      step_start = now_seconds();
    }
  }
  XCLIP_CHECK(batches == source_.batches_per_epoch(), "train: epoch ", epoch + 1, " gave ", batches,
              " batches, the source promised ", source_.batches_per_epoch());
  return total_loss / double(batches);
}

namespace {
// Clips [start, start + n) of a batch.
data::Batch batch_rows(const data::Batch& batch, int64_t start, int64_t n) {
  data::Batch out;
  out.index = batch.index;
  for (auto [from, to] : {std::pair{&batch.input_ids, &out.input_ids}, {&batch.attention_mask, &out.attention_mask},
                          {&batch.video, &out.video}, {&batch.video_mask, &out.video_mask}})
    if (from->defined()) *to = ops::narrow(*from, 0, start, n);
  return out;
}
}  // namespace

// One batch's loss, and when it is finite its gradient, scaled by 1/gas, added to the parameters
// (a non-finite loss stops the run before any update). The head's dropout masks (if any) come from
// (seed, micro-step), so a resumed run redraws the same. A head that contrasts within each rank
// sees the batch as world_size_grad_scale consecutive slices (the ranks' own batches; their
// sizes differ by at most one), and the batch's loss is the mean of the slices' losses.
double Trainer::batch_gradient(const data::Batch& batch, int gas, uint64_t micro_step) {
  const int64_t ranks = model_.head.contrasts_within_rank() ? options_.world_size_grad_scale : 1;
  const int64_t B = batch.size();
  XCLIP_CHECK(ranks <= B, "train: a batch of ", B, " clips cannot be split over ", ranks,
              " ranks (--world_size_grad_scale) for the ", model_.config().head, " head's per-rank contrast");
  double loss = 0;
  for (int64_t r = 0, start = 0; r < ranks; ++r) {
    const int64_t n = B / ranks + (r < B % ranks ? 1 : 0);
    model_.head.set_step_seed(uint64_t(options_.seed), micro_step * uint64_t(ranks) + uint64_t(r));
    const double slice_loss = slice_gradient(ranks == 1 ? batch : batch_rows(batch, start, n), gas * int(ranks));
    if (!std::isfinite(slice_loss)) return slice_loss;
    loss += slice_loss / double(ranks);
    start += n;
  }
  return loss;
}

// One slice's loss; its gradient, scaled by 1/gas, is added when the loss is finite.
double Trainer::slice_gradient(const data::Batch& batch, int gas) {
  const int64_t chunk = chunk_clips_for(batch);
  if (chunk == 0) {
    models::ModelOutput out = model_.forward(batch.input_ids, batch.attention_mask, batch.video, batch.video_mask);
    const double loss = scalar_of(out.loss);
    if (std::isfinite(loss)) (gas > 1 ? ops::scale(out.loss, 1.0 / gas) : out.loss).backward();
    return loss;
  }
  models::ChunkedStep step(model_, batch.input_ids, batch.attention_mask, batch.video, batch.video_mask, chunk);
  const double loss = step.loss_value();
  if (std::isfinite(loss)) step.backward(gas > 1 ? 1.0 / gas : 1.0);
  return loss;
}

int64_t Trainer::chunk_clips_for(const data::Batch& batch) {
  if (options_.chunk_clips != TrainOptions::kChunkAuto) {
    if (options_.chunk_clips > 0 && !planned_chunk_clips_) {
      planned_chunk_clips_ = options_.chunk_clips;
      print(format("train: chunked step, the towers' graphs for ", options_.chunk_clips, " clips at a time"));
    }
    return options_.chunk_clips;
  }
  if (!planned_chunk_clips_) {
    const models::ChunkPlan plan =
        models::plan_chunk_clips(model_, batch.input_ids, batch.attention_mask, batch.video, batch.video_mask);
    planned_chunk_clips_ = plan.chunk_clips;
    print("train: --chunk_clips auto: " + plan.str());
    log_->write({{"event", "chunk_plan"},
                 {"chunk_clips", plan.chunk_clips},
                 {"bytes_per_clip", plan.bytes_per_clip},
                 {"bytes_fixed", plan.bytes_fixed},
                 {"bytes_head", plan.bytes_head},
                 {"bytes_available", plan.bytes_available}});
  }
  return *planned_chunk_clips_;
}

bool Trainer::optimizer_step(int64_t epoch, int64_t step_in_epoch, double loss, double seconds, TrainSummary& summary) {
  // A head contrasting within ranks already averaged its slices (batch_gradient): DDP's mean.
  if (!model_.head.contrasts_within_rank()) scale_pre_gather_gradients(model_, options_.world_size_grad_scale);
  const double grad_norm = clip_global_grad_norm(model_, options_.max_grad_norm);
  if (!std::isfinite(grad_norm)) {
    summary.stopped_non_finite = true;
    summary.message = format("the gradient norm is ", grad_norm, " at epoch ", epoch + 1, ", step ", step_in_epoch,
                             " (global step ", global_step_ + 1, "); stopped before the update. The last good checkpoint is ",
                             last_checkpoint_.empty() ? std::string("none (no epoch finished)") : last_checkpoint_.string());
    log_->write({{"event", "stopped"}, {"reason", "non-finite gradient norm"}, {"epoch", epoch},
                 {"global_step", global_step_ + 1}, {"last_checkpoint", last_checkpoint_.string()}});
    return false;
  }
  const std::vector<double> lr = optimizer_->current_lr();  // what this step uses
  optimizer_->step();
  optimizer_->zero_grad();
  clamp_logit_scale(model_.clip.logit_scale, options_.logit_scale_max);
  ++global_step_;
  run_seconds_ += seconds;
  log_->write({{"event", "step"},
               {"epoch", epoch},
               {"step", step_in_epoch},
               {"global_step", global_step_},
               {"loss", loss},
               {"lr", lr},
               {"grad_norm", grad_norm},
               {"logit_scale", scalar_of(model_.clip.logit_scale)},
               {"seconds", seconds}});
  if (options_.n_display > 0 && global_step_ % options_.n_display == 0) {
    const int gas = options_.gradient_accumulation_steps;
    ProgressInfo p;
    p.epoch = epoch;
    p.epochs = options_.epochs;
    p.step = step_in_epoch;
    p.steps_per_epoch = (source_.batches_per_epoch() + gas - 1) / gas;
    p.global_step = global_step_;
    p.total_steps = t_total_;
    p.loss = loss;
    p.lr = lr;
    p.clips_per_second = run_seconds_ > 0 ? double(clips_seen_) / run_seconds_ : 0;
    // Time per step of this run so far, times the steps left (evaluation time not included).
    const double steps_left = double(p.steps_per_epoch * options_.epochs - global_step_);
    p.eta_seconds = steps_left * run_seconds_ / double(std::max<int64_t>(global_step_, 1));
    print(progress_line(p));
  }
  return true;
}

void Trainer::finish_epoch(int64_t epoch, double mean_loss, TrainSummary& summary) {
  summary.last_loss = mean_loss;
  LoopState state;
  state.epoch = epoch;
  state.epochs = options_.epochs;
  state.global_step = global_step_;
  state.t_total = t_total_;
  state.batches_per_epoch = source_.batches_per_epoch();
  state.gradient_accumulation_steps = options_.gradient_accumulation_steps;
  state.seed = options_.seed;
  state.mean_loss = mean_loss;
  state.best_epoch = best_epoch_;
  state.best_r1 = best_r1_;
  state.run_seconds = run_seconds_;
  state.clips_seen = clips_seen_;
  state.optimizer = optimizer_->name();
  const std::filesystem::path dir = checkpoint_dir(options_.output_dir, epoch);
  if (options_.save_checkpoints) {
    save_training_checkpoint(dir, model_, groups_, *optimizer_, state);
    last_checkpoint_ = dir;
  }
  print(format("train: epoch ", epoch + 1, "/", options_.epochs, " finished, mean loss ", mean_loss,
               options_.save_checkpoints ? ", checkpoint " + dir.string() : std::string()));
  nlohmann::json record = {{"event", "epoch"},        {"epoch", epoch},
                           {"mean_loss", mean_loss},  {"global_step", global_step_},
                           {"run_seconds", run_seconds_}, {"checkpoint", options_.save_checkpoints ? dir.string() : ""}};
  if (evaluate_) {
    const RetrievalMetrics t2v = evaluate_(epoch);
    record["t2v"] = metrics_to_json(t2v);
    // The original keeps the later epoch on a tie (best_score <= R1), starting from 1e-5.
    if (t2v.r1 >= std::max(best_r1_, 1e-5)) {
      best_r1_ = t2v.r1;
      best_epoch_ = epoch;
      best_checkpoint_ = dir;
      if (options_.save_checkpoints) save_best(options_.output_dir, dir, {{"epoch", epoch}, {"t2v", metrics_to_json(t2v)}});
    }
    print(best_epoch_ >= 0 ? format("train: best so far: epoch ", best_epoch_ + 1, " with text-to-video R@1 ", best_r1_)
                           : std::string("train: no epoch has scored yet"));
    state.best_epoch = best_epoch_;
    state.best_r1 = best_r1_;
    if (options_.save_checkpoints) update_loop_state(dir, state);
  }
  record["best_epoch"] = best_epoch_;
  record["best_r1"] = best_r1_;
  log_->write(record);
  if (options_.save_checkpoints && options_.keep_checkpoints >= 1) remove_old_checkpoints(epoch);
}

// --keep_checkpoints N after epoch `epoch`: epochs up to epoch − N are removed unless one is the
// best or the one this run resumed from. Only this run's folder names are looked at
// (checkpoint.E with E ≤ epoch), so a later epoch left by another run is not touched.
void Trainer::remove_old_checkpoints(int64_t epoch) {
  std::vector<std::filesystem::path> keep = {resumed_from_};
  if (best_epoch_ >= 0) keep.push_back(checkpoint_dir(options_.output_dir, best_epoch_));
  const std::vector<std::filesystem::path> removed =
      remove_checkpoints_before(options_.output_dir, epoch - options_.keep_checkpoints + 1, keep);
  for (const auto& dir : removed) {
    log_->write({{"event", "removed_checkpoint"}, {"checkpoint", dir.string()}, {"keep_checkpoints", options_.keep_checkpoints}});
    print(format("train: removed ", dir.string(), " (keep_checkpoints ", options_.keep_checkpoints, ")"));
  }
}

}  // namespace xclip::train
