// A small region profiler: where the time of a training step goes, without nsys.
//
//   profile::start(Device::cuda);          // clears earlier records, opens the window
//   { profile::Scope s("forward"); ... }   // RAII region; nested regions are allowed
//   profile::stop();                       // closes the window
//   profile::Report r = profile::report(); // synchronises, aggregates by region name
//   profile::print(r, stdout, 25);
//
// Off by default: a Scope then costs one branch (no name is built, no clock is read).
// While on, a region is timed
//  - on a CUDA window by a pair of cudaEvents recorded on the backend stream (xclip::cuda::stream()),
//    taken from a pool that is reused from window to window and read only by report(), so no
//    region synchronises the step. Event time is stream time: when the host cannot keep the GPU
//    busy, a region's time includes the GPU's idle time between its kernels.
//  - on a CPU window by std::chrono::steady_clock.
//
// Nesting is reported with dotted names: a Scope("resblocks", 3) opened inside Scope("visual")
// inside Scope("forward") is the region "forward.visual.resblocks.3". Rows are aggregated by that
// full name (calls, total), and each row's self time is its total minus the totals of the regions
// opened directly inside it. Scopes are opened and closed by the thread that called start().
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "xclip/core/dtype.hpp"

namespace xclip::profile {

namespace detail {
extern bool g_enabled;  // read inline by Scope: the whole cost of a region while profiling is off
}

inline bool enabled() { return detail::g_enabled; }

// Starts a profiling window on `device` (cpu: steady_clock; cuda: events on the backend stream).
// Records of an earlier window are dropped. Throws on a CUDA window in a build without CUDA.
void start(Device device);
// Closes the window (the denominator of every row's percentage) and turns profiling off.
void stop();

struct Row {
  std::string name;    // full dotted name
  std::string parent;  // full name of the enclosing region, empty at the top level
  int64_t calls = 0;
  double total_ms = 0;  // summed over calls
  double self_ms = 0;   // total_ms minus the total_ms of the regions opened directly inside
  double ms_per_call = 0;
  double percent = 0;  // total_ms / window_ms · 100
};

struct Report {
  std::string device;  // "cpu" or "cuda"
  double window_ms = 0;     // start() to stop()
  double top_level_ms = 0;  // summed totals of the regions with no parent
  std::vector<Row> rows;    // by total_ms, largest first
};

// Waits for the recorded events (CUDA window), then aggregates. Call after stop().
Report report();

// The `top` rows with the largest self time (0: all), then one line saying which fraction of the
// window the listed rows' self times cover, and one line for the top-level regions' coverage.
void print(const Report& report, std::FILE* out, size_t top = 0);
nlohmann::json to_json(const Report& report);

// cudaEvents the pool holds (created so far); 0 on a build without CUDA. For tests of the reuse.
size_t event_pool_size();

class Scope {
 public:
  // `index` >= 0 appends ".<index>" to the name (Scope("resblocks", 3) is "resblocks.3"), so a
  // caller need not build a string while profiling is off.
  explicit Scope(std::string_view name, int index = -1) {
    if (enabled()) open(name, index);
  }
  ~Scope() {
    if (record_ >= 0) close();
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  void open(std::string_view name, int index);
  void close() noexcept;
  int64_t record_ = -1;      // index of this region's record, -1 when not profiling
  uint64_t generation_ = 0;  // the window it belongs to: a scope outliving stop() records nothing
};

}  // namespace xclip::profile
