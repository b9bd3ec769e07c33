// NamedTensors: ordered (name, tensor) list with an index by name.
#include "xclip/io/safetensors.hpp"

namespace xclip::io {

std::string NamedTensors::describe() const { return source_.empty() ? std::string("tensor list") : source_; }

void NamedTensors::add(std::string name, Tensor tensor) {
  XCLIP_CHECK(!index_.count(name), describe(), ": tensor '", name, "' appears twice");
  index_.emplace(name, entries_.size());
  entries_.emplace_back(std::move(name), std::move(tensor));
}

void NamedTensors::set(const std::string& name, Tensor tensor) {
  if (auto it = index_.find(name); it != index_.end()) {
    entries_[it->second].second = std::move(tensor);
    return;
  }
  add(name, std::move(tensor));
}

bool NamedTensors::erase(const std::string& name) {
  auto it = index_.find(name);
  if (it == index_.end()) return false;
  const size_t pos = it->second;
  entries_.erase(entries_.begin() + std::ptrdiff_t(pos));
  index_.erase(it);
  for (auto& [_, i] : index_)
    if (i > pos) --i;
  return true;
}

const Tensor* NamedTensors::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second].second;
}

const Tensor& NamedTensors::at(const std::string& name) const {
  const Tensor* t = find(name);
  XCLIP_CHECK(t != nullptr, describe(), ": no tensor named '", name, "' (", entries_.size(), " tensors)");
  return *t;
}

std::vector<std::string> NamedTensors::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& [name, _] : entries_) out.push_back(name);
  return out;
}

size_t NamedTensors::total_bytes() const {
  size_t total = 0;
  for (const auto& [_, t] : entries_) total += t.nbytes();
  return total;
}

}  // namespace xclip::io
