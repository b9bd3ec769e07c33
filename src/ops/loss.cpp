// Row-wise cross-entropy: mean_i −log_softmax(logits[i])[target[i]].
#include "op_util.hpp"
#include "xclip/ops.hpp"

namespace xclip::ops {

Tensor cross_entropy(const Tensor& logits, const Tensor& target) {
  XCLIP_CHECK(logits.ndim() == 2, "cross_entropy: logits must be [B, C], got ", logits.str());
  XCLIP_CHECK(target.ndim() == 1 && target.dim(0) == logits.dim(0), "cross_entropy: target ", target.str(),
              " for logits ", logits.str());
  Tensor lsm = log_softmax(logits, 1);
  Tensor picked = gather(lsm, 1, reshape(detail::as_index("cross_entropy", target), Shape{logits.dim(0), 1}));
  return neg(mean_all(picked));
}

}  // namespace xclip::ops
