// The frame-word term for evaluation by the fused kernel (k::aosm_frame_word): no graph, and the
// [T, L, V, N] matrix of the graph path is never stored. frame_word_chunked.cpp picks it when no
// gradient is needed.
#include "xclip/autograd.hpp"
#include "xclip/kernels/dispatch.hpp"
#include "xclip/models/heads/xclip_head.hpp"
#include "xclip/ops.hpp"

namespace xclip::models::detail {

namespace {

cpu::AosmPool kernel_pool(Pool p) {
  switch (p) {
    case Pool::attention: return cpu::AosmPool::attention;
    case Pool::mean: return cpu::AosmPool::mean;
    case Pool::max: return cpu::AosmPool::max;
  }
  throw Error("frame_word_fused: unknown pooling");
}

void check_mix(const Tensor& m, int64_t n, Device device, const char* name) {
  XCLIP_CHECK(!m.defined() || (m.ndim() == 2 && m.dim(0) == n && m.dim(1) == n), "frame_word_fused: ", name,
              " must be [", n, ", ", n, "], got ", m.str());
  // Its raw pointer goes straight to the kernel of `device` (no op checks it, unlike the graph
  // path): a matrix left on another device would be dereferenced by the wrong processor.
  XCLIP_CHECK(!m.defined() || m.device() == device, "frame_word_fused: ", name, " ", m.str(), " is not on ",
              device_name(device), " with the features");
}

// A 0/1 mask [rows, cols] as `dtype` on `device` for the kernel; undefined without mask_padding.
Tensor kernel_mask(const HeadConfig& c, const Tensor& mask, DType dtype, Device device, int64_t rows, int64_t cols) {
  if (!c.mask_padding) return Tensor();
  XCLIP_CHECK(mask.ndim() == 2 && mask.dim(0) == rows && mask.dim(1) == cols, "frame_word_fused: mask ", mask.str(),
              " must be [", rows, ", ", cols, "]");
  return mask.to(dtype).to(device);
}

}  // namespace

bool frame_word_fused_fits(Device device, DType dtype, int64_t L, int64_t N) {
  if (device == Device::cpu) return true;
#ifdef XCLIP_WITH_CUDA
  return cuda::aosm_frame_word_fits(L, N, dtype_size(dtype));
#else
  (void)dtype, (void)L, (void)N;
  return false;
#endif
}

Tensor frame_word_fused(const HeadConfig& c, const FrameWordInputs& in, const Tensor& word_mask,
                        const Tensor& frame_mask) {
  NoGradGuard no_grad;
  XCLIP_CHECK(in.words.ndim() == 3 && in.frames.ndim() == 3 && in.words.dim(2) == in.frames.dim(2) &&
                  in.words.dtype() == in.frames.dtype() && in.words.device() == in.frames.device(),
              "frame_word_fused: words ", in.words.str(), " and frames ", in.frames.str(), " must be [T, L, D] and [V, N, D]");
  const int64_t T = in.words.dim(0), L = in.words.dim(1), D = in.words.dim(2);
  const int64_t V = in.frames.dim(0), N = in.frames.dim(1);
  const DType dtype = in.words.dtype();
  const Device dev = in.words.device();
  check_mix(in.word_mat_weight, L, dev, "word_mat_weight");
  check_mix(in.word_mat_weight2, L, dev, "word_mat_weight2");
  check_mix(in.frame_mat_weight, N, dev, "frame_mat_weight");
  check_mix(in.frame_mat_weight2, N, dev, "frame_mat_weight2");
  // The [T·L, D] × [D, D] projection stays a plain GEMM; only the [T, L, V, N] part is fused.
  const Tensor words = in.local_mat_weight.defined() ? ops::matmul(in.words, in.local_mat_weight) : in.words;
  const Tensor wmask = kernel_mask(c, word_mask, dtype, dev, T, L);
  const Tensor fmask = kernel_mask(c, frame_mask, dtype, dev, V, N);
  Tensor out = Tensor::empty(Shape{T, V}, dtype, dev);
  auto run = [&]<class E>() {
    auto ptr = [](const Tensor& t) { return t.defined() ? t.data<E>() : nullptr; };
    k::aosm_frame_word<E>(dev, ptr(words), ptr(in.frames), ptr(wmask), ptr(fmask), ptr(in.word_mat_weight),
                          ptr(in.frame_mat_weight), ptr(in.frame_mat_weight2), ptr(in.word_mat_weight2),
                          kernel_pool(c.aggregation.first), kernel_pool(c.aggregation.second), c.temperature,
                          out.data<E>(), T, L, V, N, D);
  };
  switch (dtype) {
    case DType::f32: run.template operator()<float>(); break;
    case DType::f64: run.template operator()<double>(); break;
    default: throw Error(format("frame_word_fused: expected f32 or f64 features, got ", in.words.str()));
  }
  return out;
}

}  // namespace xclip::models::detail
