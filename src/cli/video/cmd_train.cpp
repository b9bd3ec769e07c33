// xclip-cli train: main_xclip.py --do_train on the CPU. Trains X-CLIP (or the meanP baseline),
// checkpoints and evaluates every epoch, keeps the best by text-to-video R@1, then tests the best.
#include <omp.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../command.hpp"
#include "train_setup.hpp"
#include "xclip/autograd.hpp"
#include "xclip/data/skipped_videos.hpp"
#include "xclip/io/safetensors.hpp"
#include "xclip/train/train_checkpoint.hpp"
#include "xclip/train/trainer.hpp"

namespace xclip::cli {

constexpr const char* kTrainUsage =
    "usage: xclip-cli train --data_path PATH --features_path DIR --output_dir DIR [options]\n"
    "Flags as main_xclip.py (both _ and - spellings; --config FILE.json with the same keys, flags win):\n"
    "  data      --datatype msrvtt|msvd|lsmdc|didemo|activity|vatex (msrvtt)  --train_csv --val_csv\n"
    "            --expand_msrvtt_sentences  --max_words (32) --max_frames (12) --feature_framerate (1)\n"
    "            --slice_framepos 0|1|2 (0)  --train_frame_order / --eval_frame_order 0|1|2 (0)\n"
    "            --num_thread_reader N (1)  --frame_cache DIR (an `xclip-cli extract` cache: DIR/<split>/\n"
    "            per split, or one cache)  --bpe PATH (default: bpe_simple_vocab_16e6.txt.gz from\n"
    "            $XCLIP_BPE, else the installed data folder, else the source tree's data/clip/)\n"
    "  model     --sim_header seqTransf|meanP (seqTransf; clip4clip and ea_clip4clip also tightTransf,\n"
    "            ea_clip4clip seqLSTM)  --cross_num_hidden_layers (4)  --loose_type\n"
    "            --linear_patch 2d  --pretrained_clip_name CKPT  --init_model CKPT  --model_config FILE.json\n"
    "            (the head: {\"head\": \"xclip\" | \"clip4clip\" | ..., ...}, models/heads/head_config.hpp; the\n"
    "            paper's settings: data/configs/, installed as share/xclip/configs/)\n"
    "            --init random: a small CLIP from scratch with --vision_width (64) --vision_layers (2)\n"
    "            --patch (8) --image_resolution (32) --text_width (64) --text_layers (2) --embed_dim (64)\n"
    "            --head_width (32; inferring a checkpoint's heads: 64), seeded by --seed (42)\n"
    "  training  --epochs (20) --batch_size (256, all accumulation steps together) --lr (1e-4)\n"
    "            --coef_lr (1.0) --warmup_proportion (0.1) --gradient_accumulation_steps (1)\n"
    "            --freeze_layer_num -1..12 (0) --n_display (100) --sampler_seed (0, the\n"
    "            DistributedSampler's) --resume_model CHECKPOINT_DIR|OUTPUT_DIR --stop_after_epoch E\n"
    "            (stop, resumable, after epoch E, 0-based) --threads N (compute threads) --device cpu|cuda\n"
    "            --official_fp16 (the original's fp16 CLIP weights and fp16 BertAdam; cpu or cuda)\n"
    "            --bf16 (bf16 autocast: the encoders' matmuls in bf16 with f32 accumulation; f32\n"
    "            weights, optimizer, head and loss)\n"
    "            --world_size_grad_scale N (encoder gradients / N, as the original's N-GPU all-gather;\n"
    "            tightTransf, which gathers nothing: each batch contrasted as N slices, as N GPUs do)\n"
    "            --keep_checkpoints N (all): keep the best and the N newest epoch checkpoints\n"
    "            --chunk_clips N|auto (0): the whole batch's exact gradient with the encoders' graphs held\n"
    "            for N clips at a time (one more encoder forward); auto: the largest N the memory\n"
    "            holds, measured on the first batch; 0: one graph for the whole batch\n"
    "  eval      --batch_size_val (40: evaluation batch and similarity block)  --save_sim SIM.npy (the\n"
    "            test similarity of the best model)  --allow_missing_videos (evaluate without the val/test\n"
    "            videos that are missing or undecodable; without it they are an error listing them all)\n"
    "Training videos that are missing or undecodable are left out, counted, and listed in\n"
    "OUTPUT_DIR/skipped_videos.txt (`xclip-cli check` finds them all before a run).\n"
    "Writes OUTPUT_DIR/checkpoint.N/ every epoch, best/, train_log.jsonl, eval.N.json, test_metrics.json.\n"
    "\n"
    "Defaults that differ from the official run (scripts/run_xclip_msrvtt_vit32.sh, and main_xclip.py's\n"
    "argparse defaults where the script passes nothing): ours (theirs)\n"
    "  --epochs 20 (5)  --batch_size 256 (300)  --coef_lr 1.0 (1e-3)  --slice_framepos 0 (2)\n"
    "  --n_display 100 (10)  --num_thread_reader 1 (8)  --expand_msrvtt_sentences off (on)\n"
    "  --pretrained_clip_name none (ViT-B/32)  --device cpu (cuda, 4 GPUs)\n"
    "  precision f32 (fp16 CLIP weights and fp16 BertAdam: --official_fp16)\n"
    "  --world_size_grad_scale 1 (the 4-GPU all-gather leaves 1/4 on the encoders: 4; ActivityNet 8)\n"
    "Equal to the scripts but not to main_xclip.py's argparse defaults: --max_words 32 (20)\n"
    "  --max_frames 12 (100)  --sim_header seqTransf (meanP)  --batch_size_val 40 (3500)\n"
    "  loose type always (--loose_type; every script passes it).\n"
    "To reproduce a published run, pass the script's values (REPRODUCE.md).\n";

namespace {

void set_threads(const TrainFlags& f) {
  if (!f.has("threads")) return;
  const int64_t n = f.get_int("threads", 1);
  XCLIP_CHECK(n >= 1, "--threads must be >= 1, got ", n);
  omp_set_num_threads(int(n));
}

train::TrainOptions train_options(const TrainFlags& f) {
  train::TrainOptions o;
  o.output_dir = f.require("output_dir");
  o.epochs = f.get_int("epochs", 20);
  o.lr = f.get_double("lr", 1e-4);
  o.coef_lr = f.get_double("coef_lr", 1.0);
  o.warmup_proportion = f.get_double("warmup_proportion", 0.1);
  o.gradient_accumulation_steps = int(f.get_int("gradient_accumulation_steps", 1));
  o.n_display = f.get_int("n_display", 100);
  o.seed = uint64_t(f.get_int("seed", 42));
  o.stop_after_epoch = f.get_int("stop_after_epoch", -1);
  o.keep_checkpoints = f.get_int("keep_checkpoints", -1);
  XCLIP_CHECK(o.keep_checkpoints == -1 || o.keep_checkpoints >= 1,
              "--keep_checkpoints must be >= 1 (the newest checkpoint is what --resume_model continues from), got ",
              o.keep_checkpoints);
  if (f.get("chunk_clips") == std::optional<std::string>("auto")) {
    o.chunk_clips = train::TrainOptions::kChunkAuto;
  } else {
    o.chunk_clips = f.get_int("chunk_clips", 0);
    XCLIP_CHECK(o.chunk_clips >= 0, "--chunk_clips must be a number of clips >= 0 (0: one graph) or auto, got ",
                o.chunk_clips);
  }
  XCLIP_CHECK(o.lr >= 0 && o.coef_lr >= 0, "--lr and --coef_lr must be >= 0");
  XCLIP_CHECK(o.warmup_proportion >= 0 && o.warmup_proportion < 1, "--warmup_proportion must be in [0, 1)");
  return o;
}

// The training loader: missing videos (read) and undecodable ones (found by the loader's workers
// at any time, their rows left out of the batch) are counted on stderr and listed in
// OUTPUT_DIR/skipped_videos.txt, which keeps what earlier runs of this output folder found.
data::LoaderOptions training_loader_options(const TrainFlags& f, const models::RetrievalModel& model,
                                            const data::Dataset& train_set, data::SkippedVideoLog& skipped) {
  skipped.add(train_set.skipped);
  if (skipped.size() > 0)
    std::fprintf(stderr, "train: %zu training video(s) left out so far (%zu missing or unreadable when the split was "
                 "read), listed in %s\n", skipped.size(), train_set.skipped.size(), skipped.file().string().c_str());
  data::LoaderOptions o = loader_options(f, model, "train", true);
  o.on_video_problem = [&skipped](const data::VideoProblem& p) {
    skipped.add({p});
    std::fprintf(stderr, "train: video %s (%s) cannot be decoded, left out of training: %s (%zu skipped, listed in %s)\n",
                 p.video_id.c_str(), p.file.c_str(), p.reason.c_str(), skipped.size(), skipped.file().string().c_str());
  };
  return o;
}

// Loads the weights of a checkpoint folder into the model (the best epoch, for the final test).
void load_weights(models::RetrievalModel& model, const std::filesystem::path& dir) {
  const io::NamedTensors w = io::load_safetensors((dir / "model.safetensors").string());
  NoGradGuard no_grad;
  model.load_state_dict(w.list(), true);
}

int run_train(const std::vector<std::string>& argv) {
  TrainFlags f(argv);
  if (f.flag("help")) {
    std::printf("%s", kTrainUsage);
    return 0;
  }
  XCLIP_CHECK(f.positional().empty(), "unexpected argument '", f.positional().at(0), "'\n", kTrainUsage);
  check_supported(f);
  set_threads(f);
  train::TrainOptions options = train_options(f);
  check_eval_outputs(options.output_dir / "test_metrics.json", f.get("save_sim"));  // now, not after the run

  auto tokenizer = load_tokenizer(f);
  const data::TextEncoder encoder = data::clip_text_encoder(tokenizer);
  std::unique_ptr<models::RetrievalModel> model = build_model(f);
  const std::vector<std::string> frozen = train::freeze_clip_layers(*model, int(f.get_int("freeze_layer_num", 0)));
  std::fprintf(stderr, "model: %zu CLIP parameter tensors frozen (--freeze_layer_num %lld)\n", frozen.size(),
               (long long)f.get_int("freeze_layer_num", 0));

  move_to_device(f, *model);
  const data::Dataset train_set = load_split(f, "train");
  const data::Dataset val_set = load_split(f, "val");
  // The original reloads the best checkpoint and evaluates it on the test set. For MSR-VTT and
  // ActivityNet the test set is the validation set. Either is checked now, not after the run.
  const bool val_is_test = train_set.kind == data::DatasetKind::msrvtt || train_set.kind == data::DatasetKind::activitynet;
  const std::optional<data::Dataset> test_set =
      val_is_test ? std::nullopt : std::optional<data::Dataset>(load_split(f, "test"));
  check_missing_videos(f, val_set);
  if (test_set) check_missing_videos(f, *test_set);
  data::SkippedVideoLog skipped(options.output_dir / "skipped_videos.txt");
  data::LoaderBatchSource source(train_set, training_loader_options(f, *model, train_set, skipped), encoder);
  const data::LoaderOptions val_options = loader_options(f, *model, "val", false);

  // --official_fp16 made an fp16-CLIP model (build_model): the trainer picks the fp16 BertAdam and
  // the fp16-aware global clip from it. --world_size_grad_scale N: the 1/N the original's N-GPU
  // all-gather leaves on the encoders' gradients.
  options.world_size_grad_scale = int(f.get_int("world_size_grad_scale", 1));
  train::Trainer trainer(*model, source, options);
  std::fprintf(stderr, "train: %lld samples, %lld batches of %lld per epoch, %lld epochs, t_total %.1f\n",
               (long long)source.samples_per_epoch(), (long long)source.batches_per_epoch(),
               (long long)source.loader().options().batch_size, (long long)options.epochs, trainer.t_total());
  train::EvalResult last_eval;
  int64_t last_eval_epoch = -1;
  trainer.set_evaluator([&](int64_t epoch) {
    last_eval = run_evaluation(f, *model, val_set, val_options, encoder, format("eval after epoch ", epoch + 1));
    last_eval_epoch = epoch;
    write_eval_outputs(last_eval.to_json(), last_eval, options.output_dir / ("eval." + std::to_string(epoch) + ".json"),
                       std::nullopt);
    return last_eval.t2v;
  });
  if (auto resume = f.get("resume_model")) trainer.resume(*resume);

  const train::TrainSummary s = trainer.run();
  if (s.stopped_non_finite) {
    std::fprintf(stderr, "train: %s\n", s.message.c_str());
    return 1;
  }
  if (!s.message.empty()) {
    std::printf("train: %s\n", s.message.c_str());
    return 0;
  }
  std::printf("train: done, %lld optimizer steps; best epoch %lld, text-to-video R@1 %.2f (%s)\n",
              (long long)s.global_step, (long long)(s.best_epoch + 1), s.best_r1, s.best_checkpoint.string().c_str());

  // When the test set is the validation set, the best epoch's evaluation is reused when it was the
  // last one (the weights in memory are then the best).
  train::EvalResult test;
  if (val_is_test && s.best_epoch == last_eval_epoch) {
    test = last_eval;
    std::printf("%s", test.table("test = the best epoch's evaluation").c_str());
  } else {
    if (s.best_epoch >= 0) load_weights(*model, s.best_checkpoint);
    test = run_evaluation(f, *model, test_set ? *test_set : val_set, loader_options(f, *model, "test", false), encoder,
                          "test (best epoch)");
  }
  nlohmann::json j = test.to_json();
  j["best_epoch"] = s.best_epoch;
  write_eval_outputs(j, test, options.output_dir / "test_metrics.json", f.get("save_sim"));
  return 0;
}

const CommandRegistrar kRegister{
    Command{"train", "train X-CLIP / meanP (main_xclip.py --do_train): checkpoints, eval, resume", run_train}};

}  // namespace
}  // namespace xclip::cli
