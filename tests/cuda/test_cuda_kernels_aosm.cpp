// The fused AOSM frame-word kernel on the GPU against its CPU twin (src/kernels/aosm.cpp): every
// aggregation, masks with padding (one video all padding) or none, mixing matrices or none,
// awkward sizes, a large evaluation block and a long one; outputs poisoned first.
#include "cuda_test_util.hpp"

#ifdef XCLIP_WITH_CUDA
using namespace xclip;
using namespace xclip::test;

namespace {

struct Sizes {
  int64_t T, L, V, N, D;
};

struct Variant {
  cpu::AosmPool first, second;
  bool masks, mats;
  double temperature;
};

const std::vector<std::pair<cpu::AosmPool, cpu::AosmPool>> kAggregations = {
    {cpu::AosmPool::attention, cpu::AosmPool::attention}, {cpu::AosmPool::mean, cpu::AosmPool::mean},
    {cpu::AosmPool::max, cpu::AosmPool::max},             {cpu::AosmPool::mean, cpu::AosmPool::max},
    {cpu::AosmPool::max, cpu::AosmPool::mean}};

// 0/1 rows of `len`: row r keeps its first len − (r mod 3) entries (at least one); row 0 is all
// padding when `empty_first`.
template <class T>
std::vector<T> mask_rows(int64_t rows, int64_t len, bool empty_first) {
  std::vector<T> m(size_t(rows * len));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < len; ++k)
      m[size_t(r * len + k)] = (r > 0 || !empty_first) && k < std::max<int64_t>(1, len - r % 3) ? T(1) : T(0);
  return m;
}

// I + 0.1·noise, [n, n].
template <class T>
std::vector<T> mixing(int64_t n, uint32_t seed) {
  std::vector<T> m = random_vector<T>(size_t(n * n), seed, -0.1, 0.1);
  for (int64_t i = 0; i < n; ++i) m[size_t(i * n + i)] += T(1);
  return m;
}

template <class T>
void check_aosm(const Sizes& s, const Variant& var, uint32_t seed) {
  // Entries of size 1/√D keep the dot products near the range of normalised features.
  const double a = 1.0 / std::sqrt(double(std::max<int64_t>(s.D, 1)));
  const auto words = random_vector<T>(size_t(s.T * s.L * s.D), seed, -a, a);
  const auto frames = random_vector<T>(size_t(s.V * s.N * s.D), seed + 1, -a, a);
  const auto wmask = mask_rows<T>(s.T, s.L, false), fmask = mask_rows<T>(s.V, s.N, true);
  const auto wm = mixing<T>(s.L, seed + 2), fm = mixing<T>(s.N, seed + 3);
  const auto fm2 = mixing<T>(s.N, seed + 4), wm2 = mixing<T>(s.L, seed + 5);
  auto host = [&](const std::vector<T>& v, bool on) { return on ? v.data() : nullptr; };
  std::vector<T> want(size_t(s.T * s.V));
  cpu::aosm_frame_word<T>(words.data(), frames.data(), host(wmask, var.masks), host(fmask, var.masks),
                          host(wm, var.mats), host(fm, var.mats), host(fm2, var.mats), host(wm2, var.mats), var.first,
                          var.second, var.temperature, want.data(), s.T, s.L, s.V, s.N, s.D);

  DeviceBuffer<T> dw(words), df(frames), dwmask(wmask), dfmask(fmask), dwm(wm), dfm(fm), dfm2(fm2), dwm2(wm2);
  PoisonedBuffer<T> dout(want.size());
  auto dev = [&](const DeviceBuffer<T>& b, bool on) { return on ? b.get() : nullptr; };
  cuda::aosm_frame_word<T>(dw.get(), df.get(), dev(dwmask, var.masks), dev(dfmask, var.masks), dev(dwm, var.mats),
                           dev(dfm, var.mats), dev(dfm2, var.mats), dev(dwm2, var.mats), var.first, var.second,
                           var.temperature, dout.get(), s.T, s.L, s.V, s.N, s.D);
  std::ostringstream what;
  what << "aosm_frame_word<" << (sizeof(T) == 4 ? "f32" : "f64") << "> pools " << int(var.first) << "-"
       << int(var.second) << " masks=" << var.masks << " mats=" << var.mats << " tau=" << var.temperature
       << " T=" << s.T << " L=" << s.L << " V=" << s.V << " N=" << s.N << " D=" << s.D;
  expect_close(dout.download(), want, default_rtol<T>(), what.str());
}

template <class T>
void check_every_variant(const Sizes& s, uint32_t seed) {
  for (const auto& [first, second] : kAggregations)
    for (bool masks : {false, true})
      for (bool mats : {false, true}) check_aosm<T>(s, {first, second, masks, mats, 0.01}, seed += 11);
}

}  // namespace

TEST_CASE("cuda aosm_frame_word matches the CPU twin on awkward sizes", "[cuda][kernels][aosm]") {
  XCLIP_REQUIRE_GPU();
  const std::vector<Sizes> sizes = {{3, 5, 4, 3, 6}, {2, 1, 5, 4, 7}, {4, 6, 3, 1, 7},  {1, 1, 1, 1, 1},
                                    {5, 33, 7, 2, 17}, {3, 2, 70, 5, 40}, {2, 40, 3, 33, 9}};
  uint32_t seed = 1;
  for (const Sizes& s : sizes) {
    check_every_variant<float>(s, seed += 100);
    check_every_variant<double>(s, seed += 100);
  }
  // τ = 1 (the mask is not scaled) and a warmer τ.
  for (double tau : {1.0, 0.05}) {
    check_aosm<float>({3, 5, 4, 3, 6}, {cpu::AosmPool::attention, cpu::AosmPool::attention, true, true, tau}, 9);
    check_aosm<double>({3, 5, 4, 3, 6}, {cpu::AosmPool::attention, cpu::AosmPool::attention, true, true, tau}, 9);
  }
}

TEST_CASE("cuda aosm_frame_word matches the CPU twin at evaluation shapes", "[cuda][kernels][aosm]") {
  XCLIP_REQUIRE_GPU();
  check_every_variant<float>({37, 32, 53, 12, 512}, 500);  // several tiles per text, a partial last tile
  check_aosm<double>({37, 32, 53, 12, 512}, {cpu::AosmPool::attention, cpu::AosmPool::attention, true, true, 0.01}, 600);
  check_every_variant<float>({3, 64, 4, 64, 40}, 700);  // L·N = 4096: one video per block
  check_aosm<double>({3, 64, 4, 64, 40}, {cpu::AosmPool::max, cpu::AosmPool::mean, true, false, 0.01}, 800);
}

TEST_CASE("cuda aosm_frame_word beyond 48 KiB of shared memory (the opt-in launch)", "[cuda][kernels][aosm]") {
  XCLIP_REQUIRE_GPU();
  // L·N = 4096 with N = 1024: the pair block, the per-warp softmax weights and levels need about
  // 115 KB (f32) and 165 KB (f64), so the launch must raise the dynamic shared memory limit first.
  check_aosm<float>({2, 4, 3, 1024, 40}, {cpu::AosmPool::attention, cpu::AosmPool::attention, true, true, 0.01}, 900);
  check_aosm<double>({2, 4, 3, 1024, 40}, {cpu::AosmPool::attention, cpu::AosmPool::max, true, true, 0.01}, 910);
}

TEST_CASE("cuda aosm_frame_word refuses a block it cannot hold", "[cuda][kernels][aosm]") {
  XCLIP_REQUIRE_GPU();
  CHECK(cuda::aosm_frame_word_fits(32, 12, sizeof(float)));
  CHECK(cuda::aosm_frame_word_fits(64, 64, sizeof(double)));
  CHECK_FALSE(cuda::aosm_frame_word_fits(65, 64, sizeof(float)));
  CHECK(cuda::aosm_frame_word_fits(61, 64, sizeof(float)));         // 16 × 16 register tiles
  CHECK_FALSE(cuda::aosm_frame_word_fits(63, 65, sizeof(float)));   // L·N = 4095, but 16 × 17 tiles
  DeviceBuffer<float> w(65 * 64), f(64 * 64), out(1);
  CHECK_THROWS_AS(cuda::aosm_frame_word<float>(w.get(), f.get(), nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                               cpu::AosmPool::attention, cpu::AosmPool::attention, 0.01, out.get(), 1,
                                               65, 1, 64, 1),
                  Error);
}
#endif  // XCLIP_WITH_CUDA
