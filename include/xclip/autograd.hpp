// Reverse-mode autodiff on a tape (micrograd with tensors).
// Each differentiable op makes its output and, when grad mode is on and an input requires grad,
// a Node holding the inputs and a closure that maps the output gradient to input gradients.
// backward() walks the nodes in reverse topological order, accumulates into leaves' .grad,
// and frees every node it visited.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "xclip/core/tensor.hpp"

namespace xclip {

// Gradient closure: receives dL/d(output) and returns one gradient per input (undefined = none).
// Closures must not capture the output Tensor itself (that would be a reference cycle); capture
// `out.detach()` instead, which shares the storage but not the autograd history.
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Node {
  std::string op;               // op name, for error messages and graph dumps
  std::vector<Tensor> inputs;   // the op's tensor inputs, in order
  BackwardFn backward;
};

// Grad mode is thread-local and on by default.
bool grad_enabled();
void set_grad_enabled(bool on);

// Sets grad mode for a scope and restores the previous mode at its end (the chunked frame-word
// backward turns it on inside a backward, where the tape has turned it off).
class GradModeGuard {
 public:
  explicit GradModeGuard(bool on) : prev_(grad_enabled()) { set_grad_enabled(on); }
  ~GradModeGuard() { set_grad_enabled(prev_); }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool prev_;
};

// torch.no_grad(): no graph is recorded in the scope.
class NoGradGuard : public GradModeGuard {
 public:
  NoGradGuard() : GradModeGuard(false) {}
};

// True when grad mode is on and at least one input requires grad.
bool needs_grad(const std::vector<Tensor>& inputs);

// Attaches a Node to `out` when needs_grad(inputs); returns `out` (marked requires_grad then).
Tensor record(const char* op, Tensor out, std::vector<Tensor> inputs, BackwardFn backward);

// Runs backward from `root` with the given output gradient (same shape as root).
void run_backward(const Tensor& root, const Tensor& grad_output);
// One backward from several outputs of one graph, each with its gradient (the same as backward
// of sum_i <roots[i], grad_outputs[i]>): what recomputing a part of a graph and feeding it the
// gradients its outputs received elsewhere needs. A root listed twice gets the sum of its gradients.
void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_outputs);

}  // namespace xclip
