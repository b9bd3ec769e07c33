// The emulator's kernel launches: configuration checks, and every block run with one fiber
// per CUDA thread, switching at barriers and warp shuffles.
//
// A fiber runs until it reaches a barrier (__syncthreads: the block; __syncwarp and each half of
// a shuffle: its warp) or returns. After each round over the ready fibers, a warp whose live lanes
// all wait at a warp barrier is released, and so is the block when all its live threads wait at a
// block barrier. A barrier that some thread of its scope returned before, or one that can never
// complete (threads waiting at barriers of different scopes), stops the process with a message:
// on a GPU that is undefined behaviour or a hang.
//
// Fibers switch with a few instructions of assembly on x86-64 (callee-saved registers and the
// floating-point control words; glibc's swapcontext makes a system call per switch), with
// ucontext elsewhere. Speed: fibers still cost a switch per barrier, so only the first block of a
// launch always runs on fibers.
// When none of its threads reached a barrier, the other blocks run their threads as plain calls;
// a barrier met in that mode stops the process with a message (the kernel then needs fibers for
// every block: set XCLIP_EMU_ALL_FIBERS=1).
#include <sys/mman.h>
#include <unistd.h>
#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cuda_emu.hpp"
#include "emu_internal.hpp"

namespace xclip_emu {

thread_local uint3 tls_thread_idx;
thread_local uint3 tls_block_idx;
thread_local dim3 tls_block_dim;
thread_local dim3 tls_grid_dim;

namespace {

constexpr size_t kStackBytes = size_t(256) << 10;  // per fiber, plus a guard page below it
constexpr int kMaxThreadsPerBlock = 1024;

enum class State { ready, at_warp, at_block, done };

#if defined(__x86_64__)
// Saves the callee-saved registers, MXCSR and the x87 control word on the current stack, stores
// the stack pointer in *save, and resumes the context whose stack pointer is `load`.
extern "C" void xclip_emu_switch(void** save, void* load);
asm(R"(
  .text
  .globl xclip_emu_switch
  .type xclip_emu_switch, @function
xclip_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $16, %rsp
  stmxcsr 8(%rsp)
  fnstcw (%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  fldcw (%rsp)
  ldmxcsr 8(%rsp)
  addq $16, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size xclip_emu_switch, .-xclip_emu_switch
  .section .note.GNU-stack,"",@progbits
  .text
)");

struct Context {
  void* sp = nullptr;
};

// A stack laid out as xclip_emu_switch leaves one, whose `ret` enters `entry` as if called.
void make_context(Context& c, unsigned char* stack, size_t bytes, void (*entry)()) {
  auto* sp = reinterpret_cast<uint64_t*>((reinterpret_cast<uintptr_t>(stack) + bytes) & ~uintptr_t(15));
  *--sp = 0;                                 // entry's return address: it never returns
  *--sp = reinterpret_cast<uint64_t>(entry);  // taken by ret
  for (int r = 0; r < 6; ++r) *--sp = 0;     // rbp rbx r12 r13 r14 r15
  sp -= 2;
  uint16_t fpu_cw;
  uint32_t mxcsr;
  asm volatile("fnstcw %0" : "=m"(fpu_cw));
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  std::memcpy(&sp[0], &fpu_cw, sizeof fpu_cw);
  std::memcpy(&sp[1], &mxcsr, sizeof mxcsr);
  c.sp = sp;
}
void switch_context(Context& from, const Context& to) { xclip_emu_switch(&from.sp, to.sp); }
#else
struct Context {
  ucontext_t uc;
};
void make_context(Context& c, unsigned char* stack, size_t bytes, void (*entry)()) {
  getcontext(&c.uc);
  c.uc.uc_stack.ss_sp = stack;
  c.uc.uc_stack.ss_size = bytes;
  c.uc.uc_link = nullptr;
  makecontext(&c.uc, entry, 0);
}
void switch_context(Context& from, const Context& to) { swapcontext(&from.uc, const_cast<ucontext_t*>(&to.uc)); }
#endif

struct Fiber {
  Context context;
  State state = State::ready;
  uint3 thread;
  unsigned exchanges = 0;  // warp exchanges begun, to check that lanes agree
  std::array<unsigned char, 16> slot{};
  int predicate = 0;
};

struct Block {
  const char* file = "";
  int line = 0;
  void (*body)(void*) = nullptr;
  void* closure = nullptr;
  bool direct = false;   // threads run as plain calls (no fibers)
  bool synced = false;   // some thread reached a barrier or shuffle
  int current = -1;      // running fiber
  Context scheduler;
  std::vector<Fiber> fibers;
};

thread_local Block* tls_block = nullptr;
thread_local std::vector<unsigned char> tls_dynamic_shared;

// Fiber stacks with a PROT_NONE guard page under each, made once and reused by every launch.
struct StackPool {
  std::vector<unsigned char*> stacks;
  unsigned char* get(size_t i) {
    while (stacks.size() <= i) {
      const size_t page = size_t(sysconf(_SC_PAGESIZE));
      void* p = mmap(nullptr, kStackBytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0);
      if (p == MAP_FAILED) fail("cannot map a fiber stack");
      mprotect(p, page, PROT_NONE);
      stacks.push_back(static_cast<unsigned char*>(p) + page);
    }
    return stacks[i];
  }
};
thread_local StackPool tls_stacks;

std::string where() {
  const Block* b = tls_block;
  if (!b) return "outside any kernel";
  std::string s = std::string("kernel launched at ") + b->file + ":" + std::to_string(b->line);
  s += ", block (" + std::to_string(tls_block_idx.x) + "," + std::to_string(tls_block_idx.y) + "," +
       std::to_string(tls_block_idx.z) + ")";
  if (b->current >= 0 || b->direct)
    s += ", thread (" + std::to_string(tls_thread_idx.x) + "," + std::to_string(tls_thread_idx.y) + "," +
         std::to_string(tls_thread_idx.z) + ")";
  return s;
}

// XCLIP_EMU_ORDER=reverse (or set_reverse_order) runs blocks, and the threads of each round,
// last to first: a kernel whose result depends on the order (a missing barrier, a read of another
// block's output, a non-atomic update shared between threads) then gives a different answer.
std::atomic<int> g_reverse{-1};  // -1: not yet read from the environment

bool reverse_order() {
  int r = g_reverse.load();
  if (r < 0) {
    const char* v = std::getenv("XCLIP_EMU_ORDER");
    r = v && std::strcmp(v, "reverse") == 0 ? 1 : 0;
    g_reverse.store(r);
  }
  return r == 1;
}

// The i-th of n in the run order.
size_t in_order(size_t i, size_t n) { return reverse_order() ? n - 1 - i : i; }

bool all_fibers_mode() {
  static const bool on = [] {
    const char* v = std::getenv("XCLIP_EMU_ALL_FIBERS");
    return v && *v && std::strcmp(v, "0") != 0;
  }();
  return on;
}

// The coordinates of the i-th of the x-fastest index space `d`.
uint3 coords_of(size_t i, const dim3& d) {
  return uint3{unsigned(i % d.x), unsigned(i / d.x % d.y), unsigned(i / (size_t(d.x) * d.y))};
}

int linear_thread(const uint3& t) {
  return int(t.x + t.y * tls_block_dim.x + t.z * tls_block_dim.x * tls_block_dim.y);
}

Fiber& current_fiber(const char* what) {
  Block* b = tls_block;
  if (!b) fail((std::string(what) + " called outside a kernel").c_str());
  if (b->direct)
    fail((std::string(what) +
          " reached in a block run without fibers (the launch's first block reached no barrier); rerun with "
          "XCLIP_EMU_ALL_FIBERS=1")
             .c_str());
  b->synced = true;
  return b->fibers[size_t(b->current)];
}

void yield(Fiber& f, State s) {
  f.state = s;
  switch_context(f.context, tls_block->scheduler);
}

// A fiber's whole life: the thread's kernel body, then back to the scheduler for good.
void fiber_entry() {
  Block& b = *tls_block;
  b.body(b.closure);
  Fiber& f = b.fibers[size_t(b.current)];
  f.state = State::done;
  switch_context(f.context, b.scheduler);
  std::abort();  // a finished fiber is never resumed
}

void set_thread(const uint3& t) { tls_thread_idx = t; }

std::string describe_states(const Block& b) {
  int counts[4] = {0, 0, 0, 0};
  for (const Fiber& f : b.fibers) counts[int(f.state)]++;
  return "threads at a warp barrier: " + std::to_string(counts[1]) + ", at a block barrier: " +
         std::to_string(counts[2]) + ", returned: " + std::to_string(counts[3]);
}

// Releases the barriers whose scope is complete; false when nothing could be released.
bool release_barriers(Block& b) {
  const size_t n = b.fibers.size();
  bool any_block_waiter = false, all_at_block = true;
  size_t returned = 0;
  for (const Fiber& f : b.fibers) {
    if (f.state == State::done) ++returned;
    else if (f.state == State::at_block) any_block_waiter = true;
    else all_at_block = false;
  }
  bool released = false;
  if (any_block_waiter && all_at_block) {
    // CUDA requires every thread of the block to reach the barrier; one that returned first is
    // undefined behaviour (a hang on older GPUs), though today's hardware lets it pass.
    if (returned)
      fail(("__syncthreads after " + std::to_string(returned) + " of the block's threads returned").c_str());
    for (Fiber& f : b.fibers)
      if (f.state == State::at_block) f.state = State::ready;
    return true;
  }
  for (size_t w0 = 0; w0 < n; w0 += 32) {
    const size_t w1 = std::min(n, w0 + 32);
    bool any = false, all = true, returned = false;
    for (size_t i = w0; i < w1; ++i) {
      if (b.fibers[i].state == State::done) {
        returned = true;
        continue;
      }
      if (b.fibers[i].state == State::at_warp) any = true;
      else all = false;
    }
    if (any && all) {
      if (returned) fail("a full-mask __syncwarp or shuffle after a lane of the warp returned");
      for (size_t i = w0; i < w1; ++i)
        if (b.fibers[i].state == State::at_warp) b.fibers[i].state = State::ready;
      released = true;
    }
  }
  return released;
}

void run_block_with_fibers(Block& b) {
  const dim3 bd = tls_block_dim;
  const size_t n = size_t(bd.x) * bd.y * bd.z;
  b.fibers.assign(n, Fiber{});
  b.direct = false;
  for (size_t i = 0; i < n; ++i) {
    Fiber& f = b.fibers[i];
    f.thread = coords_of(i, bd);
    make_context(f.context, tls_stacks.get(i), kStackBytes, fiber_entry);
  }
  for (;;) {
    for (size_t k = 0; k < n; ++k) {
      const size_t i = in_order(k, n);
      if (b.fibers[i].state != State::ready) continue;
      b.current = int(i);
      set_thread(b.fibers[i].thread);
      switch_context(b.scheduler, b.fibers[i].context);
    }
    b.current = -1;
    bool live = false;
    for (const Fiber& f : b.fibers) live = live || f.state != State::done;
    if (!live) return;
    if (!release_barriers(b))
      fail(("the block's threads wait at barriers that cannot complete (" + describe_states(b) + ")").c_str());
  }
}

void run_block_direct(Block& b) {
  const dim3 bd = tls_block_dim;
  b.direct = true;
  const size_t n = size_t(bd.x) * bd.y * bd.z;
  for (size_t k = 0; k < n; ++k) {
    set_thread(coords_of(in_order(k, n), bd));
    b.body(b.closure);
  }
}

void poison_dynamic_shared(size_t bytes) {
  tls_dynamic_shared.assign(bytes + 16, 0x7f);  // unwritten floats read as NaN-like garbage
}

bool valid_config(const LaunchConfig& c, const void* kernel) {
  const unsigned long long threads = 1ull * c.block.x * c.block.y * c.block.z;
  if (threads == 0 || threads > kMaxThreadsPerBlock || c.block.z > 64) return false;
  if (c.grid.x == 0 || c.grid.y == 0 || c.grid.z == 0) return false;
  if (c.grid.x > 0x7fffffffu || c.grid.y > 65535 || c.grid.z > 65535) return false;
  return c.shared_bytes <= max_dynamic_shared(kernel);
}

}  // namespace

void check_kernel_pointer(const void* p, int index, const LaunchConfig& config) {
  if (!p || is_device_pointer(p)) return;
  std::fprintf(stderr, "cuda-emu: kernel launched at %s:%d: argument %d (%p) is not device memory\n", config.file,
               config.line, index, p);
  std::fflush(stderr);
  std::abort();
}

void set_reverse_order(bool reverse) { g_reverse.store(reverse ? 1 : 0); }
bool reverse_order_enabled() { return reverse_order(); }

void fail(const char* what) {
  std::fprintf(stderr, "cuda-emu: %s (%s)\n", what, where().c_str());
  std::fflush(stderr);
  std::abort();
}

void run_grid(const LaunchConfig& config, const void* kernel, void (*body)(void*), void* closure) {
  if (tls_block) fail("a kernel launched from inside a kernel");
  if (!valid_config(config, kernel)) {
    std::fprintf(stderr,
                 "cuda-emu: invalid launch at %s:%d: grid (%u,%u,%u), block (%u,%u,%u), %zu bytes of dynamic "
                 "shared memory (limit %zu)\n",
                 config.file, config.line, config.grid.x, config.grid.y, config.grid.z, config.block.x,
                 config.block.y, config.block.z, config.shared_bytes, max_dynamic_shared(kernel));
    set_last_error(config.shared_bytes > max_dynamic_shared(kernel) ? cudaErrorInvalidValue
                                                                     : cudaErrorInvalidConfiguration);
    return;
  }
  DeviceAccess access;
  Block block;
  block.file = config.file;
  block.line = config.line;
  block.body = body;
  block.closure = closure;
  tls_block = &block;
  tls_grid_dim = config.grid;
  tls_block_dim = config.block;
  bool fibers = true;
  const dim3 g = config.grid;
  const size_t blocks = size_t(g.x) * g.y * g.z;
  for (size_t k = 0; k < blocks; ++k) {
    tls_block_idx = coords_of(in_order(k, blocks), g);
    poison_dynamic_shared(config.shared_bytes);
    if (fibers) {
      run_block_with_fibers(block);
      fibers = block.synced || all_fibers_mode();
    } else {
      run_block_direct(block);
    }
  }
  tls_block = nullptr;
}

void sync_block() { yield(current_fiber("__syncthreads"), State::at_block); }

void sync_warp() { yield(current_fiber("__syncwarp"), State::at_warp); }

int sync_block_or(int predicate) {
  Fiber& f = current_fiber("__syncthreads_or");
  f.predicate = predicate;
  yield(f, State::at_block);
  int any = 0;
  for (const Fiber& g : tls_block->fibers) {
    if (g.state == State::done) fail("__syncthreads_or after some threads of the block returned");
    any |= g.predicate != 0;
  }
  yield(f, State::at_block);  // every thread has read the predicates before any writes again
  return any;
}

void* dynamic_shared() {
  auto addr = reinterpret_cast<uintptr_t>(tls_dynamic_shared.data());
  return tls_dynamic_shared.data() + ((16 - addr % 16) % 16);
}

int lane_id() {
  if (!tls_block) fail("lane id outside a kernel");
  return linear_thread(tls_thread_idx) & 31;
}

void warp_exchange(const void* value, void* out, size_t bytes, int src_lane) {
  Fiber& f = current_fiber("a warp shuffle");
  Block& b = *tls_block;
  if (bytes > f.slot.size()) fail("a warp shuffle of more than 16 bytes");
  const size_t me = size_t(b.current), warp0 = me / 32 * 32;
  if (warp0 + 32 > b.fibers.size()) fail("a full-mask warp shuffle in a warp of fewer than 32 threads");
  std::memcpy(f.slot.data(), value, bytes);
  const unsigned seq = ++f.exchanges;
  yield(f, State::at_warp);
  const Fiber& src = b.fibers[warp0 + size_t(src_lane)];
  if (src.exchanges != seq)
    fail(("a full-mask warp shuffle that lane " + std::to_string(src_lane) +
          (src.state == State::done ? " never reached (it returned)" : " reached a different number of times"))
             .c_str());
  std::memcpy(out, src.slot.data(), bytes);
  yield(f, State::at_warp);  // every lane has read before any lane offers its next value
}

}  // namespace xclip_emu
