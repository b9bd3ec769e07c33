// xclip-cli convert, run as the built binary: every checkpoint kind of the tiny CLIP (TorchScript
// traced / scripted, torch.save, Hugging Face safetensors) and a tiny X-CLIP torch.save converts to
// safetensors whose tensors are bit-exact with the originals (checked against CRC-32s written by
// PyTorch); --dtype casts; damaged, truncated or foreign inputs fail with the file named and leave
// no output (nor touch an existing one).
#include <catch2/catch.hpp>

#include <filesystem>
#include <set>

#include "io/io_test_helpers.hpp"
#include "test_cli_util.hpp"
#include "xclip/io/checkpoint.hpp"
#include "xclip/io/zip.hpp"

using namespace xclip;
namespace fs = std::filesystem;

namespace {

using Run = test::CliRun;
using test::cli_path;

// Runs `xclip-cli convert ARGS` with stdout and stderr captured in `dir`.
Run convert(const fs::path& dir, const std::string& args) { return test::run_cli(dir, "convert " + args); }

constexpr auto q = &test::shell_quoted;
constexpr auto files_in = &test::files_besides_output;

void write_bytes(const fs::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

std::vector<std::string> json_strings(const nlohmann::json& j) { return j.get<std::vector<std::string>>(); }

#define REQUIRE_CLI()                                                                                \
  if (!fs::exists(cli_path())) XCLIP_SKIP("xclip-cli is not built next to the test binary (" << cli_path().string() << ")")

}  // namespace

TEST_CASE("convert: every kind of one CLIP gives the same safetensors, bit-exact with the original", "[cli][convert]") {
  REQUIRE_CLI();
  const fs::path dir = test::temp_dir("convert_kinds");
  const auto expected = io::read_json_file(test::io_fixture("tiny_clip.expected.json"), "expected values");
  const auto eager_keys = json_strings(expected["eager_keys"]);
  const io::NamedTensors original = io::load_any_checkpoint(test::io_fixture("tiny_clip.state_dict.pt"));
  const std::vector<std::pair<std::string, std::string>> kinds = {{"tiny_clip.traced.pt", "torchscript"},
                                                                  {"tiny_clip.scripted.pt", "torchscript"},
                                                                  {"tiny_clip.state_dict.pt", "torch_zip"},
                                                                  {"tiny_clip.hf.safetensors", "hf_clip_safetensors"}};
  std::string first_bytes;
  for (const auto& [file, kind] : kinds) {
    INFO(file);
    const fs::path out = dir / (file + ".safetensors");
    const Run r = convert(dir, q(test::io_fixture(file)) + " " + q(out) + " --head_width 16");
    INFO(r.out << r.err);
    REQUIRE(r.status == 0);
    CHECK_THAT(r.out, Catch::Contains("kind:      " + kind));
    CHECK_THAT(r.out, Catch::Contains("vision:    ViT width 32, 2 layers, 2 heads, patch 8, 32 px (17 tokens)"));
    CHECK_THAT(r.out, Catch::Contains("text:      width 32, 2 layers, 2 heads, context 16, vocab 320"));
    CHECK_THAT(r.out, Catch::Contains("embed dim: 32"));
    CHECK_THAT(r.out, Catch::Contains("X-CLIP:    no"));
    CHECK_THAT(r.out, Catch::Contains("f16 x 35"));
    CHECK((r.out.find("dropped:   3 OpenAI") != std::string::npos) == (kind == "torchscript"));

    const io::NamedTensors converted = io::load_safetensors(out.string());
    const auto names = converted.names();
    CHECK(std::set<std::string>(names.begin(), names.end()) == std::set<std::string>(eager_keys.begin(), eager_keys.end()));
    for (const auto& [name, t] : converted) {
      test::check_record(name, t, expected["tensors"][name]);  // the bytes PyTorch wrote
      CHECK(test::bit_equal(t, original.at(name)));
    }
    CHECK(converted.metadata.at("format") == "pt");
    // One state, one file: the writer's layout does not depend on where the tensors came from.
    const std::string bytes = test::read_file(out.string());
    if (first_bytes.empty()) first_bytes = bytes;
    CHECK(bytes == first_bytes);
  }
}

TEST_CASE("convert: an X-CLIP state keeps its official names (clip. prefix, matrices, temporal encoder)",
          "[cli][convert]") {
  REQUIRE_CLI();
  const fs::path dir = test::temp_dir("convert_xclip");
  const fs::path in = test::source_root() / "tests/fixtures/cli/xclip_tiny.pytorch_model.bin";
  const auto expected =
      io::read_json_file(test::source_root() / "tests/fixtures/cli/xclip_tiny.expected.json", "expected values");
  const Run r = convert(dir, q(in) + " " + q(dir / "xclip.safetensors") + " --head_width 8");
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("kind:      torch_zip"));
  CHECK_THAT(r.out, Catch::Contains("CLIP:      under 'clip.'"));
  CHECK_THAT(r.out, Catch::Contains("vision:    ViT width 16, 1 layers, 2 heads, patch 8, 16 px (5 tokens)"));
  CHECK_THAT(r.out, Catch::Contains("text:      width 16, 2 layers, 2 heads, context 12, vocab 50"));
  CHECK_THAT(r.out, Catch::Contains("X-CLIP:    temporal encoder 2 layers (transformerClip), "
                                    "frame_position_embeddings yes, matrices 8/8"));
  CHECK_THAT(r.out, Catch::Contains("tensors:   83,"));
  const io::NamedTensors converted = io::load_safetensors((dir / "xclip.safetensors").string());
  const auto keys = json_strings(expected["keys"]);
  const auto names = converted.names();
  CHECK(std::set<std::string>(names.begin(), names.end()) == std::set<std::string>(keys.begin(), keys.end()));
  for (const auto& [name, t] : converted) test::check_record(name, t, expected["tensors"][name]);
}

TEST_CASE("convert: --dtype casts floating tensors, f16 -> f32 -> f16 gives the stored bytes back", "[cli][convert]") {
  REQUIRE_CLI();
  const fs::path dir = test::temp_dir("convert_dtype");
  const fs::path in = test::source_root() / "tests/fixtures/cli/xclip_tiny.pytorch_model.bin";
  const io::NamedTensors original = io::load_any_checkpoint(in.string());
  Run r = convert(dir, q(in) + " " + q(dir / "f32.safetensors") + " --dtype f32 --head_width 8");
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("cast:      27 floating tensors to f32"));
  const io::NamedTensors f32 = io::load_safetensors((dir / "f32.safetensors").string());
  REQUIRE(f32.size() == original.size());
  for (const auto& [name, t] : original) {
    INFO(name);
    CHECK(f32.at(name).dtype() == DType::f32);
    CHECK(test::bit_equal(f32.at(name), t.to(DType::f32)));  // widening is exact
  }
  r = convert(dir, q(dir / "f32.safetensors") + " " + q(dir / "f16.safetensors") + " --dtype=f16 --head_width 8");
  REQUIRE(r.status == 0);
  const io::NamedTensors f16 = io::load_safetensors((dir / "f16.safetensors").string());
  for (const auto& [name, t] : original) {
    INFO(name);
    CHECK(f16.at(name).dtype() == DType::f16);
    if (t.dtype() == DType::f16) CHECK(test::bit_equal(f16.at(name), t));
  }
  r = convert(dir, q(in) + " " + q(dir / "bad.safetensors") + " --dtype bf16 --head_width 8");
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("--dtype must be f32 or f16"));
}

TEST_CASE("convert: damaged, truncated and foreign inputs fail naming the file, leaving no output", "[cli][convert]") {
  REQUIRE_CLI();
  const fs::path dir = test::temp_dir("convert_errors");
  const auto state_dict = test::read_bytes(test::io_fixture("tiny_clip.state_dict.pt"));
  const auto hf = test::read_bytes(test::io_fixture("tiny_clip.hf.safetensors"));

  // A flipped byte inside a tensor's stored record: only a CRC-32 check can see it.
  auto flipped = state_dict;
  {
    const io::ZipArchive zip(io::FileBytes::from_buffer(state_dict, "original"));
    const io::ZipEntry* data = nullptr;
    for (const auto& e : zip.entries())
      if (e.name.find("/data/") != std::string::npos && e.size > 64) data = &e;
    REQUIRE(data != nullptr);
    flipped[data->data_offset + data->size / 2] ^= 0x40;
  }
  auto bad_header = hf;
  bad_header[12] = '!';  // inside the JSON header
  const std::vector<std::pair<std::string, std::vector<uint8_t>>> inputs = {
      {"truncated.pt", std::vector<uint8_t>(state_dict.begin(), state_dict.begin() + state_dict.size() / 2)},
      {"truncated.safetensors", std::vector<uint8_t>(hf.begin(), hf.begin() + hf.size() - 1000)},
      {"flipped.pt", flipped},
      {"bad_header.safetensors", bad_header},
      {"empty.pt", {}},
      {"pickle.pkl", test::read_bytes(test::io_fixture("pickle_p2.pkl"))},    // not a checkpoint
      {"views.pt", test::read_bytes(test::io_fixture("views.pt"))},           // a checkpoint without CLIP
  };
  const std::vector<std::string> why = {"truncated", "truncated", "CRC-32", "", "", "not a checkpoint", "no CLIP weights"};
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto& [name, bytes] = inputs[i];
    INFO(name);
    const fs::path in = dir / name;
    write_bytes(in, bytes);
    const Run r = convert(dir, q(in) + " " + q(dir / "out.safetensors") + " --head_width 16");
    INFO(r.out << r.err);
    CHECK(r.status == 1);
    CHECK_THAT(r.err, Catch::Contains(in.string()));
    if (!why[i].empty()) CHECK_THAT(r.err, Catch::Contains(why[i]));
    CHECK(files_in(dir) == std::set<std::string>{name});  // no OUT, no temporary left behind
    fs::remove(in);
  }
  const Run missing = convert(dir, q(dir / "absent.pt") + " " + q(dir / "out.safetensors"));
  CHECK(missing.status == 1);
  CHECK_THAT(missing.err, Catch::Contains((dir / "absent.pt").string()));
  CHECK(files_in(dir).empty());
}

TEST_CASE("convert: a failed conversion leaves an existing OUT untouched", "[cli][convert]") {
  REQUIRE_CLI();
  const fs::path dir = test::temp_dir("convert_keep");
  const fs::path out = dir / "out.safetensors";
  std::ofstream(out) << "previous result";
  const auto state_dict = test::read_bytes(test::io_fixture("tiny_clip.state_dict.pt"));
  write_bytes(dir / "truncated.pt", std::vector<uint8_t>(state_dict.begin(), state_dict.end() - 100));
  Run r = convert(dir, q(dir / "truncated.pt") + " " + q(out) + " --head_width 16");
  CHECK(r.status == 1);
  // The default head width does not fit the tiny model: inference fails before anything is written.
  r = convert(dir, q(test::io_fixture("tiny_clip.state_dict.pt")) + " " + q(out));
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("--head_width"));
  CHECK(test::read_file(out.string()) == "previous result");
  CHECK(files_in(dir) == std::set<std::string>{"out.safetensors", "truncated.pt"});
  // A successful one replaces it.
  r = convert(dir, q(test::io_fixture("tiny_clip.state_dict.pt")) + " " + q(out) + " --head_width 16");
  CHECK(r.status == 0);
  CHECK(io::load_safetensors(out.string()).size() == 62);
}

TEST_CASE("convert: usage errors and --dry_run write nothing", "[cli][convert]") {
  REQUIRE_CLI();
  const fs::path dir = test::temp_dir("convert_usage");
  const std::string in = q(test::io_fixture("tiny_clip.traced.pt"));
  CHECK(convert(dir, "").status == 2);
  CHECK(convert(dir, in).status == 2);  // no OUT without --dry_run
  Run r = convert(dir, in + " " + q(dir / "out.pt") + " --head_width 16 --format pickle");
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("--format must be safetensors or torch"));
  r = convert(dir, in + " " + q(dir / "missing_dir/out.safetensors") + " --head_width 16");
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("missing_dir/out.safetensors"));
  r = convert(dir, in + " --dry_run --head_width 16");
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("kind:      torchscript"));
  CHECK_THAT(r.out, Catch::Contains("tensors:   65,"));
  CHECK(r.out.find("wrote") == std::string::npos);
  CHECK(files_in(dir).empty());
}
