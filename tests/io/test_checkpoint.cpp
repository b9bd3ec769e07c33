// Loading PyTorch files without PyTorch: the tiny CLIP saved four ways loads to identical tensors
// (checked against CRC-32s written by PyTorch), views and dtypes, zip variants, legacy files,
// Hugging Face renaming, and clear errors for damaged or foreign files.
#include <catch2/catch.hpp>

#include <set>

#include "io_test_helpers.hpp"
#include "xclip/io/checkpoint.hpp"
#include "xclip/io/zip.hpp"

using namespace xclip;
using namespace xclip::io;
using test::io_fixture;

namespace {

std::vector<std::string> json_strings(const nlohmann::json& j) { return j.get<std::vector<std::string>>(); }

std::shared_ptr<FileBytes> memory_file(std::vector<uint8_t> bytes, const std::string& name = "damaged.pt") {
  return FileBytes::from_buffer(std::move(bytes), name);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("checkpoint: torch.save, TorchScript and Hugging Face files of one CLIP give the same tensors",
          "[io][checkpoint]") {
  const auto expected = io::read_json_file(io_fixture("tiny_clip.expected.json"), "expected values");
  const auto records = expected["tensors"];

  CheckpointInfo info;
  NamedTensors saved = load_any_checkpoint(io_fixture("tiny_clip.state_dict.pt"), &info);
  CHECK(info.kind == CheckpointKind::torch_zip);
  CHECK(saved.names() == json_strings(expected["eager_keys"]));  // state_dict order kept
  for (const auto& [name, t] : saved) test::check_record(name, t, records[name]);

  for (const char* file : {"tiny_clip.scripted.pt", "tiny_clip.traced.pt"}) {
    INFO(file);
    NamedTensors jit = load_any_checkpoint(io_fixture(file), &info);
    CHECK(info.kind == CheckpointKind::torchscript);
    CHECK(info.notes.empty());  // every class had code declaring its parameters and buffers
    // Exactly model.state_dict() of the TorchScript module: no attn_mask attributes, the three
    // scalar buffers of OpenAI's files, parameters before buffers before submodules.
    CHECK(jit.names() == json_strings(expected["jit_keys"]));
    for (const auto& [name, t] : jit) test::check_record(name, t, records[name]);
    for (const auto& [name, t] : saved) CHECK(test::bit_equal(t, jit.at(name)));
    CHECK(jit.at("vocab_size").dtype() == DType::i64);
    CHECK(jit.at("logit_scale").ndim() == 0);
  }

  NamedTensors hf = load_any_checkpoint(io_fixture("tiny_clip.hf.safetensors"), &info);
  CHECK(info.kind == CheckpointKind::hf_clip_safetensors);
  CHECK(info.renamed_from_hf);
  const auto eager_keys = json_strings(expected["eager_keys"]);
  const auto hf_names = hf.names();
  CHECK(std::set<std::string>(hf_names.begin(), hf_names.end()) ==
        std::set<std::string>(eager_keys.begin(), eager_keys.end()));
  for (const auto& [name, t] : hf) {
    INFO(name);
    REQUIRE(saved.contains(name));
    CHECK(test::bit_equal(t, saved.at(name)));
  }
}

TEST_CASE("checkpoint: the kind comes from the content, not the name", "[io][checkpoint]") {
  CHECK(detect_checkpoint_kind(io_fixture("tiny_clip.state_dict.pt")) == CheckpointKind::torch_zip);
  CHECK(detect_checkpoint_kind(io_fixture("tiny_clip.scripted.pt")) == CheckpointKind::torchscript);
  CHECK(detect_checkpoint_kind(io_fixture("tiny_clip.traced.pt")) == CheckpointKind::torchscript);
  CHECK(detect_checkpoint_kind(io_fixture("tiny_clip.hf.safetensors")) == CheckpointKind::hf_clip_safetensors);
  CHECK(detect_checkpoint_kind(io_fixture("views_legacy.pt")) == CheckpointKind::torch_legacy);
  CHECK(detect_checkpoint_kind(io_fixture("pickle_p2.pkl")) == CheckpointKind::unknown);
  CHECK(detect_checkpoint_kind(io_fixture("views.expected.json")) == CheckpointKind::unknown);
  auto dir = test::temp_dir("checkpoint_kind");
  const std::string renamed = (dir / "weights.safetensors").string();  // a TorchScript file, misnamed
  std::filesystem::copy_file(io_fixture("tiny_clip.traced.pt"), renamed);
  CHECK(detect_checkpoint_kind(renamed) == CheckpointKind::torchscript);
}

TEST_CASE("checkpoint: views, strides, offsets and every dtype, from zip, deflated, ZIP64 and legacy files",
          "[io][checkpoint]") {
  const auto expected = io::read_json_file(io_fixture("views.expected.json"), "expected values");
  for (const char* file : {"views.pt", "views_deflated.pt", "views_zip64.pt", "views_legacy.pt"}) {
    INFO(file);
    NamedTensors t = load_torch_checkpoint(io_fixture(file));
    REQUIRE(t.size() == expected.size());
    for (const auto& [name, record] : expected.items()) {
      INFO(name);
      const Tensor& x = t.at(name);
      CHECK(x.dtype() == test::dtype_from_torch(record["dtype"]));
      CHECK(x.shape().vec() == record["shape"].get<std::vector<int64_t>>());
      CHECK(x.to_vector<double>() == record["values"].get<std::vector<double>>());
    }
  }
}

TEST_CASE("checkpoint: contiguous tensors of stored records are views of the mapped file", "[io][checkpoint]") {
  auto bytes = FileBytes::map(io_fixture("views.pt"));
  NamedTensors t = load_torch_checkpoint(bytes);
  auto inside = [&](const Tensor& x) {
    const auto* p = static_cast<const uint8_t*>(x.raw_data());
    return p >= bytes->data() && p + x.nbytes() <= bytes->data() + bytes->size();
  };
  CHECK(inside(t.at("base")));
  CHECK(inside(t.at("slice")) == false);  // [1:3, 2:5] is not contiguous: copied
  CHECK(inside(t.at("row")));             // base[3]: contiguous at a storage offset
  CHECK(t.at("row").same_storage(t.at("base")));
  CHECK_FALSE(inside(t.at("transposed")));
  // The deflated archive's records are inflated into memory instead.
  auto deflated = FileBytes::map(io_fixture("views_deflated.pt"));
  const Tensor base = load_torch_checkpoint(deflated).at("base");
  const auto* p = static_cast<const uint8_t*>(base.raw_data());
  CHECK((p < deflated->data() || p >= deflated->data() + deflated->size()));
}

TEST_CASE("checkpoint: OpenAI <-> Hugging Face names round-trip and match the reference renaming",
          "[io][checkpoint]") {
  NamedTensors openai = load_torch_checkpoint(io_fixture("tiny_clip.state_dict.pt"));
  NamedTensors reference = load_safetensors(io_fixture("tiny_clip.hf.safetensors"));
  NamedTensors hf = openai_to_hf_clip(openai);
  CHECK(is_hf_clip(hf));
  CHECK_FALSE(is_hf_clip(openai));
  CHECK(hf.size() + 2 == reference.size());  // the reference also has the two position_ids buffers
  for (const auto& [name, t] : hf) {
    INFO(name);
    REQUIRE(reference.contains(name));
    CHECK(test::bit_equal(t, reference.at(name)));
  }
  NamedTensors back = hf_clip_to_openai(hf);
  CHECK(back.size() == openai.size());
  for (const auto& [name, t] : openai) CHECK(test::bit_equal(t, back.at(name)));
}

TEST_CASE("checkpoint: Hugging Face renaming reports what it cannot map", "[io][checkpoint]") {
  NamedTensors hf("hf.safetensors");
  hf.add("vision_model.encoder.layers.0.self_attn.q_proj.weight", Tensor::zeros(Shape{4, 4}));
  hf.add("vision_model.encoder.layers.0.self_attn.k_proj.weight", Tensor::zeros(Shape{4, 4}));
  CHECK_THAT(error_of([&] { hf_clip_to_openai(hf); }),
             Catch::Contains("hf.safetensors") && Catch::Contains("2 of the q/k/v") &&
                 Catch::Contains("visual.transformer.resblocks.0.attn.in_proj_weight"));
  hf.add("vision_model.something_else", Tensor::zeros(Shape{1}));
  CHECK_THAT(error_of([&] { hf_clip_to_openai(hf); }), Catch::Contains("vision_model.something_else"));
}

TEST_CASE("checkpoint: truncated files are clean errors naming the file", "[io][checkpoint]") {
  for (const char* file : {"tiny_clip.state_dict.pt", "tiny_clip.scripted.pt", "views_legacy.pt",
                           "tiny_clip.hf.safetensors", "views_deflated.pt"}) {
    const auto full = test::read_bytes(io_fixture(file));
    for (size_t cut : {size_t(0), size_t(3), size_t(20), full.size() / 3, full.size() / 2, full.size() - 30,
                       full.size() - 1}) {
      INFO(file << " cut to " << cut << " bytes");
      std::vector<uint8_t> part(full.begin(), full.begin() + std::ptrdiff_t(cut));
      const std::string what = error_of([&] { load_any_checkpoint(memory_file(part, "cut.bin")); });
      CHECK_THAT(what, Catch::Contains("cut.bin"));
      CHECK(what != "no error");
    }
  }
}

TEST_CASE("checkpoint: foreign files say what they are not", "[io][checkpoint]") {
  CHECK_THAT(error_of([] { load_any_checkpoint(io_fixture("views.expected.json")); }),
             Catch::Contains("views.expected.json") && Catch::Contains("not a checkpoint"));
  CHECK_THAT(error_of([] { load_torch_checkpoint(io_fixture("tiny_clip.hf.safetensors")); }),
             Catch::Contains("not a PyTorch file"));
  const std::vector<uint8_t> empty_zip{'P', 'K', 5, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  CHECK_THAT(error_of([&] { load_any_checkpoint(memory_file(empty_zip, "empty.zip")); }),
             Catch::Contains("empty.zip") && Catch::Contains("not a checkpoint"));
  CHECK_THAT(error_of([&] { load_torch_checkpoint(memory_file(empty_zip, "empty.zip")); }),
             Catch::Contains("without data.pkl"));
  CHECK_THAT(error_of([] { load_any_checkpoint(io_fixture("pickle_p2.pkl")); }), Catch::Contains("not a checkpoint"));
}

TEST_CASE("zip: entries, deflate and CRC checks", "[io][zip]") {
  ZipArchive zip = ZipArchive::open(io_fixture("tiny_clip.scripted.pt"));
  const ZipEntry* version = zip.find("tiny_clip.scripted/version");
  REQUIRE(version != nullptr);
  CHECK(zip.read(*version) == "4\n");
  const ZipEntry* code = nullptr;  // the (deflated) source of the root class, whatever its mangled name
  for (const auto& e : zip.entries())
    if (e.name.size() > 3 && e.name.compare(e.name.size() - 3, 3, ".py") == 0 &&
        zip.read(e).rfind("class CLIP(Module):", 0) == 0)
      code = &e;
  REQUIRE(code != nullptr);
  CHECK(code->method == 8);
  CHECK_THROWS_WITH(zip.stored_view(*code), Catch::Contains("compressed"));
  // A flipped byte in a stored record fails its CRC.
  auto bytes = test::read_bytes(io_fixture("tiny_clip.scripted.pt"));
  bytes[size_t(version->data_offset)] ^= 1;
  ZipArchive damaged(FileBytes::from_buffer(bytes, "flipped.pt"));
  CHECK_THROWS_WITH(damaged.read(*damaged.find("tiny_clip.scripted/version")), Catch::Contains("CRC-32"));
}

namespace {
void put(std::vector<uint8_t>& out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out.push_back(uint8_t(v >> (8 * i)));
}
}  // namespace

TEST_CASE("zip: ZIP64 end records and extra fields", "[io][zip]") {
  // One stored entry "a/x" = "hello" whose central directory record keeps sizes and offset in a
  // ZIP64 extra field, with a ZIP64 end record and locator (as writers do past 4 GiB).
  const std::string name = "a/x", data = "hello";
  const uint32_t crc = uint32_t(crc32(0L, reinterpret_cast<const Bytef*>(data.data()), uInt(data.size())));
  std::vector<uint8_t> z;
  put(z, 0x04034b50, 4), put(z, 45, 2), put(z, 0, 2), put(z, 0, 2), put(z, 0, 4), put(z, crc, 4);
  put(z, data.size(), 4), put(z, data.size(), 4), put(z, name.size(), 2), put(z, 0, 2);
  z.insert(z.end(), name.begin(), name.end());
  z.insert(z.end(), data.begin(), data.end());
  const uint64_t cd = z.size();
  put(z, 0x02014b50, 4), put(z, 45, 2), put(z, 45, 2), put(z, 0, 2), put(z, 0, 2), put(z, 0, 4), put(z, crc, 4);
  put(z, 0xffffffff, 4), put(z, 0xffffffff, 4), put(z, name.size(), 2), put(z, 28, 2), put(z, 0, 2);
  put(z, 0, 2), put(z, 0, 2), put(z, 0, 4), put(z, 0xffffffff, 4);
  z.insert(z.end(), name.begin(), name.end());
  put(z, 0x0001, 2), put(z, 24, 2), put(z, data.size(), 8), put(z, data.size(), 8), put(z, 0, 8);
  const uint64_t cd_size = z.size() - cd, end64 = z.size();
  put(z, 0x06064b50, 4), put(z, 44, 8), put(z, 45, 2), put(z, 45, 2), put(z, 0, 4), put(z, 0, 4);
  put(z, 1, 8), put(z, 1, 8), put(z, cd_size, 8), put(z, cd, 8);
  put(z, 0x07064b50, 4), put(z, 0, 4), put(z, end64, 8), put(z, 1, 4);
  put(z, 0x06054b50, 4), put(z, 0, 2), put(z, 0, 2), put(z, 0xffff, 2), put(z, 0xffff, 2);
  put(z, 0xffffffff, 4), put(z, 0xffffffff, 4), put(z, 0, 2);
  ZipArchive zip(FileBytes::from_buffer(z, "zip64.zip"));
  REQUIRE(zip.entries().size() == 1);
  CHECK(zip.entries()[0].name == "a/x");
  CHECK(zip.read(zip.entries()[0]) == "hello");
  // Without the locator the ZIP64 end record cannot be found.
  std::vector<uint8_t> broken = z;
  broken[size_t(end64) + 56] = 0;
  CHECK_THROWS_WITH(ZipArchive(FileBytes::from_buffer(broken, "zip64.zip")), Catch::Contains("ZIP64"));
}
