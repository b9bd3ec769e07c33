// safetensors reader (memory-mapped, validated) and writer (atomic, deterministic layout).
#include "xclip/io/safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "xclip/core/checked.hpp"
#include "xclip/io/json_file.hpp"

namespace xclip::io {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // the reference library's limit

// safetensors dtype name <-> our dtype. BOOL is one byte per element and read as u8.
DType parse_dtype(const std::string& name, const std::string& file, const std::string& tensor) {
  static const std::pair<const char*, DType> known[] = {
      {"F64", DType::f64}, {"F32", DType::f32}, {"F16", DType::f16}, {"BF16", DType::bf16},
      {"I64", DType::i64}, {"I32", DType::i32}, {"U8", DType::u8},   {"BOOL", DType::u8}};
  for (const auto& [n, t] : known)
    if (name == n) return t;
  throw Error(format(file, ": tensor '", tensor, "' has dtype '", name,
                     "', which is not supported (F64, F32, F16, BF16, I64, I32, U8, BOOL are)"));
}

const char* safetensors_dtype_name(DType t) {
  switch (t) {
    case DType::f64: return "F64";
    case DType::f32: return "F32";
    case DType::f16: return "F16";
    case DType::bf16: return "BF16";
    case DType::i64: return "I64";
    case DType::i32: return "I32";
    case DType::u8: return "U8";
  }
  return "?";
}

// The reference writer orders tensors by its Dtype enum, largest first (U64 I64 F64 F32 ... U8).
int layout_rank(DType t) {
  switch (t) {
    case DType::i64: return 7;
    case DType::f64: return 6;
    case DType::f32: return 5;
    case DType::i32: return 4;
    case DType::bf16: return 3;
    case DType::f16: return 2;
    case DType::u8: return 1;
  }
  return 0;
}

struct HeaderEntry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

Shape parse_shape(const nlohmann::json& j, const std::string& file, const std::string& tensor) {
  XCLIP_CHECK(j.is_array(), file, ": tensor '", tensor, "': 'shape' is not an array");
  XCLIP_CHECK(j.size() <= size_t(Shape::kMaxDims), file, ": tensor '", tensor, "' has ", j.size(),
              " dimensions; at most ", Shape::kMaxDims, " are supported");
  std::vector<int64_t> dims;
  for (const auto& d : j) {
    XCLIP_CHECK(d.is_number_unsigned(), file, ": tensor '", tensor, "': shape entry ", json_excerpt(d, 60),
                " is not a non-negative integer");
    const uint64_t v = d.get<uint64_t>();
    XCLIP_CHECK(v < (uint64_t(1) << 62), file, ": tensor '", tensor, "': dimension ", v, " is too large");
    dims.push_back(int64_t(v));
  }
  return Shape(dims);
}

HeaderEntry parse_entry(const std::string& name, const nlohmann::json& j, uint64_t data_bytes,
                        const std::string& file) {
  XCLIP_CHECK(j.is_object(), file, ": header entry '", name, "' is not an object");
  XCLIP_CHECK(j.contains("dtype") && j["dtype"].is_string(), file, ": tensor '", name, "' has no dtype string");
  XCLIP_CHECK(j.contains("shape"), file, ": tensor '", name, "' has no shape");
  XCLIP_CHECK(j.contains("data_offsets"), file, ": tensor '", name, "' has no data_offsets");
  HeaderEntry e{name, parse_dtype(j["dtype"].get<std::string>(), file, name), parse_shape(j["shape"], file, name), 0,
                0};
  const auto& off = j["data_offsets"];
  XCLIP_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(),
              file, ": tensor '", name, "': data_offsets must be two non-negative integers, got ", json_excerpt(off, 80));
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  XCLIP_CHECK(e.begin <= e.end && e.end <= data_bytes, file, ": tensor '", name, "': data_offsets [", e.begin,
              ", ", e.end, "] lie outside the data buffer of ", data_bytes, " bytes (truncated file?)");
  const uint64_t need = checked_nbytes(uint64_t(checked_numel(e.shape.vec(), file + ": tensor '" + name + "'")),
                                      dtype_size(e.dtype), file + ": tensor '" + name + "'");
  XCLIP_CHECK(need == e.end - e.begin, file, ": tensor '", name, "': ", safetensors_dtype_name(e.dtype),
              e.shape.str(), " needs ", need, " bytes but data_offsets span ", e.end - e.begin);
  return e;
}

std::map<std::string, std::string> parse_metadata(const nlohmann::json& j, const std::string& file) {
  XCLIP_CHECK(j.is_object(), file, ": __metadata__ is not an object");
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : j.items()) {
    XCLIP_CHECK(v.is_string(), file, ": __metadata__ value of '", k, "' is not a string");
    out[k] = v.get<std::string>();
  }
  return out;
}

// The data buffer must be covered exactly: sorted by offset, each tensor starts where the last ended.
void check_coverage(const std::vector<HeaderEntry>& sorted, uint64_t data_bytes, const std::string& file) {
  uint64_t pos = 0;
  for (const auto& e : sorted) {
    XCLIP_CHECK(e.begin == pos, file, ": tensor '", e.name, "' starts at data offset ", e.begin, " but the ",
                pos == 0 ? "buffer starts" : "previous tensor ends", " at ", pos,
                " (overlapping tensors or a hole in the data)");
    pos = e.end;
  }
  XCLIP_CHECK(pos == data_bytes, file, ": the tensors cover ", pos, " bytes of data but the file holds ",
              data_bytes, " (trailing bytes or a corrupt header)");
}

// The header is {name: {"dtype": ..., "shape": [...], "data_offsets": [...]}, "__metadata__": {...}}:
// three levels of containers; anything deeper is not a safetensors header.
nlohmann::json parse_header_json(const uint8_t* p, size_t n, const std::string& file) {
  XCLIP_CHECK(n > 0 && p[0] == '{', file, ": not a safetensors file (the header does not start with '{')");
  return parse_json(std::string_view(reinterpret_cast<const char*>(p), n), file + ": safetensors header", 3);
}

}  // namespace

NamedTensors parse_safetensors(const std::shared_ptr<FileBytes>& bytes) {
  const std::string& file = bytes->name();
  const size_t size = bytes->size();
  XCLIP_CHECK(size >= 8, file, ": not a safetensors file: ", size, " bytes, shorter than the 8-byte header size");
  const uint64_t n = read_u64_le(bytes->data());
  XCLIP_CHECK(n <= kMaxHeaderBytes && n <= size - 8, file, ": safetensors header size ", n,
              " is larger than the file (", size, " bytes) or the 100 MB limit: truncated or not safetensors");
  const nlohmann::json header = parse_header_json(bytes->data() + 8, size_t(n), file);
  XCLIP_CHECK(header.is_object(), file, ": safetensors header is not a JSON object");

  const uint64_t data_start = 8 + n;
  const uint64_t data_bytes = size - data_start;
  NamedTensors out(file);
  std::vector<HeaderEntry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__")
      out.metadata = parse_metadata(value, file);
    else
      entries.push_back(parse_entry(key, value, data_bytes, file));
  }
  std::stable_sort(entries.begin(), entries.end(), [](const HeaderEntry& a, const HeaderEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  check_coverage(entries, data_bytes, file);

  auto storage = Storage::wrap(bytes->mutable_data(), size, Device::cpu, bytes);
  for (const auto& e : entries) {
    const uint64_t offset = data_start + e.begin;
    Tensor t;
    if (offset % dtype_size(e.dtype) == 0) {
      t = Tensor::from_storage(storage, size_t(offset), e.shape, e.dtype);
    } else {  // misaligned data from another writer: copy so element access stays aligned
      t = Tensor::empty(e.shape, e.dtype);
      std::memcpy(t.raw_data(), bytes->data() + offset, size_t(e.end - e.begin));
    }
    out.add(e.name, std::move(t));
  }
  return out;
}

NamedTensors load_safetensors(const std::string& path) { return parse_safetensors(FileBytes::map(path)); }

std::string safetensors_header(const NamedTensors& tensors, std::vector<const NamedTensors::Entry*>* order_out) {
  const std::string& file = tensors.source().empty() ? std::string("safetensors") : tensors.source();
  std::vector<const NamedTensors::Entry*> order;
  for (const auto& e : tensors) {
    XCLIP_CHECK(e.second.defined(), file, ": tensor '", e.first, "' is undefined");
    XCLIP_CHECK(e.second.device() == Device::cpu, file, ": tensor '", e.first, "' is on ",
                device_name(e.second.device()), "; move it to the CPU before saving");
    order.push_back(&e);
  }
  std::stable_sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    const int ra = layout_rank(a->second.dtype()), rb = layout_rank(b->second.dtype());
    return ra != rb ? ra > rb : a->first < b->first;
  });
  auto quoted = [&](const std::string& s) {
    try {
      return nlohmann::json(s).dump();
    } catch (const nlohmann::json::exception& e) {
      throw Error(format(file, ": name or metadata '", s, "' is not valid UTF-8: ", e.what()));
    }
  };
  std::string json = "{";
  if (!tensors.metadata.empty()) {
    json += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : tensors.metadata) {
      json += (first ? "" : ",") + quoted(k) + ":" + quoted(v);
      first = false;
    }
    json += "}";
  }
  uint64_t offset = 0;
  for (const auto* e : order) {
    XCLIP_CHECK(e->first != "__metadata__", file, ": '__metadata__' cannot be a tensor name");
    const Tensor& t = e->second;
    std::string shape;
    for (int i = 0; i < t.ndim(); ++i) shape += (i ? "," : "") + std::to_string(t.dim(i));
    const uint64_t end = offset + t.nbytes();
    json += (json.size() > 1 ? "," : "") + quoted(e->first) + ":{\"dtype\":\"" + safetensors_dtype_name(t.dtype()) +
            "\",\"shape\":[" + shape + "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(end) +
            "]}";
    offset = end;
  }
  json += "}";
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char((uint64_t(json.size()) >> (8 * i)) & 0xff);
  if (order_out) *order_out = std::move(order);
  return out + json;
}

void save_safetensors(const std::string& path, const NamedTensors& tensors) {
  std::vector<const NamedTensors::Entry*> order;
  const std::string header = safetensors_header(tensors, &order);
  std::vector<std::pair<const void*, size_t>> pieces{{header.data(), header.size()}};
  for (const auto* e : order)
    if (e->second.nbytes() > 0) pieces.emplace_back(e->second.raw_data(), e->second.nbytes());
  write_file_atomically(path, pieces);
}

}  // namespace xclip::io
