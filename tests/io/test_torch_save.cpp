// The library's torch.save writer (xclip/io/torch_save.hpp) as a file writer: what it writes reads
// back through our torch loader unchanged, it replaces files atomically, and it refuses what it
// cannot write before touching anything. Its byte-for-byte agreement with PyTorch is the
// "[torch_save]" test of test_real_size_roundtrip.cpp.
#include <catch2/catch.hpp>

#include <filesystem>
#include <set>

#include "io/io_test_helpers.hpp"
#include "xclip/io/checkpoint.hpp"
#include "xclip/io/torch_save.hpp"
#include "xclip/io/zip.hpp"

using namespace xclip;
namespace fs = std::filesystem;

namespace {

std::set<std::string> files_in(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

// One tensor of every dtype, shapes of 0 to 3 dimensions, an empty one.
io::NamedTensors mixed_state() {
  io::NamedTensors sd;
  const std::vector<std::pair<DType, Shape>> specs = {{DType::f32, Shape{4, 3}}, {DType::f16, Shape{5}},
                                                      {DType::bf16, Shape{2, 2, 2}}, {DType::f64, Shape{}},
                                                      {DType::i64, Shape{3}}, {DType::i32, Shape{2, 1}},
                                                      {DType::u8, Shape{7}}, {DType::f32, Shape{0, 4}}};
  for (size_t k = 0; k < specs.size(); ++k) {
    const auto& [dtype, shape] = specs[k];
    std::vector<double> v(size_t(shape.numel()));
    for (size_t i = 0; i < v.size(); ++i) v[i] = double((5 * i + k) % 11) - 3.0;
    if (dtype == DType::u8) for (double& x : v) x += 3.0;
    sd.add("layer." + std::to_string(k) + ".weight", Tensor::from_vector(v, shape).to(dtype));
  }
  return sd;
}

}  // namespace

TEST_CASE("torch.save writer: every dtype reads back with the same names, order, shapes and bytes", "[io][torch_save]") {
  const fs::path dir = test::temp_dir("torch_save_mixed");
  const io::NamedTensors sd = mixed_state();
  const fs::path path = dir / "pytorch_model.bin.3";
  io::write_torch_save(path.string(), sd);
  CHECK(files_in(dir) == std::set<std::string>{"pytorch_model.bin.3"});  // no temporary left behind
  io::CheckpointInfo info;
  const io::NamedTensors back = io::load_torch_checkpoint(path.string(), &info);
  CHECK(info.kind == io::CheckpointKind::torch_zip);
  REQUIRE(back.names() == sd.names());
  for (const auto& [name, t] : sd) {
    INFO(name);
    CHECK(back.at(name).dtype() == t.dtype());
    CHECK(back.at(name).shape() == t.shape());
    CHECK(test::bit_equal(back.at(name), t));
  }
  // torch names the archive folder after the final file name (its last extension dropped), never
  // after the temporary name the file was written under.
  const io::ZipArchive zip(io::FileBytes::map(path.string()));
  for (const io::ZipEntry& e : zip.entries()) CHECK(e.name.starts_with("pytorch_model.bin/"));
}

TEST_CASE("torch.save writer: replaces an existing file whole, and leaves it untouched when refusing",
          "[io][torch_save]") {
  const fs::path dir = test::temp_dir("torch_save_atomic");
  const fs::path path = dir / "model.pt";
  std::ofstream(path) << "previous";
  // More tensors than one archive without ZIP64 records holds: refused before anything is written.
  io::NamedTensors many;
  const Tensor one = Tensor::from_vector(std::vector<double>{1.0}, Shape{1});
  for (int i = 0; i < 0xffff; ++i) many.add("t" + std::to_string(i), one);
  try {
    io::write_torch_save(path.string(), many);
    FAIL("65535 tensors were accepted");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains(path.string()));
    CHECK_THAT(e.what(), Catch::Contains("65535 tensors"));
  }
  CHECK(test::read_file(path.string()) == "previous");
  CHECK(files_in(dir) == std::set<std::string>{"model.pt"});
  // A folder that does not exist: the error names the file, nothing appears.
  CHECK_THROWS_WITH(io::write_torch_save((dir / "absent/model.pt").string(), mixed_state()),
                    Catch::Contains((dir / "absent/model.pt").string()));
  io::write_torch_save(path.string(), mixed_state());
  CHECK(io::load_torch_checkpoint(path.string()).size() == mixed_state().size());
  CHECK(files_in(dir) == std::set<std::string>{"model.pt"});
}
