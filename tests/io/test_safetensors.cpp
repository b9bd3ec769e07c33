// safetensors: round trip of every dtype, zero-copy mapping, the exact byte layout of the reference
// writer, and clean errors for every kind of malformed header.
#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>

#include "test_util.hpp"
#include "xclip/io/safetensors.hpp"

using namespace xclip;
using xclip::io::NamedTensors;

namespace {

std::string read_all(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// A safetensors file from a JSON header text and a data buffer.
std::string make_file(std::string header, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char((n >> (8 * i)) & 0xff);
  return out + header + data;
}

std::shared_ptr<io::FileBytes> bytes_of(const std::string& s, const std::string& name = "mem.safetensors") {
  return io::FileBytes::from_buffer(std::vector<uint8_t>(s.begin(), s.end()), name);
}

NamedTensors sample_tensors() {
  NamedTensors t;
  t.add("b.f32", Tensor::from_vector<float>({1.5f, -2.f, 3.25f, 0.f, 7.f, 8.f}, Shape{2, 3}));
  t.add("a.f16", Tensor::from_vector<f16_t>({float_to_f16(1.f), float_to_f16(-0.5f), float_to_f16(65504.f)},
                                            Shape{3}));
  t.add("c.i64", Tensor::from_vector<int64_t>({-1, int64_t(1) << 40}, Shape{2}));
  t.add("d.u8", Tensor::from_vector<uint8_t>({1, 2, 255}, Shape{3, 1}));
  t.add("e.bf16", Tensor::from_vector<bf16_t>({float_to_bf16(3.f)}, Shape{1}));
  t.add("f.f64", Tensor::from_vector<double>({3.141592653589793}, Shape{}));
  t.add("g.i32", Tensor::from_vector<int32_t>({-7, 9}, Shape{1, 2}));
  t.add("h.empty", Tensor::empty(Shape{0, 4}));
  t.metadata["format"] = "pt";
  return t;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

void require_error(const std::string& file_bytes, const std::string& fragment) {
  try {
    io::parse_safetensors(bytes_of(file_bytes));
    FAIL("no error; expected one mentioning '" << fragment << "'");
  } catch (const Error& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK(what.find("mem.safetensors") != std::string::npos);
    CHECK(what.find(fragment) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("safetensors: every dtype round-trips bit-exactly with metadata", "[io][safetensors]") {
  auto dir = test::temp_dir("safetensors_roundtrip");
  NamedTensors in = sample_tensors();
  io::save_safetensors((dir / "x.safetensors").string(), in);
  NamedTensors out = io::load_safetensors((dir / "x.safetensors").string());
  REQUIRE(out.size() == in.size());
  for (const auto& [name, t] : in) {
    INFO(name);
    REQUIRE(out.contains(name));
    CHECK(same_bytes(t, out.at(name)));
  }
  CHECK(out.metadata == in.metadata);
  // Writing what was read gives the same bytes (deterministic layout).
  io::save_safetensors((dir / "y.safetensors").string(), out);
  CHECK(read_all(dir / "x.safetensors") == read_all(dir / "y.safetensors"));
}

TEST_CASE("safetensors: layout is the reference writer's (dtype size, then name, padded header)",
          "[io][safetensors]") {
  NamedTensors t;
  t.add("z", Tensor::from_vector<f16_t>({float_to_f16(1.f)}, Shape{1}));
  t.add("b", Tensor::from_vector<float>({2.f}, Shape{1}));
  t.add("a", Tensor::from_vector<float>({3.f}, Shape{1}));
  const std::string h = io::safetensors_header(t);
  const std::string json = h.substr(8);
  const std::string expected =
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
      "\"z\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[8,10]}}";
  CHECK(json == expected + std::string((8 - expected.size() % 8) % 8, ' '));
  CHECK(json.size() % 8 == 0);
  CHECK(uint8_t(h[0]) == json.size());
}

TEST_CASE("safetensors: tensors are views of the mapping and outlive the NamedTensors", "[io][safetensors]") {
  auto dir = test::temp_dir("safetensors_mmap");
  io::save_safetensors((dir / "x.safetensors").string(), sample_tensors());
  Tensor kept;
  {
    NamedTensors a = io::load_safetensors((dir / "x.safetensors").string());
    NamedTensors b = io::load_safetensors((dir / "x.safetensors").string());
    CHECK(a.at("b.f32").same_storage(a.at("c.i64")));  // one storage: the whole mapping
    kept = a.at("b.f32");
    // Writing into a loaded tensor touches neither the file nor another mapping of it.
    kept.data<float>()[0] = 100.f;
    CHECK(b.at("b.f32").data<float>()[0] == 1.5f);
  }
  CHECK(kept.to_vector<float>() == std::vector<float>{100.f, -2.f, 3.25f, 0.f, 7.f, 8.f});
  CHECK(io::load_safetensors((dir / "x.safetensors").string()).at("b.f32").data<float>()[0] == 1.5f);
}

TEST_CASE("safetensors: lookup errors name the file and the tensor", "[io][safetensors]") {
  auto dir = test::temp_dir("safetensors_lookup");
  io::save_safetensors((dir / "x.safetensors").string(), sample_tensors());
  NamedTensors t = io::load_safetensors((dir / "x.safetensors").string());
  try {
    t.at("visual.proj");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("x.safetensors") != std::string::npos);
    CHECK(std::string(e.what()).find("visual.proj") != std::string::npos);
  }
  CHECK(t.find("visual.proj") == nullptr);
  CHECK_THROWS_AS(t.add("b.f32", Tensor::zeros(Shape{1})), Error);
}

TEST_CASE("safetensors: insertion order, set, erase", "[io][safetensors]") {
  NamedTensors t;
  t.add("c", Tensor::zeros(Shape{1}));
  t.add("a", Tensor::zeros(Shape{2}));
  t.add("b", Tensor::zeros(Shape{3}));
  CHECK(t.names() == std::vector<std::string>{"c", "a", "b"});
  t.set("a", Tensor::zeros(Shape{5}));
  CHECK(t.at("a").numel() == 5);
  CHECK(t.erase("c"));
  CHECK_FALSE(t.erase("c"));
  CHECK(t.names() == std::vector<std::string>{"a", "b"});
  CHECK(t.at("b").numel() == 3);
  CHECK(t.total_bytes() == 8 * 4);
}

TEST_CASE("safetensors: misaligned data from another writer is copied, not misread", "[io][safetensors]") {
  // A u8 tensor of 1 byte first, then an f32 at data offset 1 (legal, if unusual).
  std::string data = "\x07";
  float v = 2.5f;
  data.append(reinterpret_cast<const char*>(&v), 4);
  std::string header =
      "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[1,5]}}";
  header.append((8 - header.size() % 8) % 8, ' ');
  NamedTensors t = io::parse_safetensors(bytes_of(make_file(header, data)));
  CHECK(t.at("b").item<float>() == 2.5f);
  CHECK(t.at("a").data<uint8_t>()[0] == 7);
}

TEST_CASE("safetensors: malformed files are clean errors naming the file and the problem", "[io][safetensors]") {
  const std::string ok_entry = "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
  const std::string data(8, '\0');
  require_error("", "shorter than");
  require_error(make_file("{" + ok_entry + "}", data).substr(0, 30), "larger than the file");
  require_error(make_file("[1]", ""), "not a safetensors file");
  require_error(make_file("{\"a\":", ""), "not valid JSON");
  require_error(make_file("{" + ok_entry + "}", data.substr(0, 4)), "outside the data buffer");
  require_error(make_file("{\"a\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[0,2]}}", "xx"),
                "not supported");
  require_error(make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", data), "needs 12 bytes");
  require_error(make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", data),
                "non-negative integer");
  require_error(make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387903,4],\"data_offsets\":[0,8]}}", data),
                "overflows");
  require_error(make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                          "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                          data),
                "overlapping");
  require_error(make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", data), "trailing");
  require_error(make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", data), "no data_offsets");
  require_error(make_file("{\"__metadata__\":{\"k\":1}," + ok_entry + "}", data), "not a string");
  require_error(make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", data),
                "at most 6");
}

TEST_CASE("safetensors: a missing file and a failed save name the path and leave nothing behind",
          "[io][safetensors]") {
  auto dir = test::temp_dir("safetensors_errors");
  CHECK_THROWS_WITH(io::load_safetensors((dir / "absent.safetensors").string()),
                    Catch::Contains("absent.safetensors") && Catch::Contains("cannot open"));
  CHECK_THROWS_WITH(io::save_safetensors((dir / "no_such_dir" / "x.safetensors").string(), sample_tensors()),
                    Catch::Contains("x.safetensors"));
  NamedTensors bad = sample_tensors();
  bad.add("__metadata__", Tensor::zeros(Shape{1}));
  CHECK_THROWS_WITH(io::save_safetensors((dir / "x.safetensors").string(), bad), Catch::Contains("__metadata__"));
  CHECK(std::filesystem::is_empty(dir));
}
