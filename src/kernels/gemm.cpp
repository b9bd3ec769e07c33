// CPU GEMM: row-major C = alpha·op(A)·op(B) + beta·C, and its batched form.
//
// The blocked algorithm of GotoBLAS/BLIS: for each NC-wide column block of C and each KC-deep
// slice of K, op(B)[KC×NC] is packed into contiguous NR-wide panels (meant to stay in L3); then
// MC×KC blocks of op(A) are packed into MR-high panels (L2) and the register-tile micro-kernel
// sweeps one B micro-panel (L1) against all A micro-panels. Transposes are absorbed by the
// packing, so the micro-kernel sees one layout. The micro-kernel and packers are chosen at run
// time for the CPU (AVX-512, AVX2+FMA or portable vectors; see gemm_kernel.hpp). Threads take
// independent rectangles of C (see "threads" below); batches of small products go one per thread.
//
// Results do not depend on the thread count: the K slicing (KC), the register tiles (aligned to
// the matrix origin) and each element's summation order are fixed by the kernel alone; threads
// only decide who computes which tiles. So 1 and N threads give bitwise identical C (tested).
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>
#include <vector>

#include "gemm_kernel.hpp"
#include "xclip/core/error.hpp"
#include "xclip/kernels/cpu.hpp"

namespace xclip::cpu {
namespace gemm_detail {
namespace {

// Below this many multiply-adds the packing would cost more than it saves: a plain loop.
constexpr int64_t kSmallWork = 32 * 1024;
// Below this many multiply-adds (≈ 10-20 µs on one core) a parallel region costs more than it saves.
constexpr int64_t kParallelWork = 1 << 21;
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

GemmKernelFamily<float> family_for(float*) {
  switch (current_isa()) {
    case Isa::avx512: return avx512_kernels_f32();
    case Isa::avx2: return avx2_kernels_f32();
    default: return generic_kernels_f32();
  }
}
GemmKernelFamily<double> family_for(double*) {
  switch (current_isa()) {
    case Isa::avx512: return avx512_kernels_f64();
    case Isa::avx2: return avx2_kernels_f64();
    default: return generic_kernels_f64();
  }
}

// The tile for a product of M rows: least padded-row work, weighted by each tile's speed.
// (Depends on M alone, never on the thread count; all tiles of a family agree bitwise anyway.)
template <class T>
const GemmKernel<T>& kernel_for(int64_t M) {
  const GemmKernelFamily<T> f = family_for(static_cast<T*>(nullptr));
  const GemmKernel<T>* best = &f.tiles[0];
  double best_cost = 0;
  for (int i = 0; i < f.count; ++i) {
    const GemmKernel<T>& k = f.tiles[i];
    const double cost = double(round_up(std::max<int64_t>(M, 1), k.mr)) * k.slowdown;
    if (i == 0 || cost < best_cost) best = &k, best_cost = cost;
  }
  return *best;
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
// Elements of packing space one thread needs: a B panel and an A block (rounded for alignment).
template <class T>
int64_t workspace_elems(const GemmKernel<T>& kr, const Problem<T>& g) {
  const Blocks b = blocks_for(kr, g);
  return round_up(b.kc * b.nc, 16) + round_up(b.mc * b.kc, 16);
}

// ---- the blocked algorithm -------------------------------------------------------------------

// C[0:m, 0:n] = packed A block (m rows) × packed B panel (n columns), with alpha/beta; one B
// micro-panel stays hot in L1 while every A micro-panel streams past it from L2.
template <class T>
void macro_kernel(const GemmKernel<T>& kr, const T* pa, int64_t m, const T* pb, int64_t n, int64_t kc, T alpha,
                  T beta, T* c, int64_t ldc) {
  for (int64_t j = 0; j < n; j += kr.nr) {
    const int64_t cols = std::min<int64_t>(kr.nr, n - j);
    const T* b = pb + j * kc;
    for (int64_t i = 0; i < m; i += kr.mr) {
      const int64_t rows = std::min<int64_t>(kr.mr, m - i);
      kr.tile(kc, pa + i * kc, b, c + i * ldc + j, ldc, alpha, beta, int(rows), int(cols));
    }
  }
}

// The blocked GEMM on one thread. ws holds workspace_elems(kr, g) elements: a B panel and an A block.
template <class T>
void blocked_gemm(const GemmKernel<T>& kr, const Problem<T>& g, T* ws) {
  const Blocks bl = blocks_for(kr, g);
  T* pack_b = ws;
  T* pack_a = ws + round_up(bl.kc * bl.nc, 16);
  for (int64_t jc = 0; jc < g.N; jc += bl.nc) {
    const int64_t n = std::min(bl.nc, g.N - jc);
    for (int64_t pc = 0; pc < g.K; pc += bl.kc) {
      const int64_t kc = std::min(bl.kc, g.K - pc);
      const T beta = pc == 0 ? g.beta : T(1);  // later K slices accumulate onto the first
      kr.pack_b(g.tb, g.B, g.ldb, pc, kc, jc, n, pack_b);
      for (int64_t ic = 0; ic < g.M; ic += bl.mc) {
        const int64_t m = std::min(bl.mc, g.M - ic);
        kr.pack_a(g.ta, g.A, g.lda, ic, m, pc, kc, pack_a);
        macro_kernel(kr, pack_a, m, pack_b, n, kc, g.alpha, beta, g.C + ic * g.ldc + jc, g.ldc);
      }
    }
  }
}

// ---- threads ---------------------------------------------------------------------------------
//
// The threads split C into a tm × tn grid of rectangles on register-tile boundaries, and each
// computes its rectangle as an independent GEMM with its own packing buffers: no shared panel,
// no barrier inside the product. (On a machine whose cores are also busy with other work a
// barrier waits for a descheduled thread for a whole time slice; measured, a per-K-slice barrier
// made small products 100× slower there.) The price is that each column group packs its rows of
// A and each row group its columns of B; the grid is chosen to keep that small.

struct Grid {
  int tm, tn;
};

// Estimated cost, in multiply-adds, of the slowest thread of a tm × tn grid: its share of the
// product (whole tiles, so imbalance counts) plus its packing (a packed element ≈ 8 multiply-adds).
template <class T>
double grid_cost(const GemmKernel<T>& kr, const Problem<T>& g, int tm, int tn) {
  const int64_t rows = ceil_div(ceil_div(g.M, kr.mr), tm) * kr.mr;
  const int64_t cols = ceil_div(ceil_div(g.N, kr.nr), tn) * kr.nr;
  const double pack = double(g.K) * (double(rows) * double(ceil_div(cols, kr.nc)) + double(cols));
  return double(rows) * double(cols) * double(g.K) + 8.0 * pack;
}

template <class T>
Grid choose_grid(const GemmKernel<T>& kr, const Problem<T>& g, int threads) {
  Grid best{1, threads};
  double best_cost = grid_cost(kr, g, 1, threads);
  for (int tm = 2; tm <= threads; ++tm) {
    if (threads % tm != 0) continue;
    const double c = grid_cost(kr, g, tm, threads / tm);
    if (c < best_cost) best = {tm, threads / tm}, best_cost = c;
  }
  return best;
}

// Rectangle r of the grid as a GEMM of its own (row and column ranges on tile boundaries).
template <class T>
Problem<T> rectangle(const GemmKernel<T>& kr, const Problem<T>& g, Grid grid, int r) {
  const int64_t mt = ceil_div(g.M, kr.mr), nt = ceil_div(g.N, kr.nr);
  const int ti = r / grid.tn, tj = r % grid.tn;
  const int64_t i0 = std::min(g.M, mt * ti / grid.tm * kr.mr), i1 = std::min(g.M, mt * (ti + 1) / grid.tm * kr.mr);
  const int64_t j0 = std::min(g.N, nt * tj / grid.tn * kr.nr), j1 = std::min(g.N, nt * (tj + 1) / grid.tn * kr.nr);
  Problem<T> s = g;
  s.M = i1 - i0;
  s.N = j1 - j0;
  s.A += g.ta ? i0 : i0 * g.lda;
  s.B += g.tb ? j0 * g.ldb : j0;
  s.C += i0 * g.ldc + j0;
  return s;
}

// ---- small problems and trivial cases --------------------------------------------------------

// Plain loops, no packing: for products too small to amortise it. Same alpha/beta rule.
// Every element is Σ_k a_ik·b_kj accumulated from 0 in increasing k. With a transposed B the rows
// of B are first copied into columns (work < kSmallWork bounds K·N), so that both layouts run the
// same column-vectorised loop in that same order: the result is the plain dot product's, bit for
// bit, at several times its speed (attention's q·kᵀ on small heads lives here).
template <class T>
void small_gemm(const Problem<T>& g) {
  constexpr int64_t kChunk = 256;
  T acc[kChunk];
  const T* B = g.B;
  int64_t ldb = g.ldb;
  thread_local std::vector<T> transposed;
  if (g.tb) {
    transposed.resize(size_t(g.K * g.N));
    for (int64_t j = 0; j < g.N; ++j)
      for (int64_t k = 0; k < g.K; ++k) transposed[size_t(k * g.N + j)] = g.B[j * g.ldb + k];
    B = transposed.data();
    ldb = g.N;
  }
  for (int64_t i = 0; i < g.M; ++i) {
    for (int64_t j0 = 0; j0 < g.N; j0 += kChunk) {
      const int64_t nb = std::min(kChunk, g.N - j0);
      std::fill(acc, acc + nb, T(0));
      for (int64_t k = 0; k < g.K; ++k) {
        const T a = g.ta ? g.A[k * g.lda + i] : g.A[i * g.lda + k];
        const T* b = B + k * ldb + j0;
#pragma omp simd
        for (int64_t j = 0; j < nb; ++j) acc[j] += a * b[j];
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

// One GEMM with up to `threads` threads; `ws` holds `threads` × workspace_elems(kr, g) elements.
template <class T>
void run_one(const GemmKernel<T>& kr, const Problem<T>& g, int threads, T* ws) {
  if (g.M == 0 || g.N == 0) return;
  if (g.K == 0 || g.alpha == T(0)) return scale_c(g);
  if (work_of(g) < kSmallWork) return small_gemm(g);
  if (threads <= 1 || work_of(g) < kParallelWork) return blocked_gemm(kr, g, ws);
  const Grid grid = choose_grid(kr, g, threads);
  const int64_t per_thread = workspace_elems(kr, g);
#pragma omp parallel num_threads(threads)
  {
    // Normally one rectangle per thread; inside an enclosing parallel region the team may be
    // smaller than asked, and then each thread takes several.
    const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
    for (int r = tid; r < grid.tm * grid.tn; r += nth) {
      const Problem<T> s = rectangle(kr, g, grid, r);
      if (s.M > 0 && s.N > 0) blocked_gemm(kr, s, ws + per_thread * tid);
    }
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
  const GemmKernel<T>& kr = kernel_for<T>(M);
  const int threads = num_threads();
  run_one(kr, g, threads, t_scratch.get<T>(workspace_elems(kr, g) * threads));
}

template <class T>
void gemm_batched(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                  int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C, int64_t ldc,
                  int64_t stride_c, int64_t batch) {
  const Problem<T> g{ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc};
  check_problem("gemm_batched", g);
  XCLIP_CHECK(batch >= 0, "gemm_batched: negative batch ", batch);
  if (batch == 0 || M == 0 || N == 0) return;
  const GemmKernel<T>& kr = kernel_for<T>(M);
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
    T* ws = t_scratch.get<T>(workspace_elems(kr, g) * threads);
    for (int64_t i = 0; i < batch; ++i) run_one(kr, entry(i), threads, ws);
    return;
  }
  const int64_t per_ws = workspace_elems(kr, g);
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
