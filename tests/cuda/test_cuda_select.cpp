// The selection and dropout kernels on CUDA against their CPU twins: top-k picks and values (and
// the gather's backward), the top-k mask, and dropout masks equal bit for bit.
#include "cuda_op_check.hpp"

#ifdef XCLIP_WITH_CUDA
#include "xclip/ops.hpp"

using namespace xclip;
using namespace xclip::test;
namespace o = xclip::ops;

namespace {
const DType kTypes[] = {DType::f32, DType::f64};
}

TEST_CASE("ops on CUDA: top-k along every axis, its mask, with ties", "[cuda][ops][select]") {
  XCLIP_REQUIRE_GPU();
  for (DType t : kTypes) {
    Generator gen(77);
    Tensor x = Tensor::uniform(Shape{3, 9, 5}, gen, -1, 1, t);
    Tensor ties = Tensor::from_vector<double>({0.5, 0.1, 0.5, 0.5, -1, 0.1, 0.5, 0.2}, Shape{2, 4}).to(t);
    for (int axis : {0, 1, 2})
      for (int64_t k : {int64_t(1), int64_t(3)}) {
        const std::string tag = "axis " + std::to_string(axis) + " k " + std::to_string(k) + " " + dtype_name(t);
        check_op("topk " + tag, {x}, [axis, k](const std::vector<Tensor>& in) { return o::topk(in[0], axis, k); });
        check_op("topk_indices " + tag, {x},
                 [axis, k](const std::vector<Tensor>& in) { return o::topk_indices(in[0], axis, k); }, -1, false);
        check_op("topk_mask " + tag, {x},
                 [axis, k](const std::vector<Tensor>& in) { return o::topk_mask(in[0], axis, k); }, -1, false);
      }
    check_op("topk ties", {ties}, [](const std::vector<Tensor>& in) { return o::topk_indices(in[0], 1, 4); }, -1, false);
  }
}

TEST_CASE("ops on CUDA: dropout draws the CPU's mask bit for bit", "[cuda][ops][select]") {
  XCLIP_REQUIRE_GPU();
  for (DType t : kTypes) {
    Generator gen(78);
    Tensor x = Tensor::uniform(Shape{7, 333}, gen, -1, 1, t);
    check_op(std::string("dropout ") + dtype_name(t), {x},
             [](const std::vector<Tensor>& in) { return o::dropout(in[0], 0.3, 42, 1234); });
  }
}

#endif  // XCLIP_WITH_CUDA
