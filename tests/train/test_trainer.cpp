// The training loop against the original main_xclip.py rules (spec §6): parameter groups and
// freezing by name, lr 0 at the first step, the logit_scale clamp, gradient accumulation,
// checkpoints, the NaN stop, and an interrupted + resumed run equal to an uninterrupted one.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "test_util.hpp"
#include "train/train_test_util.hpp"
#include "xclip/io/safetensors.hpp"
#include "xclip/train/precision.hpp"
#include "xclip/train/train_checkpoint.hpp"
#include "xclip/train/train_log.hpp"
#include "xclip/train/trainer.hpp"

using namespace xclip;
using namespace xclip::train;
namespace fs = std::filesystem;

namespace {

std::map<std::string, std::string> group_of(const std::vector<NamedParamGroup>& groups) {
  std::map<std::string, std::string> out;
  for (const auto& g : groups)
    for (const auto& n : g.names) out[n] = g.group.name;
  return out;
}

std::vector<nlohmann::json> events(const fs::path& dir, const std::string& event) {
  std::vector<nlohmann::json> out;
  for (auto& r : read_train_log(dir / "train_log.jsonl"))
    if (r.at("event") == event) out.push_back(r);
  return out;
}

}  // namespace

TEST_CASE("param groups: the original's four groups, by the roles the model and its head report", "[train][trainer]") {
  auto model = test::tiny_model(1);
  const auto groups = param_groups(*model, 1e-4, 1e-3);
  REQUIRE(groups.size() == 4);
  CHECK(groups[0].group.lr == Approx(1e-7));
  CHECK(groups[0].group.weight_decay == 0.2);
  CHECK(groups[1].group.lr == 1e-4);
  CHECK(groups[1].group.weight_decay == 0.2);
  CHECK(groups[2].group.lr == Approx(1e-7));
  CHECK(groups[2].group.weight_decay == 0.0);
  CHECK(groups[3].group.weight_decay == 0.0);
  const auto g = group_of(groups);
  // CLIP LayerNorm weights are decayed (named ln_*, not LayerNorm.*); biases are not.
  CHECK(g.at("clip.visual.ln_pre.weight") == "decay_clip");
  CHECK(g.at("clip.visual.ln_pre.bias") == "no_decay_clip");
  CHECK(g.at("clip.logit_scale") == "decay_clip");
  CHECK(g.at("clip.token_embedding.weight") == "decay_clip");
  // transformerClip. has a capital C: not a CLIP parameter for the groups.
  CHECK(g.at("transformerClip.resblocks.0.ln_1.weight") == "decay_other");
  CHECK(g.at("transformerClip.resblocks.0.attn.in_proj_bias") == "no_decay_other");
  CHECK(g.at("frame_position_embeddings.weight") == "decay_other");
  CHECK(g.at("global_mat_weight") == "decay_other");
  CHECK(g.size() == model->named_parameters().size());
  CHECK(models::is_no_decay_parameter("x.LayerNorm.weight"));
  CHECK_FALSE(models::is_no_decay_parameter("clip.ln_final.weight"));
}

TEST_CASE("freeze_layer_num 0 freezes exactly the spec's CLIP embeddings", "[train][trainer]") {
  auto model = test::tiny_model(1);
  const auto frozen = freeze_clip_layers(*model, 0);
  const std::set<std::string> got(frozen.begin(), frozen.end());
  const std::set<std::string> want = {"clip.positional_embedding",        "clip.visual.class_embedding",
                                      "clip.visual.positional_embedding", "clip.visual.conv1.weight",
                                      "clip.visual.ln_pre.weight",        "clip.visual.ln_pre.bias",
                                      "clip.token_embedding.weight"};
  CHECK(got == want);
  for (const auto& [name, p] : model->named_parameters()) {
    INFO(name);
    CHECK(p.requires_grad() == !want.count(name));
  }
  auto model1 = test::tiny_model(1);
  const auto frozen1 = freeze_clip_layers(*model1, 1);
  // Block 0 of both towers joins the frozen set (the tiny towers have one block each).
  CHECK(frozen1.size() == want.size() + 2 * 12);
  CHECK(std::count(frozen1.begin(), frozen1.end(), "clip.transformer.resblocks.0.mlp.c_fc.weight") == 1);
  CHECK(std::count(frozen1.begin(), frozen1.end(), "clip.visual.transformer.resblocks.0.ln_2.bias") == 1);
  CHECK(freeze_clip_layers(*test::tiny_model(1), -1).empty());
  CHECK_THROWS_WITH(freeze_clip_layers(*model, 13), Catch::Contains("freeze_layer_num"));
}

TEST_CASE("trainer: loss falls, lr 0 at the first step, logit_scale clamped, checkpoints", "[train][trainer]") {
  const fs::path dir = test::temp_dir("trainer_basic");
  auto model = test::tiny_model(7);
  model->clip.logit_scale.fill_(5.0);  // above ln 100: the first step's clamp must bring it down
  test::ToySource source(40, 8, 8);
  Trainer trainer(*model, source, test::quiet_train_options(dir, 4));
  CHECK(trainer.t_total() == 20.0);
  const TrainSummary s = trainer.run();
  CHECK_FALSE(s.stopped_non_finite);
  CHECK(s.epochs_done == 4);
  CHECK(s.global_step == 20);

  const auto steps = events(dir, "step");
  REQUIRE(steps.size() == 20);
  for (double lr : steps[0].at("lr").get<std::vector<double>>()) CHECK(lr == 0.0);
  CHECK(steps[1].at("lr")[1].get<double>() == Approx(3e-3 * (1.0 / 20) / 0.1));
  for (const auto& st : steps) CHECK(st.at("logit_scale").get<double>() <= std::log(100.0) + 1e-6);
  const auto epochs = events(dir, "epoch");
  REQUIRE(epochs.size() == 4);
  CHECK(epochs[3].at("mean_loss").get<double>() < epochs[0].at("mean_loss").get<double>() - 0.3);

  for (int e = 0; e < 4; ++e) {
    const fs::path ck = checkpoint_dir(dir, e);
    REQUIRE(fs::exists(ck / "trainer_state.json"));
    CHECK_FALSE(fs::exists(ck.string() + ".partial"));
    CHECK(read_loop_state(ck).global_step == 5 * (e + 1));
  }
  const io::NamedTensors w = io::load_safetensors((checkpoint_dir(dir, 3) / "model.safetensors").string());
  CHECK(w.contains("clip.visual.conv1.weight"));
  CHECK(w.contains("transformerClip.resblocks.0.attn.in_proj_weight"));
  CHECK(w.size() == model->named_parameters().size());
  const io::NamedTensors opt = io::load_safetensors((checkpoint_dir(dir, 3) / "optimizer.safetensors").string());
  CHECK(opt.at("step.clip.logit_scale").data<int64_t>()[0] == 20);
  CHECK(opt.metadata.at("optimizer") == "BertAdam");
}

TEST_CASE("trainer: frozen parameters stay, and have no optimizer state", "[train][trainer]") {
  const fs::path dir = test::temp_dir("trainer_frozen");
  auto model = test::tiny_model(3);
  freeze_clip_layers(*model, 0);
  const Tensor conv_before = model->clip.visual.conv1.weight.clone();
  const Tensor ln_post_before = model->clip.visual.ln_post.weight.clone();
  test::ToySource source(16, 8, 4);
  Trainer(*model, source, test::quiet_train_options(dir, 2)).run();
  CHECK(model->clip.visual.conv1.weight.to_vector<float>() == conv_before.to_vector<float>());
  CHECK(model->clip.visual.ln_post.weight.to_vector<float>() != ln_post_before.to_vector<float>());
  const io::NamedTensors opt = io::load_safetensors((checkpoint_dir(dir, 1) / "optimizer.safetensors").string());
  CHECK_FALSE(opt.contains("m.clip.visual.conv1.weight"));
  CHECK(opt.contains("m.clip.visual.ln_post.weight"));
}

TEST_CASE("trainer: gradient accumulation halves the steps", "[train][trainer]") {
  const fs::path dir = test::temp_dir("trainer_gas");
  auto model = test::tiny_model(5);
  test::ToySource source(40, 4, 8);  // 10 batches per epoch
  TrainOptions o = test::quiet_train_options(dir, 2);
  o.gradient_accumulation_steps = 3;  // ceil(10 / 3) = 4 steps per epoch; t_total = 12 / 3 · 2
  Trainer trainer(*model, source, o);
  CHECK(trainer.t_total() == Approx(8.0));
  const TrainSummary s = trainer.run();
  CHECK(s.global_step == 8);
  const auto steps = events(dir, "step");
  REQUIRE(steps.size() == 8);
  CHECK(steps[3].at("step") == 4);
}

TEST_CASE("trainer: an interrupted and resumed run gives the same losses step for step", "[train][trainer][resume]") {
  const fs::path one = test::temp_dir("trainer_one_go"), two = test::temp_dir("trainer_resumed");
  constexpr int64_t kEpochs = 3;
  {
    auto model = test::tiny_model(11);
    test::ToySource source(24, 6, 6, /*seed=*/3);
    Trainer(*model, source, test::quiet_train_options(one, kEpochs)).run();
  }
  {
    auto model = test::tiny_model(11);
    test::ToySource source(24, 6, 6, 3);
    TrainOptions o = test::quiet_train_options(two, kEpochs);
    o.stop_after_epoch = 0;
    const TrainSummary s = Trainer(*model, source, o).run();
    CHECK(s.epochs_done == 1);
    CHECK_THAT(s.message, Catch::Contains("resume"));
  }
  {
    // A new process: a model initialised differently, so every weight must come from the checkpoint.
    auto model = test::tiny_model(999);
    test::ToySource source(24, 6, 6, 3);
    Trainer trainer(*model, source, test::quiet_train_options(two, kEpochs));
    trainer.resume(two);  // the output folder: its newest checkpoint
    const TrainSummary s = trainer.run();
    CHECK(s.first_epoch == 1);
    CHECK(s.epochs_done == 2);
  }
  const std::vector<double> a = step_losses(read_train_log(one / "train_log.jsonl"));
  const std::vector<double> b = step_losses(read_train_log(two / "train_log.jsonl"));
  REQUIRE(a.size() == 12);
  CHECK(a == b);  // exactly
  const io::NamedTensors wa = io::load_safetensors((checkpoint_dir(one, 2) / "model.safetensors").string());
  const io::NamedTensors wb = io::load_safetensors((checkpoint_dir(two, 2) / "model.safetensors").string());
  for (const auto& [name, t] : wa) {
    INFO(name);
    CHECK(t.to_vector<float>() == wb.at(name).to_vector<float>());
  }
}

TEST_CASE("trainer: resume refuses a checkpoint of another schedule", "[train][trainer][resume]") {
  const fs::path dir = test::temp_dir("trainer_resume_mismatch");
  auto model = test::tiny_model(2);
  test::ToySource source(12, 6, 6);
  TrainOptions o = test::quiet_train_options(dir, 3);
  o.stop_after_epoch = 0;
  Trainer(*model, source, o).run();
  Trainer other(*model, source, test::quiet_train_options(dir, 5));
  CHECK_THROWS_WITH(other.resume(dir), Catch::Contains("epochs=3"));
  test::ToySource smaller(6, 6, 6);
  Trainer third(*model, smaller, test::quiet_train_options(dir, 3));
  CHECK_THROWS_WITH(third.resume(dir), Catch::Contains("batches per epoch"));
  CHECK_THROWS_WITH(third.resume(dir / "nothing_here"), Catch::Contains("no such checkpoint"));
}

TEST_CASE("trainer: a NaN loss stops the run naming the step and keeps the last checkpoint", "[train][trainer]") {
  const fs::path dir = test::temp_dir("trainer_nan");
  auto model = test::tiny_model(4);
  test::ToySource source(16, 4, 4);
  source.poison_epoch = 1;
  source.poison_batch = 2;
  const TrainSummary s = Trainer(*model, source, test::quiet_train_options(dir, 3)).run();
  CHECK(s.stopped_non_finite);
  CHECK_THAT(s.message, Catch::Contains("epoch 2, batch 3") && Catch::Contains("global step 7") &&
                            Catch::Contains("checkpoint.0"));
  CHECK(fs::exists(checkpoint_dir(dir, 0) / "model.safetensors"));
  CHECK_FALSE(fs::exists(checkpoint_dir(dir, 1)));
  const auto stopped = events(dir, "stopped");
  REQUIRE(stopped.size() == 1);
  CHECK(stopped[0].at("global_step") == 7);
}

TEST_CASE("trainer: the evaluator picks the best epoch (later epoch on ties)", "[train][trainer]") {
  const fs::path dir = test::temp_dir("trainer_best");
  auto model = test::tiny_model(6);
  test::ToySource source(12, 6, 6);
  Trainer trainer(*model, source, test::quiet_train_options(dir, 4));
  const std::vector<double> r1 = {10, 30, 30, 20};
  trainer.set_evaluator([&](int64_t epoch) {
    RetrievalMetrics m;
    m.r1 = r1[size_t(epoch)];
    return m;
  });
  const TrainSummary s = trainer.run();
  CHECK(s.best_epoch == 2);
  CHECK(s.best_r1 == 30);
  REQUIRE(fs::exists(dir / "best" / "model.safetensors"));
  CHECK(read_loop_state(checkpoint_dir(dir, 3)).best_epoch == 2);
  const io::NamedTensors best = io::load_safetensors((dir / "best" / "model.safetensors").string());
  const io::NamedTensors ck2 = io::load_safetensors((checkpoint_dir(dir, 2) / "model.safetensors").string());
  CHECK(best.at("global_mat_weight").to_vector<float>() == ck2.at("global_mat_weight").to_vector<float>());
}

TEST_CASE("trainer: an official-fp16 model trains with the fp16 optimizer, checkpointed and resumed exactly", "[train][trainer][resume]") {
  const fs::path one = test::temp_dir("trainer_fp16_one"), two = test::temp_dir("trainer_fp16_two");
  auto fp16_model = [](uint64_t seed) {
    // from_scratch rounds the CLIP weights to fp16 as convert_weights does.
    return models::from_scratch(test::tiny_clip_config(), test::tiny_xclip_config(), seed,
                                models::ClipPrecision::official_fp16);
  };
  auto run = [&](const fs::path& dir, uint64_t seed, int64_t stop_after, bool resume) {
    auto model = fp16_model(seed);
    test::ToySource source(18, 6, 6, 5);
    TrainOptions o = test::quiet_train_options(dir, 2);
    o.stop_after_epoch = stop_after;
    Trainer trainer(*model, source, o);
    REQUIRE(trainer.optimizer().name() == "BertAdamFp16");
    if (resume) trainer.resume(dir);
    trainer.run();
    return model;
  };
  auto a = run(one, 8, -1, false);
  run(two, 8, 0, false);
  run(two, 77, -1, true);
  const auto la = step_losses(read_train_log(one / "train_log.jsonl"));
  REQUIRE(la.size() == 6);
  CHECK(la == step_losses(read_train_log(two / "train_log.jsonl")));
  // The fp16 CLIP weights still hold fp16 values; their moments are saved as f16.
  const Tensor w = a->clip.visual.transformer.resblocks[0]->mlp.c_fc.weight;
  CHECK(w.to_vector<float>() == w.to(DType::f16).to(DType::f32).to_vector<float>());
  const io::NamedTensors opt = io::load_safetensors((checkpoint_dir(one, 1) / "optimizer.safetensors").string());
  CHECK(opt.at("m.clip.visual.transformer.resblocks.0.mlp.c_fc.weight").dtype() == DType::f16);
  CHECK(opt.at("m.global_mat_weight").dtype() == DType::f32);
  CHECK(opt.metadata.at("optimizer") == "BertAdamFp16");
}

TEST_CASE("trainer: --keep_checkpoints keeps the best and the newest N epochs", "[train][trainer][checkpoints]") {
  const fs::path dir = test::temp_dir("trainer_keep");
  auto model = test::tiny_model(6);
  test::ToySource source(12, 6, 6);
  TrainOptions o = test::quiet_train_options(dir, 5);
  o.keep_checkpoints = 1;
  Trainer trainer(*model, source, o);
  const std::vector<double> r1 = {10, 30, 20, 25, 15};
  trainer.set_evaluator([&](int64_t epoch) {
    // When an epoch is evaluated its checkpoint is written and the previous newest is still there.
    CHECK(fs::exists(checkpoint_dir(dir, epoch) / "model.safetensors"));
    if (epoch > 0) CHECK(fs::exists(checkpoint_dir(dir, epoch - 1) / "model.safetensors"));
    RetrievalMetrics m;
    m.r1 = r1[size_t(epoch)];
    return m;
  });
  const TrainSummary s = trainer.run();
  CHECK(s.best_epoch == 1);
  // Epoch 1 is the best (R@1 30), epoch 4 the newest; 0, 2 and 3 are gone, with no leftovers.
  std::set<std::string> left;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory()) left.insert(e.path().filename().string());
  CHECK(left == std::set<std::string>{"best", "checkpoint.1", "checkpoint.4"});
  CHECK(read_loop_state(checkpoint_dir(dir, 1)).global_step == 4);
  const auto removed = events(dir, "removed_checkpoint");
  REQUIRE(removed.size() == 3);
  CHECK(removed[0].at("checkpoint") == checkpoint_dir(dir, 0).string());
  CHECK(removed[2].at("checkpoint") == checkpoint_dir(dir, 3).string());
}

TEST_CASE("trainer: --keep_checkpoints without an evaluator keeps the newest N, and -1 keeps all", "[train][trainer][checkpoints]") {
  const fs::path dir = test::temp_dir("trainer_keep_newest");
  auto model = test::tiny_model(6);
  test::ToySource source(12, 6, 6);
  TrainOptions o = test::quiet_train_options(dir, 4);
  o.keep_checkpoints = 2;
  Trainer(*model, source, o).run();
  for (int e = 0; e < 4; ++e) CHECK(fs::exists(checkpoint_dir(dir, e)) == (e >= 2));
  o.keep_checkpoints = 0;
  CHECK_THROWS_WITH(Trainer(*model, source, o), Catch::Contains("keep_checkpoints must be -1 (all) or >= 1"));
  const fs::path all = test::temp_dir("trainer_keep_all");
  Trainer(*model, source, test::quiet_train_options(all, 3)).run();
  for (int e = 0; e < 3; ++e) CHECK(fs::exists(checkpoint_dir(all, e)));
}

TEST_CASE("trainer: --keep_checkpoints never removes the checkpoint a run resumed from", "[train][trainer][checkpoints][resume]") {
  const fs::path dir = test::temp_dir("trainer_keep_resume");
  test::ToySource source(12, 6, 6);
  TrainOptions o = test::quiet_train_options(dir, 4);
  o.keep_checkpoints = 1;
  o.stop_after_epoch = 0;
  {
    auto model = test::tiny_model(6);
    Trainer(*model, source, o).run();
  }
  REQUIRE(fs::exists(checkpoint_dir(dir, 0)));
  o.stop_after_epoch = -1;
  auto model = test::tiny_model(6);
  Trainer trainer(*model, source, o);
  trainer.resume(dir);
  trainer.run();
  // checkpoint.0: resumed from; checkpoint.3: the newest; 1 and 2 removed.
  for (int e = 0; e < 4; ++e) CHECK(fs::exists(checkpoint_dir(dir, e)) == (e == 0 || e == 3));
}

// The chunked step composes with the rest of the step: gradient accumulation (the 1/gas loss scale),
// the world-size gradient scale and the global clip act on the same .grad, and a run stopped and
// resumed with chunks continues as one that never stopped.
TEST_CASE("trainer: --chunk_clips with accumulation, world-size scale and resume follows the one-graph run",
          "[train][trainer][chunked]") {
  auto run = [](const fs::path& dir, int64_t chunk, bool interrupt) {
    auto options = [&](int64_t stop) {
      TrainOptions o = test::quiet_train_options(dir, 2);
      o.gradient_accumulation_steps = 2;
      o.world_size_grad_scale = 4;
      o.chunk_clips = chunk;
      o.stop_after_epoch = stop;
      return o;
    };
    {
      auto model = test::tiny_model(21);
      train::freeze_clip_layers(*model, 0);
      test::ToySource source(24, 6, 6, 3);
      Trainer(*model, source, options(interrupt ? 0 : -1)).run();
    }
    if (interrupt) {
      auto model = test::tiny_model(999);
      train::freeze_clip_layers(*model, 0);
      test::ToySource source(24, 6, 6, 3);
      Trainer trainer(*model, source, options(-1));
      trainer.resume(dir);
      trainer.run();
    }
    std::vector<double> losses;
    for (const auto& s : events(dir, "step")) losses.push_back(s.at("loss").get<double>());
    return losses;
  };
  const std::vector<double> one = run(test::temp_dir("trainer_chunk_off"), 0, false);
  const std::vector<double> chunked = run(test::temp_dir("trainer_chunk_4"), 4, true);
  REQUIRE(one.size() == 4);  // 2 epochs x 4 batches / gas 2
  REQUIRE(chunked.size() == one.size());
  for (size_t i = 0; i < one.size(); ++i) CHECK(chunked[i] == Approx(one[i]).epsilon(1e-5));
}
