// xclip-cli eval: main_xclip.py --do_eval. Encodes every text and video of a split, builds the
// similarity block by block and prints R@1/5/10, MdR, MnR both ways; JSON and the .npy matrix on
// request (`xclip-cli metrics SIM.npy` then reproduces the numbers).
#include <omp.h>

#include <cstdio>
#include <string>
#include <vector>

#include "../command.hpp"
#include "train_setup.hpp"

namespace xclip::cli {
namespace {

constexpr const char* kUsage =
    "usage: xclip-cli eval --data_path PATH --features_path DIR (--init_model CKPT | --pretrained_clip_name CKPT)\n"
    "                      [--eval_split test|val] [--eval_json OUT.json] [--save_sim SIM.npy] [options]\n"
    "The flags of `xclip-cli train` (see its --help) describe the data and the model; --init_model takes\n"
    "an X-CLIP checkpoint of any kind io/checkpoint.hpp reads, or OUTPUT_DIR/best/model.safetensors (the\n"
    "model_config.json beside it gives the sizes of a model trained from scratch).\n"
    "  --eval_split S     the split to evaluate (default test)\n"
    "  --eval_json FILE   write the metrics as JSON (default OUTPUT_DIR/eval_metrics.json with --output_dir)\n"
    "  --save_sim FILE    write the [texts, videos] similarity as .npy (multi-sentence sets also write\n"
    "                     FILE.caption_video.npy for `xclip-cli metrics FILE --caption_video ...`)\n"
    "  --allow_missing_videos  evaluate without the split's missing or undecodable videos (their pairs\n"
    "                     are left out; the table and JSON count them). Without it they are an error\n"
    "                     listing every one: a smaller test set gives other numbers.\n";

int run_eval(const std::vector<std::string>& argv) {
  TrainFlags f(argv);
  if (f.flag("help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  XCLIP_CHECK(f.positional().empty(), "unexpected argument '", f.positional().at(0), "'\n", kUsage);
  check_supported(f);
  if (f.has("threads")) {
    XCLIP_CHECK(f.get_int("threads", 1) >= 1, "--threads must be >= 1");
    omp_set_num_threads(int(f.get_int("threads", 1)));
  }
  std::filesystem::path json_path;
  if (auto p = f.get("eval_json")) json_path = *p;
  else if (auto out = f.get("output_dir")) json_path = std::filesystem::path(*out) / "eval_metrics.json";
  check_eval_outputs(json_path, f.get("save_sim"));  // before the evaluation, not after it
  auto tokenizer = load_tokenizer(f);
  const data::TextEncoder encoder = data::clip_text_encoder(tokenizer);
  std::unique_ptr<models::RetrievalModel> model = build_model(f);
  move_to_device(f, *model);
  const std::string split = f.get("eval_split", "test");
  const data::Dataset dataset = load_split(f, split);
  const train::EvalResult r = run_evaluation(f, *model, dataset, loader_options(f, *model, split, false), encoder,
                                             format("eval (", split, ")"));
  write_eval_outputs(r.to_json(), r, json_path, f.get("save_sim"));
  if (!json_path.empty()) std::printf("eval: metrics %s\n", json_path.string().c_str());
  return 0;
}

const CommandRegistrar kRegister{
    Command{"eval", "retrieval metrics of a model on a dataset split (main_xclip.py --do_eval)", run_eval}};

}  // namespace
}  // namespace xclip::cli
