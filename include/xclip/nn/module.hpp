// Module: a tree of named parameters whose dotted names are exactly the PyTorch state_dict names
// ("visual.transformer.resblocks.3.mlp.c_fc.weight"). One source of truth for names: loading,
// saving, optimizer groups and error messages all use named_parameters().
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "xclip/core/tensor.hpp"

namespace xclip::nn {

using NamedTensorList = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Every parameter, depth first in registration order, names prefixed with `prefix`.
  NamedTensorList named_parameters(const std::string& prefix = "") const;
  std::vector<Tensor> parameters() const;
  Tensor parameter(const std::string& dotted_name) const;  // throws naming the missing parameter
  bool has_parameter(const std::string& dotted_name) const;

  // state_dict(): the parameters (shared storage, detached) under their dotted names.
  NamedTensorList state_dict(const std::string& prefix = "") const;
  // Copies values in (converting dtype, e.g. fp16 checkpoints into f32 parameters). With `strict`,
  // any missing or unexpected name is an error; mis-shaped tensors always are. The error lists
  // every problem (name, expected shape, found shape) before anything is copied.
  // Returns the names that were not used (unexpected) when not strict.
  std::vector<std::string> load_state_dict(const NamedTensorList& tensors, bool strict = true,
                                           const std::string& prefix = "");

  void set_requires_grad(bool on);  // on every parameter
  // Moves every parameter (and its gradient) to `device` in place: the Tensor objects stay the
  // same, so references held by layers, models and optimizer groups follow. Optimizer state
  // (m, v) is not moved: build the optimizer after moving the model.
  void to(Device device);
  // The device of the first parameter (cpu for a module without parameters).
  Device device() const;
  void zero_grad();
  int64_t num_parameters() const;

 protected:
  // Registers a parameter (requires_grad on if floating) and returns a reference to the stored
  // tensor; the reference stays valid for the module's lifetime.
  Tensor& register_parameter(const std::string& name, Tensor value);
  // A child registered under the empty name is merged into this module: its parameters and
  // children are named and ordered as if registered here directly (own parameters first, then
  // children, as PyTorch lists them). A model uses it to own a head whose parameters have
  // top-level official names (global_mat_weight, transformerClip.*) without a prefix.
  template <class M>
  M& register_module(const std::string& name, std::shared_ptr<M> module) {
    M& ref = *module;
    children_.emplace_back(name, std::move(module));
    return ref;
  }

 private:
  void collect(const std::string& prefix, NamedTensorList& out) const;
  void collect_own(const std::string& prefix, NamedTensorList& out) const;       // merged children's too
  void collect_children(const std::string& prefix, NamedTensorList& out) const;  // named children, depth first
  std::vector<std::pair<std::string, std::unique_ptr<Tensor>>> params_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

}  // namespace xclip::nn
