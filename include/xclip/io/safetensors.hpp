// safetensors: our native checkpoint format (names as the official X-CLIP state_dict).
//
//   NamedTensors w = io::load_safetensors("weights.safetensors");   // memory-mapped, no copy
//   const Tensor& conv = w.at("clip.visual.conv1.weight");           // throws naming file + tensor
//   io::save_safetensors("out.safetensors", w);                      // temp name, then rename
//
// Format (https://github.com/huggingface/safetensors): u64 little-endian header size N, N bytes of
// JSON {"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets": [begin, end]}, ...}
// padded with spaces to a multiple of 8, then the data buffer, fully covered by the tensors
// without holes or overlaps.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "xclip/core/tensor.hpp"
#include "xclip/io/file_bytes.hpp"

namespace xclip::io {

// An ordered list of (name, tensor) with lookup by name, plus string metadata.
// Insertion order is kept (it is the order a state_dict lists its tensors).
class NamedTensors {
 public:
  using Entry = std::pair<std::string, Tensor>;
  using List = std::vector<Entry>;  // same type as nn::NamedTensorList

  NamedTensors() = default;
  explicit NamedTensors(std::string source) : source_(std::move(source)) {}

  // Appends; a name that is already present is an error (naming the source and the tensor).
  void add(std::string name, Tensor tensor);
  // Replaces the tensor of an existing name in place, or appends a new one.
  void set(const std::string& name, Tensor tensor);
  // Removes a name; returns whether it was present.
  bool erase(const std::string& name);

  const Tensor* find(const std::string& name) const;  // nullptr when absent
  bool contains(const std::string& name) const { return find(name) != nullptr; }
  // Throws xclip::Error "<source>: no tensor named '<name>' (N tensors)" when absent.
  const Tensor& at(const std::string& name) const;

  std::vector<std::string> names() const;
  const List& list() const { return entries_; }  // pass to nn::Module::load_state_dict
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  List::const_iterator begin() const { return entries_.begin(); }
  List::const_iterator end() const { return entries_.end(); }
  size_t total_bytes() const;  // sum of nbytes() of every tensor

  // Where the tensors came from (a path), used in error messages; may be empty.
  const std::string& source() const { return source_; }
  void set_source(std::string source) { source_ = std::move(source); }

  std::map<std::string, std::string> metadata;

 private:
  std::string describe() const;  // the source, or "tensor list" when there is none
  List entries_;
  std::unordered_map<std::string, size_t> index_;
  std::string source_;
};

// Memory-mapped: every tensor is a Tensor over the mapping (Storage::wrap; the mapping is released
// with the last tensor), except a tensor whose data is not aligned to its element size, which is
// copied. The order is the order of the data in the file. Supported dtypes: F64 F32 F16 BF16 I64
// I32 U8 (BOOL is read as u8). Any malformed header, out-of-range or overlapping offsets, size
// mismatch or unsupported dtype throws xclip::Error naming the file and the tensor.
NamedTensors load_safetensors(const std::string& path);
// The same over bytes already in memory (or mapped); tensors keep `bytes` alive.
NamedTensors parse_safetensors(const std::shared_ptr<FileBytes>& bytes);

// Writes atomically (temporary name in the same folder, then rename; nothing is left behind on
// error). Layout as the reference safetensors library writes it: tensors ordered by element size
// (largest first; I64 before F64), then by name, so every tensor is aligned to its element size;
// header JSON "__metadata__" first (omitted when empty), then the tensors in data order, padded
// with spaces to a multiple of 8. CPU tensors only; the same input always gives the same bytes.
void save_safetensors(const std::string& path, const NamedTensors& tensors);
// The header bytes (size prefix included) save_safetensors writes, and the tensors in data order.
std::string safetensors_header(const NamedTensors& tensors, std::vector<const NamedTensors::Entry*>* order = nullptr);

}  // namespace xclip::io
