// .npy reader/writer. The header is a Python dict literal:
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
#include "xclip/io/npy.hpp"

#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

#include "xclip/io/file_bytes.hpp"

namespace xclip::io {

namespace {
const char kMagic[] = "\x93NUMPY";

struct Descr {
  const char* text;
  DType dtype;
};
const Descr kDescrs[] = {{"<f4", DType::f32}, {"<f8", DType::f64}, {"<f2", DType::f16}, {"<i4", DType::i32},
                         {"<i8", DType::i64}, {"|u1", DType::u8},  {"<u1", DType::u8},  {"|b1", DType::u8}};

DType parse_descr(const std::string& path, const std::string& d) {
  for (const Descr& x : kDescrs)
    if (d == x.text) return x.dtype;
  throw Error(format(path, ": unsupported .npy dtype '", d, "' (supported: <f4 <f8 <f2 <i4 <i8 |u1 |b1)"));
}

const char* descr_for(DType t) {
  switch (t) {
    case DType::f32: return "<f4";
    case DType::f64: return "<f8";
    case DType::f16: return "<f2";
    case DType::i32: return "<i4";
    case DType::i64: return "<i8";
    case DType::u8: return "|u1";
    case DType::bf16: break;
  }
  throw Error(format("save_npy: dtype ", dtype_name(t), " has no .npy equivalent (convert to f32 first)"));
}

std::string field(const std::string& path, const std::string& header, const std::string& key) {
  std::smatch m;
  std::regex re("'" + key + "'\\s*:\\s*('[^']*'|True|False|\\([^)]*\\))");
  XCLIP_CHECK(std::regex_search(header, m, re), path, ": .npy header has no '", key, "': ", header);
  std::string v = m[1].str();
  if (v.size() >= 2 && v.front() == '\'') v = v.substr(1, v.size() - 2);
  return v;
}

Shape parse_shape(const std::string& path, const std::string& tuple) {
  std::vector<int64_t> dims;
  std::string inner = tuple.substr(1, tuple.size() - 2);
  std::stringstream ss(inner);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (item.empty()) continue;
    try {
      size_t used = 0;
      long long v = std::stoll(item, &used);
      XCLIP_CHECK(used == item.size() && v >= 0, "");
      dims.push_back(v);
    } catch (...) {
      throw Error(format(path, ": bad dimension '", item, "' in .npy shape ", tuple));
    }
  }
  XCLIP_CHECK(dims.size() <= size_t(Shape::kMaxDims), path, ": .npy shape ", tuple, " has more than ",
              Shape::kMaxDims, " dimensions");
  return Shape(dims);
}
}  // namespace

Tensor load_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  XCLIP_CHECK(f, path, ": cannot open");
  char magic[6];
  uint8_t version[2];
  f.read(magic, 6);
  f.read(reinterpret_cast<char*>(version), 2);
  XCLIP_CHECK(f && std::memcmp(magic, kMagic, 6) == 0, path, ": not a .npy file (bad magic)");
  uint32_t header_len = 0;
  if (version[0] == 1) {
    uint8_t b[2];
    f.read(reinterpret_cast<char*>(b), 2);
    header_len = uint32_t(b[0]) | (uint32_t(b[1]) << 8);
  } else if (version[0] == 2 || version[0] == 3) {
    uint8_t b[4];
    f.read(reinterpret_cast<char*>(b), 4);
    header_len = uint32_t(b[0]) | (uint32_t(b[1]) << 8) | (uint32_t(b[2]) << 16) | (uint32_t(b[3]) << 24);
  } else {
    throw Error(format(path, ": unsupported .npy version ", int(version[0])));
  }
  XCLIP_CHECK(f && header_len < (1u << 20), path, ": truncated or oversized .npy header");
  std::string header(header_len, '\0');
  f.read(header.data(), header_len);
  XCLIP_CHECK(f, path, ": truncated .npy header");
  DType dtype = parse_descr(path, field(path, header, "descr"));
  XCLIP_CHECK(field(path, header, "fortran_order") == "False", path, ": Fortran-order .npy is not supported");
  Shape shape = parse_shape(path, field(path, header, "shape"));
  const auto data_start = f.tellg();
  f.seekg(0, std::ios::end);
  const auto available = uint64_t(f.tellg() - data_start);
  const uint64_t need = uint64_t(shape.numel()) * dtype_size(dtype);
  XCLIP_CHECK(available >= need, path, ": .npy data has ", available, " bytes, shape ", shape.str(), " needs ", need);
  Tensor t = Tensor::empty(shape, dtype);
  f.seekg(data_start);
  f.read(static_cast<char*>(t.raw_data()), std::streamsize(need));
  XCLIP_CHECK(f, path, ": read error");
  return t;
}

void save_npy(const std::string& path, const Tensor& tensor_in) {
  Tensor t = tensor_in.device() == Device::cpu ? tensor_in : tensor_in.to(Device::cpu);
  std::ostringstream dict;
  dict << "{'descr': '" << descr_for(t.dtype()) << "', 'fortran_order': False, 'shape': (";
  for (int i = 0; i < t.ndim(); ++i) dict << t.shape()[i] << (t.ndim() == 1 ? "," : (i + 1 < t.ndim() ? ", " : ""));
  dict << "), }";
  std::string header = dict.str();
  // Pad with spaces and end with '\n' so that magic + 2 + 2 + header is a multiple of 64.
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  const char version[2] = {1, 0};
  const uint16_t len = uint16_t(header.size());
  const char len_bytes[2] = {char(len & 0xff), char(len >> 8)};
  write_file_atomically(path, {{kMagic, 6}, {version, 2}, {len_bytes, 2}, {header.data(), header.size()},
                               {t.raw_data(), t.nbytes()}});
}

}  // namespace xclip::io
