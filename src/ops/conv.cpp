// Patch-embedding convolution (CLIP's conv1: kernel = stride = patch, no bias) as im2col + matmul.
#include "op_util.hpp"
#include "xclip/ops.hpp"

namespace xclip::ops {

using namespace detail;

namespace {
// x [B, C, H, W] -> [B·gh·gw, C·p·p], differentiable (backward is col2im).
Tensor extract_patches(const Tensor& x, int64_t p) {
  const Device dev = x.device();
  const int64_t B = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const int64_t gh = H / p, gw = W / p;
  Tensor cols = Tensor::empty(Shape{B * gh * gw, C * p * p}, x.dtype(), dev);
  dispatch_float("patch_embed", x, [&]<class T>() {
    k::im2col_patches<T>(dev, x.data<T>(), cols.data<T>(), B, C, H, W, p);
  });
  return record("patch_embed", cols, {x}, [xs = x.shape(), p](const Tensor& g) {
    const Device dev = g.device();
    Tensor gx = Tensor::empty(xs, g.dtype(), dev);
    dispatch_float("patch_embed backward", g, [&]<class T>() {
      k::col2im_patches<T>(dev, g.data<T>(), gx.data<T>(), xs[0], xs[1], xs[2], xs[3], p);
    });
    return std::vector<Tensor>{gx};
  });
}
}  // namespace

Tensor patch_embed(const Tensor& x, const Tensor& weight) {
  XCLIP_CHECK(x.ndim() == 4, "patch_embed: input must be [B, C, H, W], got ", x.str());
  XCLIP_CHECK(weight.ndim() == 4 && weight.dim(1) == x.dim(1) && weight.dim(2) == weight.dim(3),
              "patch_embed: weight ", weight.str(), " must be [O, C, p, p] for input ", x.str());
  const int64_t p = weight.dim(2);
  XCLIP_CHECK(x.dim(2) >= p && x.dim(3) >= p, "patch_embed: image ", x.str(), " smaller than patch ", p);
  const int64_t B = x.dim(0), grid = (x.dim(2) / p) * (x.dim(3) / p), O = weight.dim(0);
  Tensor cols = extract_patches(x, p);
  Tensor w = reshape(weight, Shape{O, weight.numel() / O});
  return reshape(matmul(cols, w, false, true), Shape{B, grid, O});
}

}  // namespace xclip::ops
