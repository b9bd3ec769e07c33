// xclip-cli convert to a torch.save file (pytorch_model.bin.N, what the original X-CLIP code
// torch.loads), run as the built binary on a small X-CLIP saved the way training saves it
// (checkpoint.N/model.safetensors + model_config.json): the file reads back with the model's names
// in its state_dict order and every tensor's shape and bytes; safetensors -> torch -> safetensors
// gives the same tensors; a tensor that is not exactly a parameter of the model is refused and
// nothing is written. The offline half, torch.load + load_state_dict(strict=True) in PyTorch, is
// tools/reference/check_convert.py: XCLIP_KEEP_CONVERT_DIR=DIR copies the first test's checkpoint
// folder and pytorch_model.bin.0 into DIR for it.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <set>

#include "io/io_test_helpers.hpp"
#include "models/small_model_util.hpp"
#include "test_cli_util.hpp"
#include "xclip/io/checkpoint.hpp"
#include "xclip/io/zip.hpp"
#include "xclip/models/build.hpp"

using namespace xclip;
namespace fs = std::filesystem;

namespace {

using Run = test::CliRun;

Run convert(const fs::path& dir, const std::string& args) { return test::run_cli(dir, "convert " + args); }

constexpr auto q = &test::shell_quoted;
constexpr auto files_in = &test::files_besides_output;

// The small test X-CLIP with a 64-token context, so that frame_position_embeddings.weight is
// [64, 16]: the shape once seen written as [16, 64, 1].
models::ClipConfig clip_config() {
  models::ClipConfig c = test::small_clip_config();
  c.text.context_length = 64;
  return c;
}

std::unique_ptr<models::RetrievalModel> small_model() {
  return models::from_scratch(clip_config(), test::small_head_config(), 7);
}

// `dir`/checkpoint.0/ as training writes it: model.safetensors and model_config.json beside it.
fs::path save_checkpoint(const fs::path& dir, const models::RetrievalModel& model) {
  const fs::path folder = dir / "checkpoint.0";
  fs::create_directories(folder);
  model.save((folder / "model.safetensors").string());
  models::save_model_config(models::model_config_beside(folder / "model.safetensors"), clip_config(), model.config());
  return folder / "model.safetensors";
}

// The same tensors with `edit` applied, saved as dir/name/model.safetensors with the same
// model_config.json beside it.
template <class Edit>
fs::path edited_checkpoint(const fs::path& dir, const std::string& name, const fs::path& original, Edit edit) {
  io::NamedTensors t = io::load_safetensors(original.string());
  edit(t);
  fs::create_directories(dir / name);
  io::save_safetensors((dir / name / "model.safetensors").string(), t);
  fs::copy_file(models::model_config_beside(original), dir / name / "model_config.json");
  return dir / name / "model.safetensors";
}

// With XCLIP_KEEP_CONVERT_DIR set, copies `files` of `dir` there (for tools/reference/check_convert.py).
void keep_for_offline_check(const fs::path& dir, const std::vector<std::string>& files) {
  const char* keep = std::getenv("XCLIP_KEEP_CONVERT_DIR");
  if (!keep || !*keep) return;
  fs::create_directories(keep);
  for (const std::string& f : files)
    fs::copy(dir / f, fs::path(keep) / f, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
}

#define REQUIRE_CLI()                                                                                \
  if (!fs::exists(test::cli_path())) XCLIP_SKIP("xclip-cli is not built next to the test binary (" << test::cli_path().string() << ")")

}  // namespace

TEST_CASE("convert: our X-CLIP safetensors -> pytorch_model.bin.0 with the model's names, order, shapes and bytes",
          "[cli][convert][torch]") {
  REQUIRE_CLI();
  const fs::path dir = test::temp_dir("convert_torch");
  const auto model = small_model();
  const fs::path in = save_checkpoint(dir, *model);
  const io::NamedTensors source = io::load_safetensors(in.string());
  const Run r = convert(dir, q(in) + " pytorch_model.bin.0");
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("config:    from " + models::model_config_beside(in).string()));
  CHECK_THAT(r.out, Catch::Contains("checked:   all " + std::to_string(source.size()) + " tensors"));
  CHECK_THAT(r.out, Catch::Contains("wrote pytorch_model.bin.0 (torch.save)"));

  io::CheckpointInfo info;
  const io::NamedTensors back = io::load_torch_checkpoint((dir / "pytorch_model.bin.0").string(), &info);
  CHECK(info.kind == io::CheckpointKind::torch_zip);
  const nn::NamedTensorList params = model->state_dict();
  REQUIRE(back.size() == params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& [name, p] = params[i];
    const auto& [got_name, got] = back.list()[i];
    INFO(name);
    REQUIRE(got_name == name);           // the model's state_dict order, as torch.save(model.state_dict())
    CHECK(got.shape() == p.shape());     // e.g. frame_position_embeddings.weight [64, 16], not [16, 64, 1]
    CHECK(got.dtype() == source.at(name).dtype());
    CHECK(test::bit_equal(got, source.at(name)));
  }
  CHECK(back.at("frame_position_embeddings.weight").shape() == Shape{64, 16});
  // torch.load finds the records under the folder torch itself would have named.
  const io::ZipArchive zip(io::FileBytes::map((dir / "pytorch_model.bin.0").string()));
  for (const io::ZipEntry& e : zip.entries()) CHECK(e.name.starts_with("pytorch_model.bin/"));
  CHECK(files_in(dir) == std::set<std::string>{"checkpoint.0", "pytorch_model.bin.0"});
  keep_for_offline_check(dir, {"checkpoint.0", "pytorch_model.bin.0"});
}

TEST_CASE("convert: without model_config.json the head config is read off the shapes, to the same file",
          "[cli][convert][torch]") {
  REQUIRE_CLI();
  const fs::path dir = test::temp_dir("convert_torch_shapes");
  const auto model = small_model();
  const fs::path in = save_checkpoint(dir, *model);
  REQUIRE(convert(dir, q(in) + " with_config.bin").status == 0);
  fs::copy_file(in, dir / "alone.safetensors");
  // The small CLIP's heads are 8 wide: without the config file the head width is a flag.
  Run r = convert(dir, "alone.safetensors alone.bin");
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("--head_width"));
  r = convert(dir, "alone.safetensors alone.bin --head_width 8");
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("config:    read off the shapes"));
  CHECK_THAT(r.out, Catch::Contains("X-CLIP, head xclip: seqTransf (2 temporal layers), AOSM matrices for 6 words x 3 frames"));
  // The same file as with the config (the archive folder comes from the name: same name, other folder).
  fs::create_directories(dir / "sub");
  REQUIRE(convert(dir, "alone.safetensors sub/with_config.bin --head_width 8").status == 0);
  CHECK(test::read_file((dir / "sub/with_config.bin").string()) == test::read_file((dir / "with_config.bin").string()));
}

TEST_CASE("convert: safetensors -> torch -> safetensors gives the same tensors, byte for byte", "[cli][convert][torch]") {
  REQUIRE_CLI();
  const fs::path dir = test::temp_dir("convert_torch_roundtrip");
  const fs::path in = save_checkpoint(dir, *small_model());
  REQUIRE(convert(dir, q(in) + " direct.safetensors").status == 0);
  REQUIRE(convert(dir, q(in) + " pytorch_model.bin.0").status == 0);
  const Run r = convert(dir, "pytorch_model.bin.0 back.safetensors --head_width 8");
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("kind:      torch_zip"));
  const io::NamedTensors source = io::load_safetensors(in.string()), back = io::load_safetensors((dir / "back.safetensors").string());
  REQUIRE(back.names() == source.names());  // the writer's deterministic layout: same order
  for (const auto& [name, t] : source) {
    INFO(name);
    CHECK(back.at(name).shape() == t.shape());
    CHECK(test::bit_equal(back.at(name), t));
  }
  // Whole files too: the same tensors give the same safetensors whichever way they came.
  CHECK(test::read_file((dir / "back.safetensors").string()) == test::read_file((dir / "direct.safetensors").string()));
}

TEST_CASE("convert: a tensor that is not exactly a parameter of the model is refused, nothing written",
          "[cli][convert][torch]") {
  REQUIRE_CLI();
  const fs::path dir = test::temp_dir("convert_torch_refused");
  const fs::path good = save_checkpoint(dir, *small_model());
  // The observed bug's shape: [64, 16] stored as [16, 64, 1].
  const fs::path reshaped = edited_checkpoint(dir, "reshaped", good, [](io::NamedTensors& t) {
    t.set("frame_position_embeddings.weight", t.at("frame_position_embeddings.weight").view(Shape{16, 64, 1}));
  });
  const fs::path matrix = edited_checkpoint(dir, "matrix", good, [](io::NamedTensors& t) {
    t.set("word_logit_weight", Tensor::zeros(Shape{6, 5}));
  });
  const fs::path unknown = edited_checkpoint(dir, "unknown", good, [](io::NamedTensors& t) {
    t.add("extra_head.weight", Tensor::zeros(Shape{4}));
  });
  const fs::path missing = edited_checkpoint(dir, "missing", good, [](io::NamedTensors& t) {
    t.erase("transformerClip.resblocks.1.mlp.c_fc.bias");
  });
  const std::vector<std::pair<fs::path, std::vector<std::string>>> cases = {
      {reshaped, {"frame_position_embeddings.weight ([16, 64, 1]; the model's is [64, 16])"}},
      {matrix, {"word_logit_weight ([6, 5]; the model's is [6, 6])"}},
      {unknown, {"not a parameter of the model: extra_head.weight"}},
      {missing, {"missing: transformerClip.resblocks.1.mlp.c_fc.bias"}}};
  const fs::path out_dir = dir / "out";
  fs::create_directories(out_dir);
  std::ofstream(out_dir / "pytorch_model.bin.1") << "previous result";
  for (const auto& [in, why] : cases) {
    INFO(in.string());
    for (const std::string extra : {"", " --head_width 8 --format torch"}) {
      // With model_config.json beside IN, and read off the shapes (the config moved away).
      const fs::path config = models::model_config_beside(in);
      if (!extra.empty()) fs::rename(config, dir / "config.moved");
      const Run r = convert(out_dir, q(in) + " pytorch_model.bin.1" + extra);
      if (!extra.empty()) fs::rename(dir / "config.moved", config);
      INFO(r.out << r.err);
      CHECK(r.status == 1);
      CHECK_THAT(r.err, Catch::Contains(in.string()));
      for (const std::string& w : why) CHECK_THAT(r.err, Catch::Contains(w));
      CHECK_THAT(r.err, Catch::Contains("nothing written"));
      CHECK(test::read_file((out_dir / "pytorch_model.bin.1").string()) == "previous result");
      CHECK(files_in(out_dir) == std::set<std::string>{"pytorch_model.bin.1"});
    }
  }
  // A safetensors output is checked too when model_config.json says what the model is.
  const Run r = convert(out_dir, q(reshaped) + " out.safetensors");
  CHECK(r.status == 1);
  CHECK(files_in(out_dir) == std::set<std::string>{"pytorch_model.bin.1"});
}

TEST_CASE("convert: OUT's name or --format chooses the output format", "[cli][convert][torch]") {
  REQUIRE_CLI();
  const fs::path dir = test::temp_dir("convert_format");
  const fs::path in = save_checkpoint(dir, *small_model());
  const std::vector<std::pair<std::string, io::CheckpointKind>> cases = {
      {"a.pt", io::CheckpointKind::torch_zip},
      {"a.pth", io::CheckpointKind::torch_zip},
      {"a.bin", io::CheckpointKind::torch_zip},
      {"pytorch_model.bin.4", io::CheckpointKind::torch_zip},
      {"a.safetensors", io::CheckpointKind::safetensors},
      {"b.bin --format safetensors", io::CheckpointKind::safetensors},
      {"b.safetensors --format=torch", io::CheckpointKind::torch_zip}};
  for (const auto& [args, kind] : cases) {
    INFO(args);
    const Run r = convert(dir, q(in) + " " + args);
    INFO(r.out << r.err);
    REQUIRE(r.status == 0);
    CHECK(io::detect_checkpoint_kind((dir / args.substr(0, args.find(' '))).string()) == kind);
  }
  Run r = convert(dir, q(in) + " c.bin --format pickle");
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("--format must be safetensors or torch"));
  // --dry_run with --format torch runs the model check and writes nothing.
  const auto before = files_in(dir);
  r = convert(dir, q(in) + " --dry_run --format torch");
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("checked:   all"));
  CHECK(files_in(dir) == before);
}

TEST_CASE("convert: a CLIP checkpoint to torch.save lists its tensors in PyTorch's state_dict order",
          "[cli][convert][torch]") {
  REQUIRE_CLI();
  const fs::path dir = test::temp_dir("convert_torch_clip");
  const auto expected = io::read_json_file(test::io_fixture("tiny_clip.expected.json"), "expected values");
  const auto eager_keys = expected["eager_keys"].get<std::vector<std::string>>();  // model.state_dict() order
  const io::NamedTensors original = io::load_any_checkpoint(test::io_fixture("tiny_clip.state_dict.pt"));
  for (const std::string file : {"tiny_clip.traced.pt", "tiny_clip.hf.safetensors"}) {
    INFO(file);
    const Run r = convert(dir, q(test::io_fixture(file)) + " clip.pt --head_width 16");
    INFO(r.out << r.err);
    REQUIRE(r.status == 0);
    CHECK_THAT(r.out, Catch::Contains("checked:   all 62 tensors are the parameters of CLIP"));
    const io::NamedTensors back = io::load_torch_checkpoint((dir / "clip.pt").string());
    CHECK(back.names() == eager_keys);
    for (const auto& [name, t] : back) CHECK(test::bit_equal(t, original.at(name)));
  }
}
