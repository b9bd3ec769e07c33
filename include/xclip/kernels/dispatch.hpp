// Picks a kernel's CPU or CUDA twin by device: k::name<T>(device, args...) calls cpu::name<T> or
// cuda::name<T> with the same arguments (the twins share their argument lists, see
// include/xclip/kernels/cuda.hpp: data pointers live on `device`, shape/stride arrays on the host).
// Built without CUDA, the cuda branch is compiled out and a CUDA device throws a clear Error (no
// CUDA tensor can exist in such a build, so that is a programming error, not a user one).
#pragma once
#include <utility>

#include "xclip/core/dtype.hpp"
#include "xclip/core/error.hpp"
#include "xclip/kernels/cpu.hpp"
#ifdef XCLIP_WITH_CUDA
#include "xclip/kernels/cuda.hpp"
#endif

namespace xclip::k {

[[noreturn]] inline void no_cuda_kernel(const char* kernel) {
  throw Error(format("kernel ", kernel, ": a CUDA tensor reached an op but this build has no CUDA support "
                     "(configure with XCLIP_CUDA=ON on a machine with nvcc)"));
}

#ifdef XCLIP_WITH_CUDA
#define XCLIP_K_CUDA_CALL(name, call) return call
#else
#define XCLIP_K_CUDA_CALL(name, call) no_cuda_kernel(#name)
#endif

// A kernel templated on the element type (float / double).
#define XCLIP_K_TWIN_T(name)                                                        \
  template <class T, class... Args>                                                 \
  decltype(auto) name(Device device, Args&&... args) {                              \
    if (device == Device::cpu) return cpu::name<T>(std::forward<Args>(args)...);    \
    XCLIP_K_CUDA_CALL(name, cuda::name<T>(std::forward<Args>(args)...));            \
  }
// A kernel that is not a template (raw bytes with an element size, or one fixed type).
#define XCLIP_K_TWIN(name)                                                          \
  template <class... Args>                                                          \
  decltype(auto) name(Device device, Args&&... args) {                              \
    if (device == Device::cpu) return cpu::name(std::forward<Args>(args)...);       \
    XCLIP_K_CUDA_CALL(name, cuda::name(std::forward<Args>(args)...));               \
  }

XCLIP_K_TWIN_T(gemm_batched)
XCLIP_K_TWIN_T(binary_broadcast)
XCLIP_K_TWIN_T(sum_to_broadcast)
XCLIP_K_TWIN_T(unary_forward)
XCLIP_K_TWIN_T(unary_backward)
XCLIP_K_TWIN_T(affine)
XCLIP_K_TWIN_T(bias_quick_gelu_forward)
XCLIP_K_TWIN_T(bias_quick_gelu_backward)
XCLIP_K_TWIN_T(layer_norm_forward)
XCLIP_K_TWIN_T(layer_norm_backward)
XCLIP_K_TWIN_T(softmax_forward)
XCLIP_K_TWIN_T(softmax_backward)
XCLIP_K_TWIN_T(reduce_sum)
XCLIP_K_TWIN_T(reduce_max)
XCLIP_K_TWIN_T(broadcast_axis)
XCLIP_K_TWIN_T(scatter_max_grad)
XCLIP_K_TWIN_T(index_rows_backward)
XCLIP_K_TWIN_T(gather_axis)
XCLIP_K_TWIN_T(gather_axis_backward)
XCLIP_K_TWIN_T(topk_axis)
XCLIP_K_TWIN_T(dropout_mask)
XCLIP_K_TWIN_T(im2col_patches)
XCLIP_K_TWIN_T(col2im_patches)
XCLIP_K_TWIN_T(sum_squares)
XCLIP_K_TWIN_T(scale_by)
XCLIP_K_TWIN_T(aosm_frame_word)
XCLIP_K_TWIN_T(bert_adam_step)
XCLIP_K_TWIN_T(adamw_step)
XCLIP_K_TWIN(gemm_batched_bf16)
XCLIP_K_TWIN(permute_copy)
XCLIP_K_TWIN(copy_axis_block)
XCLIP_K_TWIN(slice_axis_block)
XCLIP_K_TWIN(index_rows)
XCLIP_K_TWIN(bert_adam_fp16_step)
XCLIP_K_TWIN(f16_norm)
XCLIP_K_TWIN(f16_scale)
XCLIP_K_TWIN(divide_by)
XCLIP_K_TWIN(first_non_f16_value)

#undef XCLIP_K_TWIN
#undef XCLIP_K_TWIN_T
#undef XCLIP_K_CUDA_CALL

}  // namespace xclip::k
