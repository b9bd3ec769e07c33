// The torch side of unpickling: storages named by persistent ids and tensors rebuilt by
// torch._utils._rebuild_tensor_v2, kept as lazy specs until the storages' bytes are known
// (legacy files put the bytes after the pickle), then materialized into Tensors.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "xclip/core/tensor.hpp"
#include "xclip/io/pickle.hpp"

namespace xclip::io::detail {

struct StorageRef {
  std::string key;        // the archive key ("0", "1", ... or a legacy object id)
  std::string type_name;  // "FloatStorage", ...
  DType dtype = DType::f32;
  bool supported = false;  // false for storages we have no dtype for (int16, complex, ...)
  uint64_t numel = 0;
  std::shared_ptr<Storage> storage;  // numel elements; set when the bytes are found
};

struct TensorSpec {
  std::shared_ptr<StorageRef> storage;
  int64_t offset = 0;  // elements
  Shape shape;
  std::vector<int64_t> strides;
};

// Called once per storage key as it is first met; may set ref.storage (zip) or leave it for later.
using StorageResolver = std::function<void(StorageRef& ref)>;

struct TorchUnpickleResult {
  pickle::ValuePtr root;
  std::map<std::string, std::shared_ptr<StorageRef>> storages;  // by key
};

// Unpickles a torch pickle (torch.save, TorchScript data.pkl, legacy main pickle). `max_numel_bytes`
// bounds every storage's claimed size (the file size) before anything is allocated.
TorchUnpickleResult unpickle_torch(std::string_view bytes, const std::string& name, uint64_t max_storage_bytes,
                                   const StorageResolver& resolve, size_t* consumed = nullptr);

bool is_tensor(const pickle::ValuePtr& v);
const TensorSpec& tensor_spec(const pickle::Value& v);
// The Tensor of a spec: a view of the storage when contiguous and aligned, else a contiguous copy.
// Errors name `file` and `tensor_name`.
Tensor materialize(const TensorSpec& spec, const std::string& file, const std::string& tensor_name);

}  // namespace xclip::io::detail
