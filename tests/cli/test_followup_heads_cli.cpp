// The follow-up heads through the built xclip-cli: `train --config data/configs/<file>.json` with
// the original scripts' flags (main_tcmgc.py's store_true flags given bare, as its README does),
// what the saved model config records, and eval of the result.
#include <catch2/catch.hpp>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "test_cli_util.hpp"
#include "test_util.hpp"
#include "xclip/io/json_file.hpp"

using namespace xclip;
namespace fs = std::filesystem;
using test::run_cli;

namespace {

// One epoch of `train` with these extra flags; returns the saved model config.
nlohmann::json train_one_epoch(const fs::path& dir, const std::string& out, const std::string& flags) {
  const test::CliRun t = run_cli(dir, "train" + test::kTinyModelFlags + " --output_dir " + out +
                                          " --batch_size 6 --n_display 0 --epochs 1" + flags);
  INFO(t.out << t.err);
  REQUIRE(t.status == 0);
  return io::read_json_file(dir / out / "checkpoint.0/model_config.json", "model config");
}

const nlohmann::json& head_of(const nlohmann::json& model_config) {
  return model_config.contains("head") && model_config.at("head").is_object() ? model_config.at("head") : model_config;
}

}  // namespace

TEST_CASE("cli: TC-MGC trains from --config data/configs/tc_mgc_msrvtt.json with its bare yes/no flags",
          "[cli][tc_mgc]") {
  const fs::path dir = test::synth_dataset("cli_tc_mgc");
  const std::string config = " --config " + test::shell_quoted(test::source_root() / "data/configs/tc_mgc_msrvtt.json");
  // max_words 8 · keep_rate 0.375 = 3 kept positions (the file's 0.1 is for 32 words).
  const nlohmann::json on =
      head_of(train_one_epoch(dir, "on", config + " --keep_rate 0.375 --conditional_flag --sdr_loss_flag"));
  INFO(on.dump());
  CHECK(on.dump().find("tc_mgc") != std::string::npos);
  CHECK(on.dump().find("\"sdr_loss_flag\":true") != std::string::npos);
  CHECK(on.dump().find("\"keep_rate\":0.375") != std::string::npos);

  const nlohmann::json off = head_of(train_one_epoch(dir, "off", config + " --keep_rate 0.375 --sdr_loss_flag=false"));
  CHECK(off.dump().find("\"sdr_loss_flag\":false") != std::string::npos);

  // eval rebuilds the head from the model_config.json beside the weights.
  const test::CliRun e = run_cli(dir, "eval --data_path data --features_path data/videos --max_words 8 --max_frames 2"
                                      " --batch_size_val 4 --init_model on/best/model.safetensors");
  INFO(e.out << e.err);
  CHECK(e.status == 0);
  CHECK_THAT(e.out, Catch::Contains("R@1"));

  const test::CliRun bad = run_cli(dir, "train" + test::kTinyModelFlags + config + " --output_dir bad --epochs 1");
  CHECK(bad.status == 1);  // keep_rate 0.1 of 8 words keeps no position
  CHECK_THAT(bad.err, Catch::Contains("keep_rate"));
}
