// Checks the X-CLIP model against a reference bundle (format: ../shared/design/architecture.md,
// "Interfaces that others rely on"; written by tools/reference/xclip_reference.py): loads the
// weights and inputs, runs the training forward, the backward and the evaluation path, and
// compares every expected tensor: sim_train, loss, sim_eval, the intermediates, grad.<name> for
// every parameter. `xclip-cli verify` prints the table and exits non-zero above the tolerance.
//
// Error of a tensor = max|ours − expected| / max|expected| (relative to the tensor's own scale, so
// elements that are ~0 are not divided by ~0). A bundle passes when every tensor is ≤ tolerance,
// every parameter has an expected gradient and every expected tensor was checked. A bundle may
// also give "absolute_tolerance": a tensor whose max|ours − expected| is within it passes too
// (for values that are 0 in exact arithmetic, where f32 leaves rounding noise and the relative
// error means nothing; e.g. the gradient of a bias added to every logit, which the softmax cancels).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "xclip/core/dtype.hpp"

namespace xclip::models {

struct TensorCheck {
  std::string name;
  std::string shape;
  double max_expected = 0;  // max |expected|
  double max_diff = 0;      // max |ours − expected|
  double error = 0;         // max_diff / max_expected (0 when both are all zero)
  bool ok = false;
  bool by_absolute = false;  // passed on the absolute tolerance alone
};

struct VerifyResult {
  std::string bundle;
  std::string description;
  double tolerance = 0;       // for the outputs and intermediates
  double grad_tolerance = 0;  // for grad.*: looser in the fp16 bundles (see tools/reference/README.md)
  double absolute_tolerance = 0;  // config "absolute_tolerance" (default 0: relative only)
  std::vector<TensorCheck> checks;    // in bundle order: outputs, intermediates, gradients
  std::vector<std::string> problems;  // missing/unexpected tensors, load problems
  bool ok() const;
  const TensorCheck* worst() const;  // the largest relative error, not counting absolute passes
  std::string table() const;  // one line per tensor, then a summary line
};

struct VerifyOptions {
  // Default: the bundle's config.json "tolerance" (else 1e-5) and "grad_tolerance" (else the
  // tolerance). Given here, it applies to every tensor, gradients included.
  std::optional<double> tolerance;
  Device device = Device::cpu;
};

// Throws xclip::Error naming the file for a missing or malformed bundle.
VerifyResult verify_bundle(const std::string& bundle_dir, const VerifyOptions& options = {});

}  // namespace xclip::models
