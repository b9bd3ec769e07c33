// The profiler's timing events (cuda/profile.cu): a pool of cudaEvents, each recorded on the
// backend stream and named here by its index in the pool. Only compiled with XCLIP_WITH_CUDA.
#pragma once
#include <cstddef>

namespace xclip::cuda {

// Records the next free event of the pool on xclip::cuda::stream() and returns its index; the
// pool creates an event only when every one it holds is in use since the last reset_events().
int record_event();
// Makes every event free again (the next window reuses them). Their times must have been read.
void reset_events();
// Waits until the event has completed, then returns the milliseconds from `start` to `end`.
double elapsed_ms(int start, int end);
size_t event_pool_size();

}  // namespace xclip::cuda
