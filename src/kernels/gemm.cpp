// CPU GEMM: row-major C = alpha·op(A)·op(B) + beta·C, and its batched form.
//
// The blocked algorithm of GotoBLAS/BLIS: for each NC-wide column block of C and each KC-deep
// slice of K, op(B)[KC×NC] is packed into contiguous NR-wide panels (shared by the threads, meant
// to stay in L3); each thread then packs MC×KC blocks of op(A) into MR-high panels (L2) and sweeps
// the register-tile micro-kernel over them, one B panel (L1) against all A panels. Transposes are
// absorbed by the packing, so the micro-kernel sees one layout. The micro-kernel and packers are
// chosen at run time for the CPU (AVX-512, AVX2+FMA or portable vectors; see gemm_kernel.hpp).
//
// Results do not depend on the thread count: the K slicing (KC) and the per-element summation
// order are fixed by the kernel alone; threads only decide who computes which tiles. So 1 and N
// threads give bitwise identical C (tested).
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>

#include "gemm_kernel.hpp"
#include "xclip/core/error.hpp"
#include "xclip/kernels/cpu.hpp"

namespace xclip::cpu {
namespace gemm_detail {
namespace {

// Below this many multiply-adds the packing would cost more than it saves: a plain loop.
constexpr int64_t kSmallWork = 32 * 1024;
// Below this many multiply-adds (≈ tens of µs) a parallel region costs more than it saves.
constexpr int64_t kParallelWork = 1 << 18;
// Batches of GEMMs smaller than this run one GEMM per thread instead of all threads per GEMM.
constexpr int64_t kBatchParallelWork = 1 << 22;

std::atomic<int> g_threads{0};  // 0 = OpenMP's default

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

template <class T>
struct Problem {
  bool ta, tb;
  int64_t M, N, K;
  T alpha;
  const T* A;
  int64_t lda;
  const T* B;
  int64_t ldb;
  T beta;
  T* C;
  int64_t ldc;
};

// ---- instruction-set choice ------------------------------------------------------------------

enum class Isa : int { generic = 0, avx2 = 1, avx512 = 2 };

bool cpu_supports(Isa isa) {
#if defined(__x86_64__) || defined(__i386__)
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  switch (isa) {
    case Isa::avx512:
      return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw");
    case Isa::avx2:
      return avx2;
    case Isa::generic:
      return true;
  }
  return false;
#else
  return isa == Isa::generic;
#endif
}

bool parse_isa(const char* name, Isa* out) {
  const std::string_view s = name ? name : "";
  if (s == "avx512") *out = Isa::avx512;
  else if (s == "avx2") *out = Isa::avx2;
  else if (s == "generic") *out = Isa::generic;
  else if (s.empty()) *out = cpu_supports(Isa::avx512) ? Isa::avx512 : cpu_supports(Isa::avx2) ? Isa::avx2 : Isa::generic;
  else return false;
  return cpu_supports(*out);
}

std::atomic<int> g_isa{-1};  // -1 = not chosen yet

Isa current_isa() {
  int v = g_isa.load(std::memory_order_relaxed);
  if (v < 0) {
    Isa isa = Isa::generic;
    if (!parse_isa(std::getenv("XCLIP_GEMM_ISA"), &isa)) parse_isa("", &isa);
    v = int(isa);
    g_isa.store(v, std::memory_order_relaxed);  // racing first calls store the same value
  }
  return Isa(v);
}

const GemmKernel<float>& kernel_for(float*) {
  switch (current_isa()) {
    case Isa::avx512: return avx512_kernel_f32();
    case Isa::avx2: return avx2_kernel_f32();
    default: return generic_kernel_f32();
  }
}
const GemmKernel<double>& kernel_for(double*) {
  switch (current_isa()) {
    case Isa::avx512: return avx512_kernel_f64();
    case Isa::avx2: return avx2_kernel_f64();
    default: return generic_kernel_f64();
  }
}
template <class T>
const GemmKernel<T>& kernel() {
  return kernel_for(static_cast<T*>(nullptr));
}

// ---- scratch memory --------------------------------------------------------------------------

// A 64-byte-aligned buffer that only grows, one per calling thread, kept between calls so that
// steady-state GEMMs allocate nothing. All packing space of a call is carved out of it before any
// parallel region starts (no allocation, hence no exception, inside one).
class Scratch {
 public:
  ~Scratch() { std::free(p_); }
  template <class T>
  T* get(int64_t count) {
    const size_t bytes = size_t(round_up(std::max<int64_t>(count, 1) * int64_t(sizeof(T)), 64));
    if (bytes > size_) {
      std::free(p_);
      p_ = std::aligned_alloc(64, bytes);
      size_ = p_ ? bytes : 0;
      if (!p_) throw std::bad_alloc();
    }
    return static_cast<T*>(p_);
  }

 private:
  void* p_ = nullptr;
  size_t size_ = 0;
};
thread_local Scratch t_scratch;

// The cache blocks actually used for one problem (never larger than the problem needs).
struct Blocks {
  int64_t mc, kc, nc;
};
template <class T>
Blocks blocks_for(const GemmKernel<T>& kr, const Problem<T>& g) {
  return {std::min(kr.mc, round_up(g.M, kr.mr)), std::min(kr.kc, g.K), std::min(kr.nc, round_up(g.N, kr.nr))};
}
// Elements of packing space for one thread-team: the shared B panel plus one A block per thread.
template <class T>
int64_t workspace_elems(const GemmKernel<T>& kr, const Problem<T>& g, int threads) {
  const Blocks b = blocks_for(kr, g);
  return b.kc * b.nc + int64_t(threads) * b.mc * b.kc + 64;
}

// ---- the blocked algorithm -------------------------------------------------------------------

// A tile on the matrix edge: run the full micro-kernel into a local buffer (the packed operands
// are zero-padded), then apply alpha/beta to the valid part exactly as the micro-kernel would.
template <class T>
void edge_tile(const GemmKernel<T>& kr, int64_t kc, const T* a, const T* b, T* c, int64_t ldc, int64_t rows,
               int64_t cols, T alpha, T beta) {
  alignas(64) T buf[kMaxMr * kMaxNr];
  kr.tile(kc, a, b, buf, kr.nr, T(1), T(0));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) {
      const T v = alpha * buf[r * kr.nr + j];
      c[r * ldc + j] = beta == T(0) ? v : std::fma(beta, c[r * ldc + j], v);
    }
}

// C[0:m, panels q0..q1) += packed A block (m rows) × packed B panels; one B panel stays hot in L1
// while every A panel streams past it.
template <class T>
void macro_kernel(const GemmKernel<T>& kr, const T* pa, int64_t m, const T* pb, int64_t q0, int64_t q1, int64_t n,
                  int64_t kc, T alpha, T beta, T* c, int64_t ldc) {
  for (int64_t q = q0; q < q1; ++q) {
    const int64_t j = q * kr.nr, cols = std::min<int64_t>(kr.nr, n - j);
    const T* b = pb + j * kc;
    for (int64_t i = 0; i < m; i += kr.mr) {
      const int64_t rows = std::min<int64_t>(kr.mr, m - i);
      if (rows == kr.mr && cols == kr.nr)
        kr.tile(kc, pa + i * kc, b, c + i * ldc + j, ldc, alpha, beta);
      else
        edge_tile(kr, kc, pa + i * kc, b, c + i * ldc + j, ldc, rows, cols, alpha, beta);
    }
  }
}

// [begin, end) of `count` items for part `index` of `parts` (sizes differ by at most one).
struct Range {
  int64_t begin, end;
};
Range share(int64_t count, int64_t index, int64_t parts) {
  return {count * index / parts, count * (index + 1) / parts};
}

// How `threads` split the C block: tm row groups × tn column groups. Rows are preferred (each
// thread then packs only its own rows of A) while every row group keeps a few register tiles.
struct Grid {
  int tm, tn;
};
Grid thread_grid(int threads, int64_t row_tiles) {
  for (int d = threads; d > 1; --d)
    if (threads % d == 0 && row_tiles >= 4 * int64_t(d)) return {d, threads / d};
  return {1, threads};
}

// The whole blocked GEMM as seen by thread `tid` of `threads` (call from inside a parallel region
// with every thread, or with threads = 1). pack_b is shared; pack_a is this thread's.
template <class T>
void blocked_gemm(const GemmKernel<T>& kr, const Problem<T>& g, T* pack_b, T* pack_a, int tid, int threads) {
  const Blocks bl = blocks_for(kr, g);
  const Grid grid = thread_grid(threads, ceil_div(g.M, kr.mr));
  const int ti = tid / grid.tn, tj = tid % grid.tn;
  const Range row_tiles = share(ceil_div(g.M, kr.mr), ti, grid.tm);
  const int64_t row_begin = row_tiles.begin * kr.mr, row_end = std::min(g.M, row_tiles.end * kr.mr);
  for (int64_t jc = 0; jc < g.N; jc += bl.nc) {
    const int64_t n = std::min(bl.nc, g.N - jc), panels = ceil_div(n, kr.nr);
    const Range mine = share(panels, tj, grid.tn);
    for (int64_t pc = 0; pc < g.K; pc += bl.kc) {
      const int64_t kc = std::min(bl.kc, g.K - pc);
      const T beta = pc == 0 ? g.beta : T(1);  // later K slices accumulate onto the first
      const Range packs = share(panels, tid, threads);
      if (packs.end > packs.begin) {
        const int64_t j0 = packs.begin * kr.nr, j1 = std::min(n, packs.end * kr.nr);
        kr.pack_b(g.tb, g.B, g.ldb, pc, kc, jc + j0, j1 - j0, pack_b + j0 * kc);
      }
      if (threads > 1) {
#pragma omp barrier
      }
      for (int64_t ic = row_begin; ic < row_end; ic += bl.mc) {
        const int64_t m = std::min(bl.mc, row_end - ic);
        kr.pack_a(g.ta, g.A, g.lda, ic, m, pc, kc, pack_a);
        macro_kernel(kr, pack_a, m, pack_b, mine.begin, mine.end, n, kc, g.alpha, beta, g.C + ic * g.ldc + jc,
                     g.ldc);
      }
      if (threads > 1) {  // the B panel is overwritten next round
#pragma omp barrier
      }
    }
  }
}

// ---- small problems and trivial cases --------------------------------------------------------

// Plain loops, no packing: for products too small to amortise it. Same alpha/beta rule.
template <class T>
void small_gemm(const Problem<T>& g) {
  constexpr int64_t kChunk = 256;
  T acc[kChunk];
  for (int64_t i = 0; i < g.M; ++i) {
    for (int64_t j0 = 0; j0 < g.N; j0 += kChunk) {
      const int64_t nb = std::min(kChunk, g.N - j0);
      if (!g.tb) {
        std::fill(acc, acc + nb, T(0));
        for (int64_t k = 0; k < g.K; ++k) {
          const T a = g.ta ? g.A[k * g.lda + i] : g.A[i * g.lda + k];
          const T* b = g.B + k * g.ldb + j0;
          for (int64_t j = 0; j < nb; ++j) acc[j] += a * b[j];
        }
      } else {
        for (int64_t j = 0; j < nb; ++j) {
          const T* b = g.B + (j0 + j) * g.ldb;
          T s = 0;
          for (int64_t k = 0; k < g.K; ++k) s += (g.ta ? g.A[k * g.lda + i] : g.A[i * g.lda + k]) * b[k];
          acc[j] = s;
        }
      }
      T* c = g.C + i * g.ldc + j0;
      for (int64_t j = 0; j < nb; ++j) {
        const T v = g.alpha * acc[j];
        c[j] = g.beta == T(0) ? v : std::fma(g.beta, c[j], v);
      }
    }
  }
}

// alpha == 0 or K == 0: C = beta·C (zeros when beta == 0, without reading C).
template <class T>
void scale_c(const Problem<T>& g) {
  for (int64_t i = 0; i < g.M; ++i) {
    T* c = g.C + i * g.ldc;
    if (g.beta == T(0))
      std::fill(c, c + g.N, T(0));
    else
      for (int64_t j = 0; j < g.N; ++j) c[j] *= g.beta;
  }
}

template <class T>
void check_problem(const char* who, const Problem<T>& g) {
  XCLIP_CHECK(g.M >= 0 && g.N >= 0 && g.K >= 0, who, ": negative size M=", g.M, " N=", g.N, " K=", g.K);
  const int64_t a_cols = g.ta ? g.M : g.K, b_cols = g.tb ? g.K : g.N;
  XCLIP_CHECK(g.lda >= std::max<int64_t>(a_cols, 1) && g.ldb >= std::max<int64_t>(b_cols, 1) &&
                  g.ldc >= std::max<int64_t>(g.N, 1),
              who, ": row stride too small (M=", g.M, " N=", g.N, " K=", g.K, ", lda=", g.lda, " ldb=", g.ldb,
              " ldc=", g.ldc, ", trans_a=", g.ta, " trans_b=", g.tb, ")");
}

template <class T>
int64_t work_of(const Problem<T>& g) {
  return g.M * g.N * g.K;
}

// One GEMM with up to `threads` threads; `ws` holds workspace_elems(kr, g, threads) elements.
template <class T>
void run_one(const GemmKernel<T>& kr, const Problem<T>& g, int threads, T* ws) {
  if (g.M == 0 || g.N == 0) return;
  if (g.K == 0 || g.alpha == T(0)) return scale_c(g);
  if (work_of(g) < kSmallWork) return small_gemm(g);
  const Blocks bl = blocks_for(kr, g);
  T* pack_b = ws;
  T* pack_a = ws + round_up(bl.kc * bl.nc, 16);
  if (threads <= 1 || work_of(g) < kParallelWork) return blocked_gemm(kr, g, pack_b, pack_a, 0, 1);
#pragma omp parallel num_threads(threads)
  {
    const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
    blocked_gemm(kr, g, pack_b, pack_a + int64_t(tid) * bl.mc * bl.kc, tid, nth);
  }
}

}  // namespace

bool select_isa(const char* name) {
  Isa isa = Isa::generic;
  if (!parse_isa(name, &isa)) return false;
  g_isa.store(int(isa));
  return true;
}

const char* selected_isa() {
  switch (current_isa()) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "generic";
  }
}

}  // namespace gemm_detail

using namespace gemm_detail;

int num_threads() {
  const int n = g_threads.load();
  return n > 0 ? n : omp_get_max_threads();
}

void set_num_threads(int n) { g_threads.store(std::max(n, 0)); }

template <class T>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc) {
  const Problem<T> g{ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc};
  check_problem("gemm", g);
  const GemmKernel<T>& kr = kernel<T>();
  const int threads = num_threads();
  run_one(kr, g, threads, t_scratch.get<T>(workspace_elems(kr, g, threads)));
}

template <class T>
void gemm_batched(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                  int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C, int64_t ldc,
                  int64_t stride_c, int64_t batch) {
  const Problem<T> g{ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc};
  check_problem("gemm_batched", g);
  XCLIP_CHECK(batch >= 0, "gemm_batched: negative batch ", batch);
  if (batch == 0 || M == 0 || N == 0) return;
  const GemmKernel<T>& kr = kernel<T>();
  const int threads = num_threads();
  auto entry = [&](int64_t i) {
    Problem<T> e = g;
    e.A += i * stride_a;
    e.B += i * stride_b;
    e.C += i * stride_c;
    return e;
  };
  // Many small products: one per thread at a time. (stride_c == 0 accumulates into one C, so
  // those entries must run in order.)
  const bool per_thread = threads > 1 && batch > 1 && stride_c != 0 &&
                          (work_of(g) < kBatchParallelWork || batch >= 4 * int64_t(threads));
  if (!per_thread) {
    T* ws = t_scratch.get<T>(workspace_elems(kr, g, threads));
    for (int64_t i = 0; i < batch; ++i) run_one(kr, entry(i), threads, ws);
    return;
  }
  const int64_t per_ws = round_up(workspace_elems(kr, g, 1), 16);
  T* ws = t_scratch.get<T>(per_ws * threads);
#pragma omp parallel for schedule(dynamic) num_threads(int(std::min<int64_t>(threads, batch)))
  for (int64_t i = 0; i < batch; ++i) run_one(kr, entry(i), 1, ws + per_ws * omp_get_thread_num());
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);
template void gemm_batched<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, int64_t,
                                  const float*, int64_t, int64_t, float, float*, int64_t, int64_t, int64_t);
template void gemm_batched<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, int64_t,
                                   const double*, int64_t, int64_t, double, double*, int64_t, int64_t, int64_t);

}  // namespace xclip::cpu
