// The region profiler (include/xclip/core/profile.hpp): records while a window is open, aggregation
// and printing at report time.
#include "xclip/core/profile.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "xclip/core/error.hpp"

#ifdef XCLIP_WITH_CUDA
#include "xclip/cuda/events.hpp"
#endif

namespace xclip::profile {

namespace detail {
bool g_enabled = false;
}

namespace {
using Clock = std::chrono::steady_clock;

// One end of a region: an event of the pool (CUDA window) or a clock reading (CPU window).
struct Mark {
  int event = -1;
  Clock::time_point time;
};

struct Record {
  std::string name;     // full dotted name
  int64_t parent = -1;  // record index of the enclosing region
  Mark begin, end;
  bool closed = false;
};

struct State {
  Device device = Device::cpu;
  uint64_t generation = 0;  // bumped by start(): scopes of an earlier window are ignored
  std::vector<Record> records;
  std::vector<int64_t> open;  // the stack of open regions (record indices)
  Mark window_begin, window_end;
  bool window_closed = false;
  std::string error;  // a failure while closing a region (destructors do not throw): report() rethrows it
};

State& state() {
  static State s;
  return s;
}

Mark take_mark() {
  Mark m;
#ifdef XCLIP_WITH_CUDA
  if (state().device == Device::cuda) {
    m.event = cuda::record_event();
    return m;
  }
#endif
  m.time = Clock::now();
  return m;
}

double elapsed_ms(const Mark& begin, const Mark& end) {
#ifdef XCLIP_WITH_CUDA
  if (begin.event >= 0) return cuda::elapsed_ms(begin.event, end.event);
#endif
  return std::chrono::duration<double, std::milli>(end.time - begin.time).count();
}

std::string full_name(std::string_view name, int index) {
  State& s = state();
  std::string full = s.open.empty() ? std::string() : s.records[size_t(s.open.back())].name + ".";
  full += name;
  if (index >= 0) full += "." + std::to_string(index);
  return full;
}

// Rows by name in order of first appearance, with calls and totals (self time and percentages later).
std::vector<Row> aggregate(const std::vector<double>& ms) {
  const State& s = state();
  std::vector<Row> rows;
  std::unordered_map<std::string, size_t> row_of;
  std::vector<double> child_ms;
  for (size_t i = 0; i < s.records.size(); ++i) {
    const Record& r = s.records[i];
    if (!r.closed) continue;  // still open at report time: no end to measure to
    auto [it, added] = row_of.try_emplace(r.name, rows.size());
    if (added) {
      rows.push_back({r.name, r.parent >= 0 ? s.records[size_t(r.parent)].name : std::string()});
      child_ms.push_back(0);
    }
    rows[it->second].calls += 1;
    rows[it->second].total_ms += ms[i];
    if (r.parent >= 0 && s.records[size_t(r.parent)].closed) child_ms[row_of.at(rows[it->second].parent)] += ms[i];
  }
  for (size_t i = 0; i < rows.size(); ++i) rows[i].self_ms = rows[i].total_ms - child_ms[i];
  return rows;
}

std::string format_ms(double ms) {
  char b[32];
  std::snprintf(b, sizeof b, ms >= 100 ? "%.1f" : ms >= 1 ? "%.2f" : "%.3f", ms);
  return b;
}
}  // namespace

void start(Device device) {
#ifndef XCLIP_WITH_CUDA
  XCLIP_CHECK(device == Device::cpu, "profile::start: this build has no CUDA, so no CUDA window");
#else
  if (device == Device::cuda) cuda::reset_events();  // the previous window's events are free again
#endif
  State& s = state();
  s.device = device;
  s.generation += 1;
  s.records.clear();
  s.open.clear();
  s.error.clear();
  s.window_begin = take_mark();
  s.window_end = Mark{};
  s.window_closed = false;
  detail::g_enabled = true;
}

void stop() {
  if (!detail::g_enabled) return;
  state().window_end = take_mark();
  state().window_closed = true;
  detail::g_enabled = false;
}

void Scope::open(std::string_view name, int index) {
  State& s = state();
  Record r;
  r.name = full_name(name, index);
  r.parent = s.open.empty() ? -1 : s.open.back();
  r.begin = take_mark();
  record_ = int64_t(s.records.size());
  generation_ = s.generation;
  s.records.push_back(std::move(r));
  s.open.push_back(record_);
}

void Scope::close() noexcept {
  State& s = state();
  if (generation_ != s.generation || !enabled()) return;  // the window it was opened in is gone or closed
  try {
    s.records[size_t(record_)].end = take_mark();
    s.records[size_t(record_)].closed = true;
  } catch (const std::exception& e) {
    if (s.error.empty()) s.error = e.what();
  }
  // Scopes are RAII, so the one closing is the innermost open one.
  auto it = std::find(s.open.rbegin(), s.open.rend(), record_);
  if (it != s.open.rend()) s.open.erase(std::next(it).base());
}

Report report() {
  State& s = state();
  XCLIP_CHECK(!enabled(), "profile::report: the window is still open (call profile::stop() first)");
  XCLIP_CHECK(s.error.empty(), "profile: a region failed to record: ", s.error);
  XCLIP_CHECK(s.window_closed, "profile::report: no profiling window was started and stopped");
  std::vector<double> ms(s.records.size(), 0.0);
  for (size_t i = 0; i < s.records.size(); ++i)
    if (s.records[i].closed) ms[i] = elapsed_ms(s.records[i].begin, s.records[i].end);
  Report out;
  out.device = device_name(s.device);
  out.window_ms = elapsed_ms(s.window_begin, s.window_end);
  out.rows = aggregate(ms);
  for (Row& r : out.rows) {
    r.ms_per_call = r.total_ms / double(r.calls);
    r.percent = out.window_ms > 0 ? 100.0 * r.total_ms / out.window_ms : 0.0;
    if (r.parent.empty()) out.top_level_ms += r.total_ms;
  }
  std::stable_sort(out.rows.begin(), out.rows.end(), [](const Row& a, const Row& b) { return a.total_ms > b.total_ms; });
  return out;
}

void print(const Report& report, std::FILE* out, size_t top) {
  std::vector<Row> rows = report.rows;
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.self_ms > b.self_ms; });
  if (top > 0 && rows.size() > top) rows.resize(top);
  std::fprintf(out, "profile (%s): one step of %s ms; %zu of %zu regions, by self time\n", report.device.c_str(),
               format_ms(report.window_ms).c_str(), rows.size(), report.rows.size());
  std::fprintf(out, "| region | calls | total ms | ms/call | self ms | self %% of step |\n|---|---:|---:|---:|---:|---:|\n");
  double listed_self = 0;
  for (const Row& r : rows) {
    const double self_percent = report.window_ms > 0 ? 100.0 * r.self_ms / report.window_ms : 0.0;
    std::fprintf(out, "| %s | %lld | %s | %s | %s | %.1f%% |\n", r.name.c_str(), (long long)r.calls,
                 format_ms(r.total_ms).c_str(), format_ms(r.ms_per_call).c_str(), format_ms(r.self_ms).c_str(),
                 self_percent);
    listed_self += r.self_ms;
  }
  // Self times do not overlap, so their sum is the part of the step the listed rows account for.
  const auto share = [&](double ms) { return report.window_ms > 0 ? 100.0 * ms / report.window_ms : 0.0; };
  std::fprintf(out, "the %zu regions listed cover %.1f%% of the step (self time, %s of %s ms); all top-level "
               "regions %.1f%%\n",
               rows.size(), share(listed_self), format_ms(listed_self).c_str(), format_ms(report.window_ms).c_str(),
               share(report.top_level_ms));
}

nlohmann::json to_json(const Report& report) {
  nlohmann::json rows = nlohmann::json::array();
  for (const Row& r : report.rows)
    rows.push_back({{"name", r.name},
                    {"parent", r.parent},
                    {"calls", r.calls},
                    {"total_ms", r.total_ms},
                    {"self_ms", r.self_ms},
                    {"ms_per_call", r.ms_per_call},
                    {"percent_of_step", r.percent}});
  return {{"device", report.device},
          {"step_ms", report.window_ms},
          {"top_level_ms", report.top_level_ms},
          {"timing", report.device == "cuda" ? "cudaEvents on the backend stream" : "steady_clock"},
          {"rows", rows}};
}

size_t event_pool_size() {
#ifdef XCLIP_WITH_CUDA
  return cuda::event_pool_size();
#else
  return 0;
#endif
}

}  // namespace xclip::profile
