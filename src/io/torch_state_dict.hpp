// Finding the (name, tensor) pairs in an unpickled torch object: a state_dict (dict of tensors),
// a TorchScript module tree (attributes of __torch__.* objects) or a pickled nn.Module.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "torch_pickle.hpp"

namespace xclip::io::detail {

using NamedSpecs = std::vector<std::pair<std::string, pickle::ValuePtr>>;  // values are tensors

// What a TorchScript class declares in its code (code/__torch__/....py):
//   __parameters__ = ["weight", "bias", ]
//   __buffers__ = []
struct ScriptClassInfo {
  std::vector<std::string> parameters, buffers;
};
std::optional<ScriptClassInfo> parse_script_class(std::string_view code, const std::string& class_name);

// (module, class) of a __torch__ object -> its declared parameters and buffers, nullopt if unknown.
using ScriptClassLookup = std::function<std::optional<ScriptClassInfo>(const std::string& module,
                                                                       const std::string& name)>;

// model.state_dict() of a TorchScript module tree: per module its parameters, then its buffers (in
// declaration order), then its submodules. Tensor attributes that are neither (e.g. CLIP's
// attn_mask) are left out. Classes without code fall back to every tensor attribute (noted).
NamedSpecs script_module_state_dict(const pickle::Value& root, const ScriptClassLookup& lookup,
                                    const std::string& file, std::vector<std::string>& notes);

// A torch.save'd object: a dict of tensors (an OrderedDict state_dict), a dict holding one under
// "state_dict" / "model" / "module", or a pickled nn.Module.
NamedSpecs saved_object_state_dict(const pickle::Value& root, const std::string& file,
                                   std::vector<std::string>& notes);

}  // namespace xclip::io::detail
