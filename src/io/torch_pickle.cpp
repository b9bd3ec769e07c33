// torch storages and tensors inside pickles (spec §10.3-10.5).
#include "torch_pickle.hpp"

#include "tensor_layout.hpp"

namespace xclip::io::detail {

using pickle::Kind;
using pickle::Value;
using pickle::ValuePtr;

namespace {

// torch.<Name>Storage -> dtype; false for storages without a matching DType.
bool storage_dtype(const std::string& type_name, DType& out) {
  static const std::pair<const char*, DType> known[] = {
      {"FloatStorage", DType::f32}, {"HalfStorage", DType::f16}, {"BFloat16Storage", DType::bf16},
      {"DoubleStorage", DType::f64}, {"LongStorage", DType::i64}, {"IntStorage", DType::i32},
      {"ByteStorage", DType::u8},   {"BoolStorage", DType::u8}};
  for (const auto& [n, t] : known)
    if (type_name == n) {
      out = t;
      return true;
    }
  return false;
}

std::string key_text(const Value& v) {
  if (v.kind == Kind::string) return v.text;
  if (v.kind == Kind::integer) return std::to_string(v.integer);
  throw Error(format("storage key is a ", pickle::kind_name(v.kind)));
}

std::vector<int64_t> int_list(const Value& v, const char* what) {
  XCLIP_CHECK(v.is_sequence(), what, " is a ", pickle::kind_name(v.kind), ", not a tuple");
  XCLIP_CHECK(v.items.size() <= size_t(Shape::kMaxDims), what, " has ", v.items.size(), " dimensions; at most ",
              Shape::kMaxDims, " are supported");
  std::vector<int64_t> out;
  for (const auto& x : v.items) {
    const int64_t d = x->as_int();
    XCLIP_CHECK(d >= 0 && d < (int64_t(1) << 48), what, " entry ", d, " is out of range");
    out.push_back(d);
  }
  return out;
}

class TorchHooks {
 public:
  TorchHooks(const std::string& name, uint64_t max_bytes, const StorageResolver& resolve)
      : name_(name), max_bytes_(max_bytes), resolve_(resolve) {}

  std::map<std::string, std::shared_ptr<StorageRef>> storages;

  ValuePtr persistent_load(const ValuePtr& pid) {
    XCLIP_CHECK(pid->kind == Kind::tuple && pid->items.size() >= 5 && pid->items[0]->kind == Kind::string &&
                    pid->items[0]->text == "storage",
                name_, ": unsupported persistent id ", pid->repr(80), " (expected ('storage', type, key, location, numel))");
    const auto& it = pid->items;
    XCLIP_CHECK(it[1]->kind == Kind::global, name_, ": storage type is not a class: ", it[1]->repr(60));
    XCLIP_CHECK(it.size() == 5 || it[5]->is_none(), name_, ": legacy storage views are not supported");
    const std::string type_name = it[1]->parts->name;
    const std::string key = key_text(*it[2]);
    const int64_t numel = it[4]->as_int();
    auto& ref = storages[key];
    if (ref) {
      XCLIP_CHECK(ref->type_name == type_name && int64_t(ref->numel) == numel, name_, ": storage '", key,
                  "' is declared twice with different types or sizes");
    } else {
      ref = std::make_shared<StorageRef>();
      ref->key = key;
      ref->type_name = type_name;
      ref->supported = storage_dtype(type_name, ref->dtype);
      const uint64_t elem = ref->supported ? dtype_size(ref->dtype) : 1;
      XCLIP_CHECK(numel >= 0 && uint64_t(numel) <= max_bytes_ / elem, name_, ": storage '", key, "' claims ", numel,
                  " elements, more than the file holds (", max_bytes_, " bytes)");
      ref->numel = uint64_t(numel);
      if (ref->supported) resolve_(*ref);
    }
    return Value::make_native("torch", type_name, ref);
  }

  ValuePtr reduce(const Value& callable, const ValuePtr& args) {
    if (callable.kind != Kind::global) return nullptr;
    const std::string& module = callable.parts->module;
    const std::string& fn = callable.parts->name;
    const auto& a = args->items;
    if (module == "torch._utils" && (fn == "_rebuild_tensor_v2" || fn == "_rebuild_tensor" || fn == "_rebuild_tensor_v3"))
      return rebuild_tensor(a);
    if (module == "torch._utils" && (fn == "_rebuild_parameter" || fn == "_rebuild_parameter_with_state")) {
      XCLIP_CHECK(!a.empty(), name_, ": ", fn, " without arguments");
      return a[0];
    }
    if (module == "torch._tensor" && fn == "_rebuild_from_type_v2") {  // tensor subclasses: rebuild the data
      XCLIP_CHECK(a.size() >= 3 && a[0]->kind == Kind::global && a[2]->kind == Kind::tuple, name_,
                  ": unsupported _rebuild_from_type_v2 call");
      return reduce(*a[0], a[2]);
    }
    if (module == "torch.jit._pickle" && (fn.starts_with("build_") || fn == "restore_type_tag")) {
      XCLIP_CHECK(!a.empty(), name_, ": ", fn, " without arguments");
      return a[0];  // typed lists / type tags: the value itself
    }
    XCLIP_CHECK(!(module == "torch._utils" && fn.starts_with("_rebuild_")), name_, ": torch._utils.", fn,
                " (quantized, sparse or other special tensors) is not supported");
    return nullptr;
  }

 private:
  ValuePtr rebuild_tensor(const std::vector<ValuePtr>& a) {
    XCLIP_CHECK(a.size() >= 4, name_, ": _rebuild_tensor_v2 with ", a.size(), " arguments");
    XCLIP_CHECK(a[0]->kind == Kind::native && a[0]->parts->native.type() == typeid(std::shared_ptr<StorageRef>),
                name_, ": tensor without a storage (got ", a[0]->repr(60), ")");
    TensorSpec spec;
    spec.storage = std::any_cast<std::shared_ptr<StorageRef>>(a[0]->parts->native);
    spec.offset = a[1]->as_int();
    XCLIP_CHECK(spec.offset >= 0, name_, ": negative storage offset ", spec.offset);
    spec.shape = Shape(int_list(*a[2], "tensor size"));
    spec.strides = int_list(*a[3], "tensor stride");
    XCLIP_CHECK(spec.strides.size() == size_t(spec.shape.ndim()), name_, ": tensor size ", spec.shape.str(), " and ",
                spec.strides.size(), " strides disagree");
    return Value::make_native("torch", "Tensor", std::move(spec));
  }

  const std::string& name_;
  uint64_t max_bytes_;
  const StorageResolver& resolve_;
};

}  // namespace

TorchUnpickleResult unpickle_torch(std::string_view bytes, const std::string& name, uint64_t max_storage_bytes,
                                   const StorageResolver& resolve, size_t* consumed) {
  TorchHooks hooks(name, max_storage_bytes, resolve);
  pickle::Options opt;
  opt.name = name;
  opt.persistent_load = [&](const ValuePtr& pid) { return hooks.persistent_load(pid); };
  opt.reduce = [&](const Value& callable, const ValuePtr& args, bool) { return hooks.reduce(callable, args); };
  opt.build_native = [](Value&, const ValuePtr&) {};  // tensor state (e.g. Parameter attributes): not needed
  TorchUnpickleResult out;
  out.root = pickle::load(bytes, opt, consumed);
  out.storages = std::move(hooks.storages);
  return out;
}

bool is_tensor(const ValuePtr& v) {
  return v && v->kind == Kind::native && v->parts->native.type() == typeid(TensorSpec);
}

const TensorSpec& tensor_spec(const Value& v) { return *std::any_cast<TensorSpec>(&v.parts->native); }

Tensor materialize(const TensorSpec& spec, const std::string& file, const std::string& tensor_name) {
  const StorageRef& ref = *spec.storage;
  XCLIP_CHECK(ref.supported, file, ": tensor '", tensor_name, "' uses a torch.", ref.type_name,
              ", whose element type is not supported");
  XCLIP_CHECK(ref.storage != nullptr, file, ": tensor '", tensor_name, "': the data of storage '", ref.key,
              "' is missing");
  const int64_t extent = strided_extent(spec.shape, spec.strides, spec.offset);
  XCLIP_CHECK(extent >= 0 && uint64_t(extent) <= ref.numel, file, ": tensor '", tensor_name, "' of size ",
              spec.shape.str(), " at offset ", spec.offset, " reaches past its storage '", ref.key, "' of ", ref.numel,
              " elements");
  const size_t elem = dtype_size(ref.dtype);
  const size_t byte_offset = size_t(spec.offset) * elem;
  const auto* base = static_cast<const uint8_t*>(ref.storage->data);
  const bool aligned = (reinterpret_cast<uintptr_t>(base) + byte_offset) % elem == 0;
  if (is_contiguous(spec.shape, spec.strides) && aligned)
    return Tensor::from_storage(ref.storage, byte_offset, spec.shape, ref.dtype);
  return gather_strided(base, ref.dtype, spec.shape, spec.strides, spec.offset);
}

}  // namespace xclip::io::detail
