// Bounded fuzzing of the decode entry point: mutated copies of the zoo files (fixed seed, written
// to a temporary folder) must give either valid frames or an xclip::Error naming the file, never
// a crash, another exception type or a hang.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>

#include "test_video_util.hpp"

using xclip::data::FrameSampling;
namespace fs = std::filesystem;

namespace {

constexpr int kMutationsPerFile = 24;

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& p, const std::vector<uint8_t>& b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

// One mutation, chosen and placed by the generator (raw mt19937_64 output: the same on every
// standard library).
std::vector<uint8_t> mutate(std::vector<uint8_t> b, std::mt19937_64& rng, std::string* what) {
  auto pick = [&](uint64_t n) { return n == 0 ? uint64_t(0) : rng() % n; };
  switch (rng() % 6) {
    case 0: {  // flip a few random bytes
      const uint64_t n = 1 + pick(16);
      for (uint64_t i = 0; i < n; ++i) b[pick(b.size())] ^= uint8_t(1 + pick(255));
      *what = "flipped " + std::to_string(n) + " bytes";
      break;
    }
    case 1: {  // truncate
      b.resize(pick(b.size()));
      *what = "truncated to " + std::to_string(b.size());
      break;
    }
    case 2: {  // zero a range
      const uint64_t at = pick(b.size()), len = std::min<uint64_t>(1 + pick(4096), b.size() - at);
      std::fill(b.begin() + std::ptrdiff_t(at), b.begin() + std::ptrdiff_t(at + len), 0);
      *what = "zeroed " + std::to_string(len) + " bytes at " + std::to_string(at);
      break;
    }
    case 3: {  // damage the header region (container boxes, sizes, codec parameters)
      const uint64_t n = 1 + pick(8);
      for (uint64_t i = 0; i < n; ++i) b[pick(std::min<size_t>(b.size(), 2048))] = uint8_t(rng());
      *what = "header bytes changed";
      break;
    }
    case 4: {  // duplicate a chunk in place of another
      const uint64_t len = 1 + pick(std::min<size_t>(b.size() / 4, 8192));
      const uint64_t from = pick(b.size() - len), to = pick(b.size() - len);
      std::copy(b.begin() + std::ptrdiff_t(from), b.begin() + std::ptrdiff_t(from + len), b.begin() + std::ptrdiff_t(to));
      *what = "copied " + std::to_string(len) + " bytes";
      break;
    }
    default: {  // random bytes in the middle of the data
      const uint64_t at = b.size() / 2 + pick(b.size() / 2), len = std::min<uint64_t>(1 + pick(512), b.size() - at);
      for (uint64_t i = 0; i < len; ++i) b[at + i] = uint8_t(rng());
      *what = "random run of " + std::to_string(len);
      break;
    }
  }
  return b;
}

}  // namespace

TEST_CASE("fuzz: mutated zoo files give frames or a clean error", "[video][fuzz]") {
  auto media = xclip::test::media_dir();
  if (!media) XCLIP_SKIP("../shared/media is absent: no zoo files to mutate");
  const auto manifest = xclip::io::read_json_file(*media / "manifest.json", "media manifest");
  const fs::path dir = xclip::test::temp_dir("video_fuzz");
  std::mt19937_64 rng(20240611);
  int runs = 0, decoded = 0, errors = 0;
  for (const auto& [name, entry] : manifest["files"].items()) {
    if (entry["expected"] != "frames") continue;
    const std::vector<uint8_t> original = read_bytes(*media / name);
    REQUIRE(original.size() > 16);
    for (int m = 0; m < kMutationsPerFile; ++m) {
      std::string what;
      const std::vector<uint8_t> bytes = mutate(original, rng, &what);
      const fs::path path = dir / ("m" + std::to_string(m) + "_" + name);
      write_bytes(path, bytes);
      FrameSampling s;
      s.max_frames = 4;
      s.rule = m % 2 == 0 ? FrameSampling::opencv_index : FrameSampling::time_based;
      const auto out = xclip::test::decode_with_time_limit(path.string(), s);
      INFO(name << ", mutation " << m << ": " << what);
      REQUIRE(out.finished);
      REQUIRE(out.other.empty());
      if (out.ok) {
        ++decoded;
        CHECK(out.frames.frames <= s.max_frames);
        CHECK(out.frames.rgb.size() == size_t(out.frames.frames) * 224 * 224 * 3);
      } else {
        ++errors;
        CHECK(out.error.find(path.string()) != std::string::npos);
      }
      fs::remove(path);
      ++runs;
    }
  }
  std::printf("  fuzz: %d mutated files, %d decoded, %d clean errors\n", runs, decoded, errors);
  CHECK(runs >= 200);
}
