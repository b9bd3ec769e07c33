// Helpers for the video tests: the shared media zoo, a watchdog that turns a hang into a test
// failure, and frame comparisons.
#pragma once
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "test_util.hpp"
#include "xclip/data/image.hpp"
#include "xclip/data/video.hpp"
#include "xclip/io/json_file.hpp"

namespace xclip::test {

// ../shared/media, or nullopt when the shared folder is absent.
inline std::optional<std::filesystem::path> media_dir() {
  auto shared = shared_dir();
  if (!shared) return std::nullopt;
  auto media = *shared / "media";
  if (!std::filesystem::is_regular_file(media / "manifest.json")) return std::nullopt;
  return media;
}

// The outcome of a decode run on another thread: frames, or the error message.
struct DecodeOutcome {
  bool finished = false;  // false: still running when the time limit passed (a hang)
  bool ok = false;
  data::VideoFrames frames;
  std::string error;      // xclip::Error message
  std::string other;      // any other exception (a bug: decode must only throw xclip::Error)
};

// Runs load_frames(path, sampling) on a worker thread and waits at most `limit`. A run that does
// not finish is reported (finished = false) and its thread is abandoned: all it touches is owned
// by the shared state, so the test can fail cleanly instead of hanging ctest.
inline DecodeOutcome decode_with_time_limit(const std::string& path, const data::FrameSampling& sampling,
                                            std::chrono::seconds limit = std::chrono::seconds(60)) {
  auto state = std::make_shared<std::promise<DecodeOutcome>>();
  std::future<DecodeOutcome> result = state->get_future();
  std::thread([state, path, sampling] {
    DecodeOutcome o;
    o.finished = true;
    try {
      o.frames = data::load_frames(path, sampling);
      o.ok = true;
    } catch (const Error& e) {
      o.error = e.what();
    } catch (const std::exception& e) {
      o.other = e.what();
    }
    state->set_value(std::move(o));
  }).detach();
  if (result.wait_for(limit) != std::future_status::ready) return DecodeOutcome{};
  return result.get();
}

// Mean absolute difference in grey levels over all bytes of two equally sized RGB images.
inline double mean_abs_diff(const uint8_t* a, const uint8_t* b, size_t bytes) {
  uint64_t sum = 0;
  for (size_t i = 0; i < bytes; ++i) sum += uint64_t(std::abs(int(a[i]) - int(b[i])));
  return double(sum) / double(bytes);
}

}  // namespace xclip::test
