// The demo's path through the built xclip-cli, shortened to about a minute: synth -> extract ->
// train (a small X-CLIP from scratch) -> eval -> metrics; plus resume, --bf16 and the error messages.
// The binaries are found beside this test (the build folder).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "test_cli_util.hpp"
#include "test_util.hpp"
#include "xclip/core/device_memory.hpp"
#include "xclip/io/json_file.hpp"
#include "xclip/train/train_log.hpp"

using namespace xclip;
namespace fs = std::filesystem;

namespace {

using Run = test::CliRun;
using test::bpe_flag;
using test::run_cli;

// A small synthetic dataset with frame caches of both splits (made once per test binary run).
fs::path dataset() {
  static const fs::path dir = [] {
    const fs::path d = test::temp_dir("e2e_data");
    Run s = run_cli(d, "synth --out data --train 240 --test 40 --size 32 --captions 3 --threads 2");
    INFO(s.err);
    REQUIRE(s.status == 0);
    for (const char* split : {"train", "test"}) {
      Run e = run_cli(d, std::string("extract --datatype msrvtt --data_path data --features_path data/videos") +
                             " --split " + split + " --out cache/" + split +
                             " --max_frames 8 --slice_framepos 2 --size 32 --threads 2");
      INFO(e.err);
      REQUIRE(e.status == 0);
    }
    return d;
  }();
  return dir;
}

// The flags of a small from-scratch X-CLIP on `dataset()`.
std::string train_flags(const fs::path& data, const std::string& out, int epochs) {
  return "--init random --data_path '" + (data / "data").string() + "' --features_path '" +
         (data / "data/videos").string() + "' --frame_cache '" + (data / "cache").string() + "' --output_dir " + out +
         " --epochs " + std::to_string(epochs) +
         " --batch_size 24 --batch_size_val 20 --max_words 16 --max_frames 8 --slice_framepos 2"
         " --expand_msrvtt_sentences --lr 2e-3 --coef_lr 1 --freeze_layer_num -1 --cross_num_hidden_layers 1"
         " --vision_width 32 --text_width 32 --embed_dim 32 --head_width 16 --n_display 0" +
         bpe_flag();
}

// The mean loss of every epoch of a run's train_log.jsonl.
std::vector<double> epoch_losses(const fs::path& output_dir) {
  std::vector<double> out;
  for (const auto& r : train::read_train_log(output_dir / "train_log.jsonl"))
    if (r.at("event") == "epoch") out.push_back(r.at("mean_loss").get<double>());
  return out;
}

}  // namespace

TEST_CASE("e2e: synth, extract, train from scratch, eval and metrics agree", "[e2e][train]") {
  const fs::path data = dataset();
  const fs::path dir = test::temp_dir("e2e_train");
  Run t = run_cli(dir, "train " + train_flags(data, "out", 4) + " --save_sim test_sim.npy");
  INFO(t.out << t.err);
  REQUIRE(t.status == 0);
  CHECK_THAT(t.out, Catch::Contains("text-to-video") && Catch::Contains("best epoch"));

  // The loss falls: the last epoch's mean below the first's.
  const std::vector<double> epoch_loss = epoch_losses(dir / "out");
  REQUIRE(epoch_loss.size() == 4);
  CHECK(epoch_loss.back() < epoch_loss.front() - 0.5);

  // Better than chance (2.5% R@1 on 40 videos) by a wide margin.
  const nlohmann::json test = io::read_json_file(dir / "out/test_metrics.json", "metrics");
  const double r1 = test.at("text_to_video").at("R1").get<double>();
  CHECK(r1 >= 15.0);
  CHECK(test.at("text_to_video").at("R10").get<double>() >= 50.0);

  // eval of the best checkpoint reproduces the test numbers; metrics reproduces them from the .npy.
  Run e = run_cli(dir, "eval --init_model out/best/model.safetensors --data_path '" + (data / "data").string() +
                       "' --features_path '" + (data / "data/videos").string() + "' --frame_cache '" +
                       (data / "cache").string() + "' --slice_framepos 2 --batch_size_val 7 --eval_json eval.json"
                       " --save_sim sim.npy" + bpe_flag());
  INFO(e.out << e.err);
  REQUIRE(e.status == 0);
  const nlohmann::json ev = io::read_json_file(dir / "eval.json", "metrics");
  CHECK(ev.at("text_to_video").at("R1").get<double>() == Approx(r1));
  CHECK(ev.at("video_to_text").at("R1").get<double>() == Approx(test.at("video_to_text").at("R1").get<double>()));
  Run m = run_cli(dir, "metrics sim.npy --json metrics.json");
  REQUIRE(m.status == 0);
  CHECK(io::read_json_file(dir / "metrics.json", "metrics").at("text_to_video").at("R1").get<double>() == Approx(r1));
  Run c = run_cli(dir, "compare X-CLIP=out/test_metrics.json again=metrics.json");
  REQUIRE(c.status == 0);
  CHECK_THAT(c.out, Catch::Contains("X-CLIP") && Catch::Contains("again") && Catch::Contains("video-to-text"));
}

TEST_CASE("e2e: train --stop_after_epoch + --resume_model equals one run, whatever the reader threads", "[e2e][resume]") {
  const fs::path data = dataset();
  const fs::path dir = test::temp_dir("e2e_resume");
  Run a = run_cli(dir, "train " + train_flags(data, "one", 2) + " --num_thread_reader 1");
  INFO(a.err);
  REQUIRE(a.status == 0);
  Run b = run_cli(dir, "train " + train_flags(data, "two", 2) + " --num_thread_reader 3 --stop_after_epoch 0");
  INFO(b.err);
  REQUIRE(b.status == 0);
  CHECK_THAT(b.out, Catch::Contains("--resume_model"));
  CHECK_FALSE(fs::exists(dir / "two/checkpoint.1"));
  Run c = run_cli(dir, "train " + train_flags(data, "two", 2) + " --num_thread_reader 2 --resume_model two");
  INFO(c.out << c.err);
  REQUIRE(c.status == 0);
  const auto la = train::step_losses(train::read_train_log(dir / "one/train_log.jsonl"));
  const auto lb = train::step_losses(train::read_train_log(dir / "two/train_log.jsonl"));
  REQUIRE(la.size() == 60);  // 720 samples / 24 per batch · 2 epochs
  CHECK(la == lb);
}

TEST_CASE("e2e: bad flags and missing files are clear errors", "[e2e][errors]") {
  const fs::path data = dataset();
  const fs::path dir = test::temp_dir("e2e_errors");
  const std::string base = train_flags(data, "out", 1);
  Run r = run_cli(dir, "train " + base + " --no_such_flag 3");
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("unknown flag --no_such_flag"));
  r = run_cli(dir, "train --init random --data_path nowhere.json --features_path . --output_dir out" + bpe_flag());
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("nowhere.json"));
  if (!cuda_available()) {  // with a GPU this trains there (tests/cuda covers it)
    r = run_cli(dir, "train " + base + " --device cuda");
    CHECK(r.status == 1);
    CHECK_THAT(r.err, Catch::Contains("--device cuda"));
  }
  r = run_cli(dir, "train " + base + " --device tpu");
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("--device must be cpu or cuda"));
  r = run_cli(dir, "train " + base + " --epochs two");
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("--epochs expects an integer"));
  r = run_cli(dir, "train " + base + " --resume_model missing_dir");
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("missing_dir"));
  r = run_cli(dir, "eval --data_path '" + (data / "data").string() +
                       "' --features_path . --init_model absent.safetensors" + bpe_flag());
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("absent.safetensors"));
  std::ofstream(dir / "bad.json") << "{\"epochs\": 2, \"no_such_key\": 1}";
  r = run_cli(dir, "train " + base + " --config bad.json");
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("unknown key 'no_such_key'"));
  std::ofstream(dir / "good.json") << "{\"epochs\": \"x\"}";
  r = run_cli(dir, "train " + base + " --config good.json --epochs 1");  // the command line wins
  CHECK(r.status == 0);
}

TEST_CASE("e2e: --bf16 trains and evaluates in bf16 autocast, it excludes --official_fp16", "[e2e][autocast]") {
  const fs::path data = dataset();
  const fs::path dir = test::temp_dir("e2e_bf16");
  Run t = run_cli(dir, "train " + train_flags(data, "out", 2) + " --bf16");
  INFO(t.out << t.err);
  REQUIRE(t.status == 0);
  const std::vector<double> epoch_loss = epoch_losses(dir / "out");
  REQUIRE(epoch_loss.size() == 2);
  CHECK(epoch_loss.back() < epoch_loss.front());
  // eval in the same precision reproduces the training run's test numbers.
  const double r1 =
      io::read_json_file(dir / "out/test_metrics.json", "metrics").at("text_to_video").at("R1").get<double>();
  Run e = run_cli(dir, "eval --bf16 --init_model out/best/model.safetensors --data_path '" + (data / "data").string() +
                       "' --features_path '" + (data / "data/videos").string() + "' --frame_cache '" +
                       (data / "cache").string() + "' --slice_framepos 2 --eval_json eval.json" + bpe_flag());
  INFO(e.out << e.err);
  REQUIRE(e.status == 0);
  CHECK(io::read_json_file(dir / "eval.json", "metrics").at("text_to_video").at("R1").get<double>() == Approx(r1));
  Run both = run_cli(dir, "train " + train_flags(data, "both", 1) + " --bf16 --official_fp16");
  CHECK(both.status == 1);
  CHECK_THAT(both.err, Catch::Contains("--official_fp16 and --bf16"));
}

TEST_CASE("e2e: --chunk_clips gives the one-graph run's step losses", "[e2e][chunked]") {
  const fs::path data = dataset();
  const fs::path dir = test::temp_dir("e2e_chunked");
  {  // 24 training videos x 3 captions = 72 samples: three steps of 24
    std::ofstream csv(dir / "train24.csv");
    csv << "video_id\n";
    for (int v = 0; v < 24; ++v) csv << "video" << v << "\n";
  }
  auto flags = [&](const std::string& out) {
    return train_flags(data, out, 1) + " --train_csv train24.csv --freeze_layer_num 0";
  };
  Run one = run_cli(dir, "train " + flags("one"));
  INFO(one.err);
  REQUIRE(one.status == 0);
  Run chunked = run_cli(dir, "train " + flags("chunked") + " --chunk_clips 5");
  INFO(chunked.err);
  REQUIRE(chunked.status == 0);
  CHECK_THAT(chunked.out, Catch::Contains("chunked step, the towers' graphs for 5 clips at a time"));
  Run automatic = run_cli(dir, "train " + flags("auto") + " --chunk_clips auto");
  INFO(automatic.err);
  REQUIRE(automatic.status == 0);
  CHECK_THAT(automatic.out, Catch::Contains("--chunk_clips auto: one graph for the batch of 24"));
  const auto a = train::step_losses(train::read_train_log(dir / "one/train_log.jsonl"));
  const auto b = train::step_losses(train::read_train_log(dir / "chunked/train_log.jsonl"));
  const auto c = train::step_losses(train::read_train_log(dir / "auto/train_log.jsonl"));
  REQUIRE(a.size() == 3);
  REQUIRE(b.size() == 3);
  REQUIRE(c == a);  // auto chose one graph here: the same computation
  for (size_t i = 0; i < a.size(); ++i) CHECK(b[i] == Approx(a[i]).epsilon(1e-5));
  Run bad = run_cli(dir, "train " + flags("bad") + " --chunk_clips -2");
  CHECK(bad.status != 0);
  CHECK_THAT(bad.err, Catch::Contains("--chunk_clips must be"));
}

TEST_CASE("e2e: train --help lists the defaults that differ from the official scripts", "[e2e][help]") {
  const fs::path dir = test::temp_dir("e2e_help");
  const Run r = run_cli(dir, "train --help");
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("Defaults that differ from the official run"));
  for (const char* line : {"--epochs 20 (5)", "--batch_size 256 (300)", "--coef_lr 1.0 (1e-3)", "--slice_framepos 0 (2)",
                           "--n_display 100 (10)", "--num_thread_reader 1 (8)", "--expand_msrvtt_sentences off (on)",
                           "--official_fp16", "--world_size_grad_scale 1", "--batch_size_val 40 (3500)"})
    CHECK_THAT(r.out, Catch::Contains(line));
}

namespace {

std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// What a failed run must leave untouched: the complete checkpoint's files, byte for byte.
std::map<std::string, std::string> checkpoint_files(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) files[e.path().filename().string()] = file_bytes(e.path());
  return files;
}

}  // namespace

// Faults while writing: a file size limit (ulimit -f, 2 MiB: the tiny model's checkpoint is larger)
// stands in for a full disk. With SIGXFSZ ignored the write fails with EFBIG, as with ENOSPC; with
// its default action the process is killed in the middle of writing the checkpoint. Then a
// read-only output folder. Each must leave the last complete checkpoint as it was, and a plain
// resume afterwards must give the uninterrupted run's losses and bit-identical weights.
TEST_CASE("e2e: a full disk, a kill while writing a checkpoint and a read-only output lose nothing", "[e2e][faults]") {
  const fs::path data = dataset();
  const fs::path dir = test::temp_dir("e2e_faults");
  Run full = run_cli(dir, "train " + train_flags(data, "full", 2));
  INFO(full.err);
  REQUIRE(full.status == 0);
  Run first = run_cli(dir, "train " + train_flags(data, "cut", 2) + " --stop_after_epoch 0");
  INFO(first.err);
  REQUIRE(first.status == 0);
  const auto complete = checkpoint_files(dir / "cut/checkpoint.0");
  REQUIRE(complete.count("model.safetensors"));
  REQUIRE(complete.at("model.safetensors").size() > (2u << 20));
  const std::string resume = "train " + train_flags(data, "cut", 2) + " --resume_model cut";

  Run disk_full = run_cli(dir, resume, "ulimit -f 2048; trap '' XFSZ; ");
  INFO(disk_full.out << disk_full.err);
  CHECK(disk_full.status == 1);
  CHECK_THAT(disk_full.err, Catch::Contains("File too large") && Catch::Contains("checkpoint.1"));
  CHECK(checkpoint_files(dir / "cut/checkpoint.0") == complete);
  CHECK_FALSE(fs::exists(dir / "cut/checkpoint.1"));

  Run killed = run_cli(dir, resume, "ulimit -f 2048; ");
  INFO(killed.out << killed.err);
  CHECK(killed.status != 0);
  CHECK(killed.status != 1);  // killed by SIGXFSZ, not a handled error
  CHECK(checkpoint_files(dir / "cut/checkpoint.0") == complete);
  CHECK_FALSE(fs::exists(dir / "cut/checkpoint.1"));

  // Read-only: for root a folder's mode is no obstacle, so the run drops to user nobody first
  // (where nobody cannot reach the binary, that part is skipped with a warning).
  fs::permissions(dir / "cut", fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write,
                  fs::perm_options::remove);
  const std::string as_nobody = ::geteuid() == 0 ? "setpriv --reuid=65534 --regid=65534 --clear-groups " : "";
  fs::permissions(dir, fs::perms::others_read | fs::perms::others_exec, fs::perm_options::add);  // its working folder
  const std::string can_run = as_nobody + "test -x " + test::shell_quoted(test::cli_path()) + " > /dev/null 2>&1";
  if (as_nobody.empty() || std::system(can_run.c_str()) == 0) {
    Run read_only = run_cli(dir, resume, "", as_nobody);
    INFO(read_only.out << read_only.err);
    CHECK(read_only.status == 1);
    CHECK_THAT(read_only.err, Catch::Contains("cut") && Catch::Contains("Permission denied"));
    CHECK(checkpoint_files(dir / "cut/checkpoint.0") == complete);
  } else {
    WARN("user nobody cannot run " << test::cli_path() << ": the read-only output case is not run here");
  }
  fs::permissions(dir / "cut", fs::perms::owner_write, fs::perm_options::add);

  Run resumed = run_cli(dir, resume);
  INFO(resumed.out << resumed.err);
  REQUIRE(resumed.status == 0);
  const auto la = train::step_losses(train::read_train_log(dir / "full/train_log.jsonl"));
  const auto lb = train::step_losses(train::read_train_log(dir / "cut/train_log.jsonl"));
  REQUIRE(la.size() == 60);
  CHECK(la == lb);
  CHECK(file_bytes(dir / "cut/checkpoint.1/model.safetensors") == file_bytes(dir / "full/checkpoint.1/model.safetensors"));
}

TEST_CASE("e2e: the ea_clip4clip head trains on the synthetic data and beats chance", "[e2e][train][ea_clip4clip]") {
  const fs::path data = dataset();
  // The EA-CLIP4Clip README's configurations (data/configs), 3 epochs each; the tight type as on
  // 2 GPUs (each batch contrasted as two slices, as each rank contrasts its own clips).
  for (const char* name : {"ea_clip4clip_meanP_exc_agg", "ea_clip4clip_seqTransf_agg", "ea_clip4clip_seqLSTM_agg",
                           "ea_clip4clip_tightTransf_exc"}) {
    DYNAMIC_SECTION(name) {
      const fs::path dir = test::temp_dir(std::string("e2e_") + name);
      const fs::path config = test::source_root() / "data/configs" / (std::string(name) + ".json");
      const std::string ranks = std::string(name).ends_with("tightTransf_exc") ? " --world_size_grad_scale 2" : "";
      Run t = run_cli(dir, "train " + train_flags(data, "out", 3) + " --model_config '" + config.string() + "'" + ranks);
      INFO(t.out << t.err);
      REQUIRE(t.status == 0);
      const nlohmann::json saved = io::read_json_file(dir / "out/best/model_config.json", "model_config");
      INFO(saved.dump());
      CHECK(saved.dump().find("ea_clip4clip") != std::string::npos);
      const std::vector<double> epoch_loss = epoch_losses(dir / "out");
      REQUIRE(epoch_loss.size() == 3);
      CHECK(epoch_loss.back() < epoch_loss.front());
      // Chance is 2.5% R@1, 25% R@10 and a median rank of 20.5 on the 40 test videos. The tight
      // type learns much more slowly from a CLIP trained from scratch (a pair's logit is the cross
      // encoder's, with no dot product of the two towers to start from): in 3 epochs it splits the
      // videos into groups (R@10 ~50, median rank ~10) but does not yet reach the loose heads' R@1.
      const nlohmann::json test = io::read_json_file(dir / "out/test_metrics.json", "metrics");
      INFO(test.dump());
      const nlohmann::json& t2v = test.at("text_to_video");
      if (ranks.empty()) CHECK(t2v.at("R1").get<double>() >= 10.0);
      else CHECK(t2v.at("MR").get<double>() <= 15.0);
      CHECK(t2v.at("R10").get<double>() >= 40.0);
    }
  }
}
