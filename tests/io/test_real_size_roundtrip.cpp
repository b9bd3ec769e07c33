// Real-shaped ViT-B/32 and ViT-B/16 state dicts (random weights, fp16 where OpenAI's
// convert_weights puts fp16) survive .pt -> safetensors -> Clip -> safetensors bit-exactly, without
// PyTorch at test time: the .pt is made by our torch.save writer (xclip/io/torch_save.hpp, the one
// `xclip-cli convert` uses), which is first shown to write the very bytes torch.save wrote for a
// committed tiny dict.
//
// XCLIP_KEEP_ROUNDTRIP_DIR=DIR keeps the files (in DIR) instead of deleting them, for the offline
// torch.load check of tools/reference/check_torch_save_writer.py.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "io/io_test_helpers.hpp"
#include "models/clip_test_util.hpp"
#include "test_cli_util.hpp"
#include "xclip/io/checkpoint.hpp"
#include "xclip/io/torch_save.hpp"
#include "xclip/models/clip.hpp"

using namespace xclip;
namespace fs = std::filesystem;

namespace {

// The dict tools/reference/check_torch_save_writer.py saves into tests/fixtures/io/torch_save_tiny.pt
// (same formula, see tiny_state there).
io::NamedTensors tiny_state() {
  const std::vector<Shape> shapes = {Shape{}, Shape{3}, Shape{2, 3}, Shape{2, 3, 4}, Shape{4, 1, 2, 2}, Shape{300}};
  const std::vector<DType> dtypes = {DType::f32, DType::f16, DType::i64, DType::f64, DType::bf16};
  io::NamedTensors sd;
  for (int64_t k = 0; k < 48; ++k) {
    const Shape& shape = shapes[size_t(k) % shapes.size()];
    const DType dtype = k < 40 ? dtypes[size_t(k) % dtypes.size()] : k % 2 == 0 ? DType::i32 : DType::u8;
    std::vector<double> v(size_t(shape.numel()));
    for (int64_t i = 0; i < shape.numel(); ++i) {
      const int64_t m = dtype == DType::u8 ? (7 * i + 3 * k) % 251 : (7 * i + 3 * k) % 17 - 8;
      v[size_t(i)] = is_floating(dtype) ? double(m) / 2 : double(m);
    }
    sd.add("block." + std::to_string(k) + ".weight", Tensor::from_vector(v, shape).to(dtype));
  }
  return sd;
}

// Where the files go: a fresh temporary folder, or $XCLIP_KEEP_ROUNDTRIP_DIR (kept afterwards).
struct WorkDir {
  fs::path path;
  bool keep = false;
  explicit WorkDir(const std::string& name) {
    if (const char* env = std::getenv("XCLIP_KEEP_ROUNDTRIP_DIR"); env && *env) {
      path = env;
      keep = true;
      fs::create_directories(path);
    } else {
      path = test::temp_dir(name);
    }
  }
  ~WorkDir() {
    if (!keep) fs::remove_all(path);
  }
};

// splitmix64: a fast, seeded stream; the weights are not meant to look trained.
struct Bits {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
};

// Uniform over bit patterns, with infinities and NaNs folded onto finite values (top exponent bit
// cleared): every exponent, subnormals and -0 occur, so a lossy widening or narrowing shows.
template <class U>
void fill_finite_bits(U* out, int64_t n, Bits& bits, U exponent_mask, U top_exponent_bit) {
  for (int64_t i = 0; i < n;) {
    uint64_t r = bits.next();
    for (size_t j = 0; j < sizeof(uint64_t) / sizeof(U) && i < n; ++j, ++i, r >>= 8 * sizeof(U)) {
      U u = U(r);
      if ((u & exponent_mask) == exponent_mask) u = U(u ^ top_exponent_bit);
      out[i] = u;
    }
  }
}

// An OpenAI-layout CLIP state dict of `config`'s shapes (names and order from the spec, not from
// the Clip class): fp16 for the tensors convert_weights makes fp16, f32 for the rest.
io::NamedTensors random_openai_state(const models::ClipConfig& config, uint64_t seed) {
  Bits bits{seed};
  io::NamedTensors sd;
  for (const auto& [name, shape] : test::openai_clip_shapes(config)) {
    const bool half = models::is_official_fp16_parameter(name);
    Tensor t = Tensor::empty(shape, half ? DType::f16 : DType::f32);
    if (half)
      fill_finite_bits(static_cast<uint16_t*>(t.raw_data()), t.numel(), bits, uint16_t(0x7c00), uint16_t(0x4000));
    else
      fill_finite_bits(static_cast<uint32_t*>(t.raw_data()), t.numel(), bits, 0x7f800000u, 0x40000000u);
    sd.add(name, std::move(t));
  }
  return sd;
}

// The convert path: the built xclip-cli when it sits next to this binary (as after `make test`),
// else the library calls it makes (load_any_checkpoint, save_safetensors).
void convert(const fs::path& in, const fs::path& out) {
  if (fs::exists(test::cli_path())) {
    const test::CliRun r = test::run_cli(out.parent_path(), "convert '" + in.string() + "' '" + out.string() + "'");
    INFO(r.out << r.err);
    REQUIRE(r.status == 0);
    return;
  }
  std::cout << "xclip-cli is not built next to the test: converting with the library calls\n";
  io::CheckpointInfo info;
  io::NamedTensors tensors = io::load_any_checkpoint(in.string(), &info);
  REQUIRE(info.kind == io::CheckpointKind::torch_zip);
  io::save_safetensors(out.string(), tensors);
}

// Every tensor of `expected` in `got` with the same dtype, shape and bytes, and nothing else.
void require_bit_exact(const io::NamedTensors& got, const io::NamedTensors& expected) {
  REQUIRE(got.size() == expected.size());
  size_t differing = 0;
  for (const auto& [name, t] : expected) {
    const Tensor* g = got.find(name);
    INFO(name << ": expected " << t.str() << ", got " << (g ? g->str() : "nothing"));
    REQUIRE(g);
    if (!test::bit_equal(*g, t)) {
      ++differing;
      CHECK(test::bit_equal(*g, t));
    }
  }
  REQUIRE(differing == 0);
}

// The model's state_dict with each tensor back in the dtype the checkpoint stored it in.
io::NamedTensors in_checkpoint_dtypes(const models::Clip& clip, const io::NamedTensors& checkpoint) {
  io::NamedTensors out;
  for (const auto& [name, t] : clip.state_dict()) {
    const DType stored = checkpoint.at(name).dtype();
    out.add(name, t.dtype() == stored ? t : t.to(stored));
  }
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void round_trip(const models::ClipConfig& config, const std::string& stem, uint64_t seed) {
  const auto t0 = std::chrono::steady_clock::now();
  const WorkDir dir("real_roundtrip_" + stem);
  const fs::path pt = dir.path / (stem + ".state_dict.pt");
  const fs::path converted_path = dir.path / (stem + ".converted.safetensors");
  const fs::path final_path = dir.path / (stem + ".roundtrip.safetensors");
  const io::NamedTensors original = random_openai_state(config, seed);
  io::write_torch_save(pt.string(), original);
  convert(pt, converted_path);
  {
    io::NamedTensors converted = io::load_safetensors(converted_path.string());
    require_bit_exact(converted, original);
    const models::ClipConfig inferred = models::infer_clip_config(converted.list());
    REQUIRE(inferred == config);
    models::Clip clip(inferred);
    clip.load_state_dict(converted.list());
    const io::NamedTensors back = in_checkpoint_dtypes(clip, original);
    REQUIRE(back.names() == original.names());  // PyTorch's order, from the module
    io::save_safetensors(final_path.string(), back);
  }
  require_bit_exact(io::load_safetensors(final_path.string()), original);
  std::cout << stem << ": " << original.size() << " tensors, " << original.total_bytes() << " bytes (.pt "
            << fs::file_size(pt) << " bytes) round-trip bit-exactly in " << seconds_since(t0) << " s\n";
}

}  // namespace

TEST_CASE("torch.save writer: a tiny state dict gives the bytes torch.save wrote", "[io][torch_save]") {
  const io::NamedTensors tiny = tiny_state();
  const std::string fixture = test::io_fixture("torch_save_tiny.pt");
  // The fixture holds the same tensors (else the formula above drifted from the script's).
  require_bit_exact(io::load_any_checkpoint(fixture), tiny);
  const WorkDir dir("torch_save_tiny");
  const fs::path ours = dir.path / "torch_save_tiny.pt";  // the archive folder comes from the name
  io::write_torch_save(ours.string(), tiny);
  const std::vector<uint8_t> expected = test::read_bytes(fixture), got = test::read_bytes(ours.string());
  REQUIRE(got.size() == expected.size());
  const auto [mismatch, _] = std::mismatch(got.begin(), got.end(), expected.begin());
  INFO("first differing byte at offset " << (mismatch - got.begin()));
  CHECK(mismatch == got.end());
}

TEST_CASE("ViT-B/32 at real size: .pt -> safetensors -> Clip -> safetensors is bit-exact", "[io][real]") {
  round_trip(models::ClipConfig::vit_b32(), "ViT-B-32", 32);
}

TEST_CASE("ViT-B/16 at real size: .pt -> safetensors -> Clip -> safetensors is bit-exact", "[io][real]") {
  round_trip(models::ClipConfig::vit_b16(), "ViT-B-16", 16);
}
