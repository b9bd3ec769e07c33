// The profiler's event pool (include/xclip/cuda/events.hpp). Events are created once and kept for
// the life of the process, so a steady-state profiled step makes no cudaEventCreate call.
#include <vector>

#include "common.cuh"
#include "xclip/cuda/events.hpp"

namespace xclip::cuda {

namespace {
struct EventPool {
  std::vector<cudaEvent_t> events;  // never destroyed: destruction at exit races the driver
  size_t in_use = 0;
};

EventPool& pool() {
  static EventPool p;
  return p;
}

cudaEvent_t event_at(int index) {
  XCLIP_CHECK(index >= 0 && size_t(index) < pool().in_use, "profile: event ", index, " is not recorded (",
              pool().in_use, " in use)");
  return pool().events[size_t(index)];
}
}  // namespace

int record_event() {
  EventPool& p = pool();
  if (p.in_use == p.events.size()) {
    cudaEvent_t e = nullptr;
    XCLIP_CUDA_CHECK(cudaEventCreate(&e));  // timing enabled (cudaEventDefault)
    p.events.push_back(e);
  }
  XCLIP_CUDA_CHECK(cudaEventRecord(p.events[p.in_use], cuda_stream()));
  return int(p.in_use++);
}

void reset_events() { pool().in_use = 0; }

double elapsed_ms(int start, int end) {
  const cudaEvent_t a = event_at(start), b = event_at(end);
  XCLIP_CUDA_CHECK(cudaEventSynchronize(b));
  float ms = 0;
  XCLIP_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
  return double(ms);
}

size_t event_pool_size() { return pool().events.size(); }

}  // namespace xclip::cuda
