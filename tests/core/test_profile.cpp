// The region profiler on the CPU (steady_clock): names by nesting, aggregation, self time, the
// instrumented model's regions, and nothing recorded while profiling is off.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <thread>

#include "core/profile_test_util.hpp"

using namespace xclip;

namespace {
const profile::Row* find_row(const profile::Report& r, const std::string& name) {
  for (const profile::Row& row : r.rows)
    if (row.name == name) return &row;
  return nullptr;
}

void busy_for(std::chrono::microseconds d) { std::this_thread::sleep_for(d); }
}  // namespace

TEST_CASE("profile: nested scopes get dotted names, calls and self time", "[profile]") {
  profile::start(Device::cpu);
  {
    profile::Scope outer("outer");
    busy_for(std::chrono::microseconds(2000));
    for (int i = 0; i < 3; ++i) {
      profile::Scope inner("inner");
      busy_for(std::chrono::microseconds(500));
    }
    profile::Scope indexed("block", 7);
  }
  profile::stop();
  const profile::Report r = profile::report();
  const profile::Row* outer = find_row(r, "outer");
  const profile::Row* inner = find_row(r, "outer.inner");
  REQUIRE(outer);
  REQUIRE(inner);
  REQUIRE(find_row(r, "outer.block.7"));
  CHECK(r.rows.size() == 3);
  CHECK(outer->calls == 1);
  CHECK(inner->calls == 3);
  CHECK(inner->parent == "outer");
  CHECK(inner->ms_per_call == Approx(inner->total_ms / 3));
  CHECK(inner->total_ms >= 1.5);
  CHECK(outer->self_ms >= 2.0);
  CHECK(outer->self_ms <= outer->total_ms - inner->total_ms + 1e-9);
  CHECK(r.top_level_ms == Approx(outer->total_ms));
  CHECK(r.window_ms >= outer->total_ms);
  CHECK(r.rows.front().name == "outer");  // rows by total time
  const nlohmann::json j = profile::to_json(r);
  CHECK(j["rows"].size() == 3);
  CHECK(j["device"] == "cpu");
}

TEST_CASE("profile: a tiny X-CLIP's forward and backward have the promised regions", "[profile]") {
  auto model = test::tiny_model(3);
  const test::TinyBatch in = test::tiny_batch(4, Device::cpu);
  const size_t events = profile::event_pool_size();
  const profile::Report r = test::profile_forward_backward(*model, in, Device::cpu);
  test::check_profile(r);
  CHECK(r.device == "cpu");
  CHECK(profile::event_pool_size() == events);  // a CPU window takes no cudaEvents
}

TEST_CASE("profile: nothing is recorded while profiling is off", "[profile]") {
  profile::start(Device::cpu);
  profile::stop();
  CHECK_FALSE(profile::enabled());
  auto model = test::tiny_model(4);
  const test::TinyBatch in = test::tiny_batch(3, Device::cpu);
  model->forward(in.ids, in.attention, in.video, in.video_mask).loss.backward();
  { profile::Scope ignored("ignored"); }
  CHECK(profile::report().rows.empty());
}

TEST_CASE("profile: report needs a closed window", "[profile]") {
  profile::start(Device::cpu);
  CHECK_THROWS_WITH(profile::report(), Catch::Contains("stop()"));
  profile::stop();
  CHECK_NOTHROW(profile::report());
}
