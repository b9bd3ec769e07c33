#include "xclip/nn/module.hpp"

#include <set>
#include <sstream>

namespace xclip::nn {

Tensor& Module::register_parameter(const std::string& name, Tensor value) {
  for (const auto& [n, _] : params_)
    XCLIP_CHECK(n != name, "Module: parameter '", name, "' registered twice");
  if (is_floating(value.dtype())) value.set_requires_grad(true);
  params_.emplace_back(name, std::make_unique<Tensor>(std::move(value)));
  return *params_.back().second;
}

void Module::collect(const std::string& prefix, NamedTensorList& out) const {
  collect_own(prefix, out);
  collect_children(prefix, out);
}

void Module::collect_own(const std::string& prefix, NamedTensorList& out) const {
  for (const auto& [name, t] : params_) out.emplace_back(prefix + name, *t);
  for (const auto& [name, child] : children_)
    if (name.empty()) child->collect_own(prefix, out);
}

void Module::collect_children(const std::string& prefix, NamedTensorList& out) const {
  for (const auto& [name, child] : children_) {
    if (name.empty())
      child->collect_children(prefix, out);
    else
      child->collect(prefix + name + ".", out);
  }
}

NamedTensorList Module::named_parameters(const std::string& prefix) const {
  NamedTensorList out;
  collect(prefix, out);
  for (auto& [name, t] : out)
    if (t.name().empty()) t.set_name(name);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [_, t] : named_parameters()) out.push_back(t);
  return out;
}

Tensor Module::parameter(const std::string& dotted_name) const {
  for (auto& [name, t] : named_parameters())
    if (name == dotted_name) return t;
  throw Error(format("Module: no parameter named '", dotted_name, "'"));
}

bool Module::has_parameter(const std::string& dotted_name) const {
  for (auto& [name, t] : named_parameters())
    if (name == dotted_name) return true;
  return false;
}

NamedTensorList Module::state_dict(const std::string& prefix) const {
  NamedTensorList out;
  for (auto& [name, t] : named_parameters(prefix)) out.emplace_back(name, t.detach());
  return out;
}

std::vector<std::string> Module::load_state_dict(const NamedTensorList& tensors, bool strict,
                                                 const std::string& prefix) {
  NamedTensorList params = named_parameters(prefix);
  std::map<std::string, const Tensor*> given;
  for (const auto& [name, t] : tensors) given[name] = &t;
  std::ostringstream problems;
  int n_problems = 0;
  std::set<std::string> used;
  for (const auto& [name, p] : params) {
    auto it = given.find(name);
    if (it == given.end()) {
      if (strict) {
        problems << "\n  missing: " << name << " (expected " << p.shape().str() << ")";
        ++n_problems;
      }
      continue;
    }
    used.insert(name);
    if (it->second->shape() != p.shape()) {
      problems << "\n  shape mismatch: " << name << " expected " << p.shape().str() << ", found "
               << it->second->shape().str();
      ++n_problems;
    }
  }
  std::vector<std::string> unexpected;
  for (const auto& [name, _] : tensors)
    if (!used.count(name)) unexpected.push_back(name);
  if (strict)
    for (const auto& name : unexpected) {
      problems << "\n  unexpected: " << name;
      ++n_problems;
    }
  XCLIP_CHECK(n_problems == 0, "load_state_dict: ", n_problems, " problem(s):", problems.str());
  for (auto& [name, p] : params) {
    auto it = given.find(name);
    if (it != given.end()) p.copy_(*it->second);
  }
  return unexpected;
}

void Module::set_requires_grad(bool on) {
  for (Tensor& t : parameters())
    if (is_floating(t.dtype())) t.set_requires_grad(on);
}

void Module::to(Device device) {
  for (Tensor& t : parameters()) t.move_to_(device);
}

Device Module::device() const {
  const NamedTensorList params = named_parameters();
  return params.empty() ? Device::cpu : params.front().second.device();
}

void Module::zero_grad() {
  for (Tensor& t : parameters()) t.zero_grad();
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const Tensor& t : parameters()) n += t.numel();
  return n;
}

}  // namespace xclip::nn
