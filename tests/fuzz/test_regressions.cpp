// The fuzz regression corpus (tests/fuzz/regressions/<reader>/): every input that once crashed,
// hung or leaked a reader, replayed through the same entry points as the fuzzers. Each must now
// load or be a clean xclip::Error; under ASan + UBSan (make test-sanitize) a leak or an overflow
// fails too.
// Plus the messages of the hostile-input fixes of issue 18, checked where they are made.
#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>

#include "targets/fuzz_targets.hpp"
#include "test_util.hpp"
#include "xclip/core/checked.hpp"
#include "xclip/core/error.hpp"
#include "xclip/core/tensor.hpp"
#include "xclip/io/json_file.hpp"
#include "xclip/io/npy.hpp"
#include "xclip/io/pickle.hpp"
#include "xclip/models/heads/head_config.hpp"

using namespace xclip;
namespace fs = std::filesystem;

namespace {

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

fs::path regressions() { return test::source_root() / "tests/fuzz/regressions"; }

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

// Most are refused; a few are valid enough to load (the video that made swscale write past its
// buffer decodes) and must simply load without harm.
TEST_CASE("regressions: every committed input loads or is a clean error of its reader", "[fuzz]") {
  int replayed = 0;
  for (const auto& target : fuzz::targets()) {
    const fs::path dir = regressions() / target.name;
    if (!fs::is_directory(dir)) continue;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (!e.is_regular_file()) continue;
      const std::vector<uint8_t> bytes = read_bytes(e.path());
      INFO(target.name << ": " << e.path().filename().string());
      REQUIRE_NOTHROW(target.run(bytes.data(), bytes.size()));
      ++replayed;
    }
  }
  CHECK(replayed >= 10);
}

// tests/fuzz/pending/<reader>/: inputs that still crash a reader whose fix waits for a file this
// change may not edit (the README beside them says which). Replayed and reported, not failed; once
// fixed, move them into regressions/.
TEST_CASE("regressions: pending inputs are reported", "[fuzz]") {
  const fs::path pending = test::source_root() / "tests/fuzz/pending";
  for (const auto& target : fuzz::targets()) {
    if (!fs::is_directory(pending / target.name)) continue;
    for (const auto& e : fs::directory_iterator(pending / target.name)) {
      const std::vector<uint8_t> bytes = read_bytes(e.path());
      try {
        target.run(bytes.data(), bytes.size());
        WARN(target.name << "/" << e.path().filename().string() << ": no longer escapes; move it to regressions/");
      } catch (const std::exception& x) {
        WARN(target.name << "/" << e.path().filename().string() << " still escapes: " << x.what());
      }
    }
  }
}

TEST_CASE("regressions: .npy headers are parsed by hand, shapes are checked before they size anything", "[fuzz]") {
  const fs::path dir = regressions() / "npy";
  // std::regex recursed per character: a 40 kB string overflowed the stack.
  CHECK_THAT(error_of([&] { io::load_npy((dir / "regex_stack_overflow.npy").string()); }),
             Catch::Contains("unsupported .npy dtype") && Catch::Contains("regex_stack_overflow.npy"));
  // (2^32, 2^32): the element count wrapped to 0 and the load "succeeded".
  CHECK_THAT(error_of([&] { io::load_npy((dir / "shape_product_wraps.npy").string()); }),
             Catch::Contains("shape_product_wraps.npy") && Catch::Contains("overflows"));
  CHECK_THAT(error_of([&] { io::load_npy((dir / "shape_bytes_wrap.npy").string()); }),
             Catch::Contains("shape_bytes_wrap.npy") && Catch::Contains("GiB"));
  CHECK_THAT(error_of([&] { io::load_npy((dir / "unterminated_tuple.npy").string()); }),
             Catch::Contains("bad .npy header"));
}

TEST_CASE("regressions: checked sizes (products, byte counts, spans, ranges)", "[fuzz]") {
  const int64_t big[] = {int64_t(1) << 32, int64_t(1) << 32};
  CHECK_THAT(error_of([&] { checked_numel(big, "x.npy"); }), Catch::Contains("x.npy") && Catch::Contains("overflows"));
  const int64_t empty[] = {int64_t(1) << 62, 0, int64_t(1) << 62};
  CHECK(checked_numel(empty, "x") == 0);
  CHECK_THROWS_AS(checked_nbytes(uint64_t(1) << 62, 8, "x"), Error);
  CHECK_THROWS_AS(check_span(10, ~uint64_t(0) - 5, 100, "x"), Error);
  CHECK_NOTHROW(check_span(10, 90, 100, "x"));
  CHECK_THAT(error_of([] { check_in_range(2000, 1, 1024, "config: max_frames"); }),
             Catch::Contains("config: max_frames must be in [1, 1024], got 2000"));
  // eye(n) with n from a config: n * n wrapped and the diagonal was written past the buffer.
  CHECK_THROWS_AS(Tensor::eye(3037000500, DType::f32), Error);
  CHECK_THROWS_AS(Tensor::empty(Shape{int64_t(1) << 40, int64_t(1) << 30}), Error);
}

TEST_CASE("regressions: configs name the key and its range, deep JSON is refused while parsing", "[fuzz]") {
  using models::HeadConfig;
  CHECK_THAT(error_of([] { HeadConfig::from_json({{"max_frames", int64_t(1) << 32}}); }),
             Catch::Contains("max_frames") && Catch::Contains("[1, 1024]"));
  CHECK_THAT(error_of([] { HeadConfig::from_json({{"sim_header", 3}}); }),
             Catch::Contains("key 'sim_header' must be a string, got 3") && !Catch::Contains("json.exception"));
  CHECK_THAT(error_of([] { HeadConfig::from_json({{"max_words", 2.5}}); }),
             Catch::Contains("key 'max_words' must be an integer, got 2.5"));
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  CHECK_THAT(error_of([&] { io::parse_json("{\"contrasts\": " + deep + "}", "c.json"); }),
             Catch::Contains("c.json: JSON nested deeper than 16 levels"));
  // A long value in an error is cut short.
  nlohmann::json long_list = nlohmann::json::array();
  for (int i = 0; i < 10000; ++i) long_list.push_back(i);
  const std::string msg = error_of([&] { HeadConfig::from_json({{"contrasts", {long_list}}}); });
  CHECK(msg.size() < 400);
  CHECK_THAT(io::json_excerpt(long_list, 50), Catch::EndsWith("chars)"));
}

TEST_CASE("regressions: a pickle whose list or dict contains itself is refused and freed", "[fuzz]") {
  for (const char* name : {"self_list.pkl", "self_dict.pkl", "two_list_cycle.pkl"}) {
    INFO(name);
    CHECK_THAT(error_of([&] { io::pickle::load_file((regressions() / "torch" / name).string()); }),
               Catch::Contains("contains itself"));
  }
  // Shared (not cyclic) references stay fine: [x, x] with x = [].
  const std::string shared("\x80\x02]q\x00(]q\x01h\x01" "e.", 13);
  CHECK(io::pickle::load(shared)->items.size() == 2);
}
