// The bf16 autocast switch (ops.hpp): a per-thread flag read by matmul.
#include "xclip/ops.hpp"

namespace xclip::ops {

namespace {
thread_local bool g_autocast_bf16 = false;
}

bool autocast_bf16_enabled() { return g_autocast_bf16; }

AutocastBf16Guard::AutocastBf16Guard(bool enabled) : previous_(g_autocast_bf16) { g_autocast_bf16 = enabled; }

AutocastBf16Guard::~AutocastBf16Guard() { g_autocast_bf16 = previous_; }

}  // namespace xclip::ops
