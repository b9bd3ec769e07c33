// The tape: recording nodes and running backward.
#include "xclip/autograd.hpp"

#include <unordered_map>
#include <unordered_set>

#include "xclip/core/profile.hpp"
#include "xclip/ops.hpp"

namespace xclip {

namespace {
thread_local bool g_grad_enabled = true;

// Adds `g` into `slot` (first arrival stores it; later ones sum). Shapes must match exactly.
void accumulate(Tensor& slot, const Tensor& g, const Tensor& target, const std::string& op) {
  XCLIP_CHECK(g.shape() == target.shape(), "backward of ", op, ": gradient ", g.str(), " for input ",
              target.str());
  if (!slot.defined()) {
    slot = g.dtype() == target.dtype() ? g : g.to(target.dtype());
    return;
  }
  NoGradGuard no_grad;
  slot = ops::add(slot, g);
}

struct DfsFrame {
  Tensor t;
  size_t next_input;
};

// Post-order DFS from the frame on top of `stack`: appends to `order` each tensor after its inputs.
void walk_inputs(std::vector<DfsFrame>& stack, std::unordered_set<TensorImpl*>& visited, std::vector<Tensor>& order) {
  while (!stack.empty()) {
    DfsFrame& f = stack.back();
    const auto& node = f.t.grad_fn();
    if (node && f.next_input < node->inputs.size()) {
      const Tensor& in = node->inputs[f.next_input++];
      if (in.defined() && in.requires_grad() && !visited.count(in.impl())) {
        visited.insert(in.impl());
        stack.push_back({in, 0});
      }
      continue;
    }
    order.push_back(f.t);
    stack.pop_back();
  }
}

// Reverse topological order of the tensors reachable from `roots` through grad_fn edges
// (iterative DFS, so deep graphs cannot overflow the stack). One post-order over all roots with
// a shared visited set: a tensor comes after everything that uses it, whichever root reaches it.
std::vector<Tensor> topological_order(const std::vector<Tensor>& roots) {
  std::vector<Tensor> order;
  std::unordered_set<TensorImpl*> visited;
  std::vector<DfsFrame> stack;
  for (const Tensor& root : roots) {
    if (!visited.insert(root.impl()).second) continue;
    stack.push_back({root, 0});
    walk_inputs(stack, visited, order);
  }
  return {order.rbegin(), order.rend()};  // roots first
}
}  // namespace

bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool on) { g_grad_enabled = on; }

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Tensor record(const char* op, Tensor out, std::vector<Tensor> inputs, BackwardFn backward) {
  if (!needs_grad(inputs)) return out;
  auto node = std::make_shared<Node>();
  node->op = op;
  node->inputs = std::move(inputs);
  node->backward = std::move(backward);
  out.set_grad_fn(std::move(node));
  out.impl()->requires_grad = true;
  return out;
}

// Tensor::backward is declared with the tensor (as PyTorch's Tensor.backward) and defined here,
// on the tape it runs: the core layer does not depend on autograd.
void Tensor::backward() const {
  XCLIP_CHECK(numel() == 1, "backward: called on ", str(), "; pass a gradient for a non-scalar output");
  run_backward(*this, full(shape(), 1.0, dtype(), device()));
}
void Tensor::backward(const Tensor& grad_output) const { run_backward(*this, grad_output); }

void run_backward(const Tensor& root, const Tensor& grad_output) {
  run_backward(std::vector<Tensor>{root}, std::vector<Tensor>{grad_output});
}

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_outputs) {
  XCLIP_CHECK(roots.size() == grad_outputs.size(), "backward: ", roots.size(), " outputs but ", grad_outputs.size(),
              " gradients");
  for (size_t i = 0; i < roots.size(); ++i) {
    XCLIP_CHECK(roots[i].requires_grad(), "backward: the tensor ", roots[i].str(),
                " does not require grad (no input of its graph requires grad, or it was made under NoGradGuard)");
    XCLIP_CHECK(grad_outputs[i].shape() == roots[i].shape(), "backward: gradient ", grad_outputs[i].str(),
                " for output ", roots[i].str());
  }
  NoGradGuard no_grad;  // gradients themselves are not differentiated
  // When profiling: the whole pass is the region "backward"; each node's closure is the region
  // "backward.<op>", aggregated over the nodes of one op (accumulating gradients is backward's own time).
  profile::Scope pass("backward");
  std::vector<Tensor> order = topological_order(roots);
  std::unordered_map<TensorImpl*, Tensor> grads;
  for (size_t i = 0; i < roots.size(); ++i) accumulate(grads[roots[i].impl()], grad_outputs[i], roots[i], "backward");
  for (Tensor& t : order) {
    auto it = grads.find(t.impl());
    if (it == grads.end()) continue;  // no gradient flowed here
    Tensor g = std::move(it->second);
    grads.erase(it);
    std::shared_ptr<Node> node = t.grad_fn();
    if (!node) {  // a leaf: accumulate into .grad across backward calls
      accumulate(t.mutable_grad(), g, t, "leaf");
      continue;
    }
    XCLIP_CHECK(node->backward, "backward through ", node->op,
                " a second time: the graph was freed by the first backward");
    std::vector<Tensor> input_grads = [&] {
      profile::Scope op(node->op);
      return node->backward(g);
    }();
    XCLIP_CHECK(input_grads.size() == node->inputs.size(), "backward of ", node->op, " returned ",
                input_grads.size(), " gradients for ", node->inputs.size(), " inputs");
    for (size_t i = 0; i < input_grads.size(); ++i) {
      const Tensor& in = node->inputs[i];
      if (!in.defined() || !in.requires_grad() || !input_grads[i].defined()) continue;
      accumulate(grads[in.impl()], input_grads[i], in, node->op);
    }
    // Free the graph as we go: saved tensors and edges are released now. The emptied node stays
    // on the tensor so a second backward through it reports the freed graph.
    node->backward = nullptr;
    node->inputs.clear();
  }
}

}  // namespace xclip
