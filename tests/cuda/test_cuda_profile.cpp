// The region profiler on the GPU: cudaEvents on the backend stream give the same regions and the
// same nesting rules as the CPU's clock, and the event pool is reused from step to step.
#include <catch2/catch.hpp>

#include "core/profile_test_util.hpp"
#include "cuda_test_util.hpp"

#ifdef XCLIP_WITH_CUDA
using namespace xclip;

TEST_CASE("cuda profile: a GPU step has the promised regions and reuses its events", "[cuda][profile]") {
  XCLIP_REQUIRE_GPU();
  auto model = test::tiny_model(3);
  model->to(Device::cuda);
  const test::TinyBatch in = test::tiny_batch(4, Device::cuda);
  const profile::Report first = test::profile_forward_backward(*model, in, Device::cuda);
  test::check_profile(first);
  CHECK(first.device == "cuda");
  const size_t events = profile::event_pool_size();
  CHECK(events > 0);
  const profile::Report second = test::profile_forward_backward(*model, in, Device::cuda);
  test::check_profile(second);
  CHECK(profile::event_pool_size() == events);
  CHECK(second.rows.size() == first.rows.size());
}
#endif
