// Data-movement and indexing GPU kernels against their CPU twins (exact equality): permutes and
// axis blocks for several element sizes, row lookup with its bounds check, gathers, im2col/col2im.
#include "cuda_test_util.hpp"

#ifdef XCLIP_WITH_CUDA
using namespace xclip;
using namespace xclip::test;

namespace {

// Random bytes below 0xFF; outputs are poisoned with 0xFF so an unwritten byte always differs.
std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> dist(0, 0xFE);
  std::vector<uint8_t> v(n);
  for (uint8_t& b : v) b = uint8_t(dist(gen));
  return v;
}
std::vector<uint8_t> poison_bytes(size_t n) { return std::vector<uint8_t>(n, 0xFF); }

const size_t kElemSizes[] = {1, 2, 3, 4, 8, 12, 16};

// `misalign` shifts both device pointers by that many bytes (a view into a larger buffer), which
// forces the narrow-word paths.
void check_permute(const std::vector<int64_t>& shape, const std::vector<int>& order, size_t es, uint32_t seed,
                   size_t misalign = 0) {
  const size_t bytes = size_t(product(shape)) * es;
  const auto x = random_bytes(bytes, seed);
  std::vector<uint8_t> want(bytes);
  cpu::permute_copy(x.data(), want.data(), es, shape.data(), order.data(), int(shape.size()));
  std::vector<uint8_t> x_padded(misalign, 0);
  x_padded.insert(x_padded.end(), x.begin(), x.end());
  DeviceBuffer<uint8_t> dx(x_padded), dy(poison_bytes(bytes + misalign));
  cuda::permute_copy(dx.get() + misalign, dy.get() + misalign, es, shape.data(), order.data(), int(shape.size()));
  const auto got = dy.download();
  std::ostringstream what;
  what << "permute_copy es=" << es << " ndim=" << shape.size() << " misalign=" << misalign;
  expect_equal(std::vector<uint8_t>(got.begin() + long(misalign), got.end()), want, what.str());
  expect_equal(std::vector<uint8_t>(got.begin(), got.begin() + long(misalign)), poison_bytes(misalign),
               what.str() + " (bytes before the view untouched)");
}

// Odd element sizes and pitches exercise the narrow-word paths.
void check_axis_blocks(size_t es, int64_t outer, int64_t n_small, int64_t n_big, int64_t offset, int64_t inner,
                       uint32_t seed) {
  const size_t small = size_t(outer * n_small * inner) * es, big = size_t(outer * n_big * inner) * es;
  std::ostringstream what;
  what << "es=" << es << " outer=" << outer << " n=" << n_small << "/" << n_big << " offset=" << offset
       << " inner=" << inner;
  {  // copy_axis_block: small into columns of big; the rest of big keeps its contents
    const auto src = random_bytes(small, seed), dst0 = random_bytes(big, seed + 1);
    std::vector<uint8_t> want = dst0;
    cpu::copy_axis_block(src.data(), want.data(), es, outer, n_small, n_big, offset, inner);
    DeviceBuffer<uint8_t> dsrc(src), ddst(dst0);
    cuda::copy_axis_block(dsrc.get(), ddst.get(), es, outer, n_small, n_big, offset, inner);
    expect_equal(ddst.download(), want, "copy_axis_block " + what.str());
  }
  {  // slice_axis_block: columns of big into small
    const auto src = random_bytes(big, seed + 2);
    std::vector<uint8_t> want(small);
    cpu::slice_axis_block(src.data(), want.data(), es, outer, n_big, n_small, offset, inner);
    DeviceBuffer<uint8_t> dsrc(src), ddst(poison_bytes(small));
    cuda::slice_axis_block(dsrc.get(), ddst.get(), es, outer, n_big, n_small, offset, inner);
    expect_equal(ddst.download(), want, "slice_axis_block " + what.str());
  }
}

void check_index_rows(int64_t rows, int64_t row_bytes, int64_t count, uint32_t seed) {
  const auto table = random_bytes(size_t(rows * row_bytes), seed);
  const auto index = random_indices(size_t(count), rows, seed + 1);
  std::vector<uint8_t> want(size_t(count * row_bytes));
  cpu::index_rows(table.data(), rows, row_bytes, index.data(), count, want.data());
  DeviceBuffer<uint8_t> dtable(table), dout(poison_bytes(want.size()));
  DeviceBuffer<int64_t> dindex(index);
  cuda::index_rows(dtable.get(), rows, row_bytes, dindex.get(), count, dout.get());
  expect_equal(dout.download(), want, "index_rows row_bytes=" + std::to_string(row_bytes));
}

template <class T>
void check_index_rows_backward(int64_t rows, int64_t row_len, int64_t count, uint32_t seed) {
  const auto gout = random_vector<T>(size_t(count * row_len), seed);
  const auto index = random_indices(size_t(count), rows, seed + 1);  // repeats are likely
  const auto g0 = random_vector<T>(size_t(rows * row_len), seed + 2);
  std::vector<T> want = g0;
  cpu::index_rows_backward<T>(gout.data(), index.data(), count, row_len, want.data());
  DeviceBuffer<T> dgout(gout), dg(g0);
  DeviceBuffer<int64_t> dindex(index);
  cuda::index_rows_backward<T>(dgout.get(), dindex.get(), count, row_len, dg.get());
  // Atomic additions land in any order: allow the rounding of a few repeated adds.
  expect_close(dg.download(), want, default_rtol<T>(), "index_rows_backward");
}

template <class T>
void check_gather(int64_t outer, int64_t n, int64_t m, int64_t inner, uint32_t seed) {
  const auto x = random_vector<T>(size_t(outer * n * inner), seed);
  const auto index = random_indices(size_t(outer * m * inner), n, seed + 1);
  std::vector<T> want(index.size());
  cpu::gather_axis<T>(x.data(), index.data(), want.data(), outer, n, m, inner);
  DeviceBuffer<T> dx(x);
  DeviceBuffer<int64_t> dindex(index);
  PoisonedBuffer<T> dout(want.size());
  cuda::gather_axis<T>(dx.get(), dindex.get(), dout.get(), outer, n, m, inner);
  std::ostringstream what;
  what << "gather_axis [" << outer << ", " << n << "->" << m << ", " << inner << "]";
  expect_equal(dout.download(), want, what.str());

  const auto gout = random_vector<T>(want.size(), seed + 2);
  const auto gx0 = random_vector<T>(x.size(), seed + 3);
  std::vector<T> gx = gx0;
  cpu::gather_axis_backward<T>(gout.data(), index.data(), gx.data(), outer, n, m, inner);
  DeviceBuffer<T> dgout(gout), dgx(gx0);
  cuda::gather_axis_backward<T>(dgout.get(), dindex.get(), dgx.get(), outer, n, m, inner);
  expect_close(dgx.download(), gx, default_rtol<T>(), what.str() + " backward");
}

template <class T>
void check_patches(int64_t B, int64_t C, int64_t H, int64_t W, int64_t p, uint32_t seed) {
  const int64_t gh = H / p, gw = W / p, K = C * p * p;
  const auto x = random_vector<T>(size_t(B * C * H * W), seed);
  std::vector<T> cols(size_t(B * gh * gw * K));
  cpu::im2col_patches<T>(x.data(), cols.data(), B, C, H, W, p);
  DeviceBuffer<T> dx(x);
  PoisonedBuffer<T> dcols(cols.size());
  cuda::im2col_patches<T>(dx.get(), dcols.get(), B, C, H, W, p);
  std::ostringstream what;
  what << "patches B=" << B << " C=" << C << " H=" << H << " W=" << W << " p=" << p;
  expect_equal(dcols.download(), cols, "im2col " + what.str());

  const auto gcols = random_vector<T>(cols.size(), seed + 1);
  std::vector<T> gx(x.size());
  cpu::col2im_patches<T>(gcols.data(), gx.data(), B, C, H, W, p);
  DeviceBuffer<T> dgcols(gcols);
  PoisonedBuffer<T> dgx(x.size());
  cuda::col2im_patches<T>(dgcols.get(), dgx.get(), B, C, H, W, p);
  expect_equal(dgx.download(), gx, "col2im " + what.str());
}

}  // namespace

TEST_CASE("cuda permute_copy matches the CPU for every element size and order", "[cuda][copy]") {
  XCLIP_REQUIRE_GPU();
  uint32_t seed = 1;
  for (size_t es : kElemSizes) {
    check_permute({37}, {0}, es, seed++);
    check_permute({5, 33}, {1, 0}, es, seed++);
    check_permute({3, 1, 7, 45}, {2, 0, 3, 1}, es, seed++);
    check_permute({2, 3, 4, 5, 1, 3}, {5, 3, 1, 0, 4, 2}, es, seed++);
    check_permute({4, 6, 9}, {0, 2, 1}, es, seed++);  // the attention-head transpose
    check_permute({2, 3, 5, 7, 1, 2, 3, 2}, {7, 6, 5, 4, 3, 2, 1, 0}, es, seed++);  // eight dims
    check_permute({3, 0, 2}, {2, 1, 0}, es, seed++);  // empty
    check_permute({5, 33}, {1, 0}, es, seed++, 1);     // misaligned views
    check_permute({3, 4, 5}, {1, 2, 0}, es, seed++, 2);
  }
}

TEST_CASE("cuda copy_axis_block / slice_axis_block match the CPU", "[cuda][copy]") {
  XCLIP_REQUIRE_GPU();
  uint32_t seed = 100;
  for (size_t es : kElemSizes) {
    check_axis_blocks(es, 1, 3, 3, 0, 1, seed += 3);
    check_axis_blocks(es, 5, 3, 11, 4, 7, seed += 3);
    check_axis_blocks(es, 37, 1, 2, 1, 33, seed += 3);
    check_axis_blocks(es, 2, 50, 77, 27, 1, seed += 3);
    check_axis_blocks(es, 3, 0, 4, 2, 5, seed += 3);  // empty block
  }
}

TEST_CASE("cuda axis blocks reject columns outside the axis", "[cuda][copy]") {
  XCLIP_REQUIRE_GPU();
  DeviceBuffer<float> a(64), b(64);
  CHECK_THROWS_AS(cuda::copy_axis_block(a.get(), b.get(), 4, 2, 3, 4, 2, 1), Error);
  CHECK_THROWS_AS(cuda::slice_axis_block(a.get(), b.get(), 4, 2, 4, 3, 2, 1), Error);
}

TEST_CASE("cuda index_rows matches the CPU for any row size", "[cuda][index]") {
  XCLIP_REQUIRE_GPU();
  uint32_t seed = 200;
  for (int64_t row_bytes : {1, 3, 7, 12, 16, 3072}) {
    check_index_rows(1, row_bytes, 5, seed += 2);
    check_index_rows(49, row_bytes, 77, seed += 2);
  }
}

TEST_CASE("cuda index_rows reports an out-of-range index as an Error", "[cuda][index]") {
  XCLIP_REQUIRE_GPU();
  const int64_t rows = 10, row_bytes = 8;
  DeviceBuffer<uint8_t> table(random_bytes(size_t(rows * row_bytes), 1)), out(size_t(3 * row_bytes));
  for (int64_t bad : {int64_t(10), int64_t(-1), int64_t(1) << 40}) {
    DeviceBuffer<int64_t> index(std::vector<int64_t>{0, bad, 9});
    std::string message;
    try {
      cuda::index_rows(table.get(), rows, row_bytes, index.get(), 3, out.get());
    } catch (const Error& e) {
      message = e.what();
    }
    INFO(message);
    CHECK(message.find("index " + std::to_string(bad) + " out of range for 10 rows") != std::string::npos);
  }
  // A valid call right after still works (the error record is per call).
  check_index_rows(rows, row_bytes, 3, 5);
}

TEST_CASE("cuda index_rows_backward accumulates repeated rows like the CPU", "[cuda][index]") {
  XCLIP_REQUIRE_GPU();
  check_index_rows_backward<float>(7, 33, 50, 300);
  check_index_rows_backward<double>(7, 33, 50, 301);
  check_index_rows_backward<float>(1000, 1, 3, 302);
}

TEST_CASE("cuda gather_axis and its backward match the CPU", "[cuda][index]") {
  XCLIP_REQUIRE_GPU();
  uint32_t seed = 400;
  const int64_t shapes[][4] = {{1, 1, 1, 1}, {3, 7, 5, 1}, {2, 13, 1, 33}, {5, 4, 9, 3}};
  for (const auto& s : shapes) {
    check_gather<float>(s[0], s[1], s[2], s[3], seed += 4);
    check_gather<double>(s[0], s[1], s[2], s[3], seed += 4);
  }
}

TEST_CASE("cuda gather_axis reports an out-of-range index as an Error", "[cuda][index]") {
  XCLIP_REQUIRE_GPU();
  DeviceBuffer<float> x(random_vector<float>(6, 1)), out(3);
  DeviceBuffer<int64_t> index(std::vector<int64_t>{0, 3, 1});  // axis of size 3
  std::string message;
  try {
    cuda::gather_axis<float>(x.get(), index.get(), out.get(), 1, 3, 3, 1);
  } catch (const Error& e) {
    message = e.what();
  }
  INFO(message);
  CHECK(message.find("gather: index 3 out of range for axis of size 3") != std::string::npos);
}

TEST_CASE("cuda im2col_patches / col2im_patches match the CPU", "[cuda][conv]") {
  XCLIP_REQUIRE_GPU();
  uint32_t seed = 500;
  const int64_t shapes[][5] = {{1, 1, 4, 4, 2}, {2, 3, 32, 32, 8}, {1, 3, 35, 33, 8}, {3, 2, 5, 7, 5}, {1, 1, 3, 3, 4}};
  for (const auto& s : shapes) {
    check_patches<float>(s[0], s[1], s[2], s[3], s[4], seed += 2);
    check_patches<double>(s[0], s[1], s[2], s[3], s[4], seed += 2);
  }
}

#else
TEST_CASE("cuda copy/index/conv: skipped in a build without CUDA", "[cuda]") { XCLIP_SKIP("built without CUDA"); }
#endif
