// .npy reader/writer. The header is a Python dict literal:
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
#include "xclip/io/npy.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>
#include <utility>

#include "xclip/core/checked.hpp"
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
  throw Error(format(path, ": unsupported .npy dtype '", d.size() <= 40 ? d : d.substr(0, 40) + "...",
                     "' (supported: <f4 <f8 <f2 <i4 <i8 |u1 |b1)"));
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

// The header's three fields. Parsed by hand, in one pass with no recursion and no regex: a
// hostile header (up to 1 MB of it) gets a clean error, never a deep std::regex recursion.
struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
  bool has_descr = false, has_order = false, has_shape = false;
};

class HeaderParser {
 public:
  HeaderParser(const std::string& path, std::string_view text) : path_(path), s_(text) {}

  NpyHeader parse() {
    NpyHeader h;
    expect('{');
    while (!at('}')) {
      const std::string key = quoted();
      expect(':');
      if (key == "descr") h.descr = quoted(), h.has_descr = true;
      else if (key == "fortran_order") h.fortran_order = boolean(), h.has_order = true;
      else if (key == "shape") h.shape = tuple(), h.has_shape = true;
      else fail("unknown key '" + cut(key) + "'");
      if (!at('}')) expect(',');
    }
    expect('}');
    skip_space();
    check(pos_ == s_.size(), "text after the closing '}'");
    check(h.has_descr && h.has_order && h.has_shape, "the header needs 'descr', 'fortran_order' and 'shape'");
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(format(path_, ": bad .npy header: ", what, " at byte ", pos_, " of '", cut(std::string(s_)), "'"));
  }
  void check(bool ok, const std::string& what) const {
    if (!ok) fail(what);
  }
  static std::string cut(const std::string& s) { return s.size() <= 120 ? s : s.substr(0, 120) + "..."; }
  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  bool at(char c) {
    skip_space();
    return pos_ < s_.size() && s_[pos_] == c;
  }
  void expect(char c) {
    check(at(c), format("expected '", c, "'"));
    ++pos_;
  }
  std::string quoted() {
    skip_space();
    check(pos_ < s_.size() && (s_[pos_] == '\'' || s_[pos_] == '"'), "expected a quoted string");
    const char q = s_[pos_++];
    const size_t end = s_.find(q, pos_);
    check(end != std::string_view::npos, "unterminated string");
    std::string v(s_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return v;
  }
  bool boolean() {
    skip_space();
    if (s_.substr(pos_, 4) == "True") return pos_ += 4, true;
    if (s_.substr(pos_, 5) == "False") return pos_ += 5, false;
    fail("expected True or False");
  }
  std::vector<int64_t> tuple() {
    expect('(');
    std::vector<int64_t> dims;
    while (!at(')')) {
      check(dims.size() < size_t(Shape::kMaxDims), format("more than ", Shape::kMaxDims, " dimensions"));
      dims.push_back(integer());
      if (!at(')')) expect(',');
    }
    expect(')');
    return dims;
  }
  int64_t integer() {
    skip_space();
    const size_t begin = pos_;
    int64_t v = 0;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
      check(!__builtin_mul_overflow(v, 10, &v) && !__builtin_add_overflow(v, s_[pos_] - '0', &v),
            "dimension does not fit in 64 bits");
      ++pos_;
    }
    if (pos_ < s_.size() && s_[pos_] == 'L') ++pos_;  // Python 2 long suffix
    check(pos_ > begin, "expected a non-negative dimension");
    return v;
  }

  const std::string& path_;
  std::string_view s_;
  size_t pos_ = 0;
};
}  // namespace

Tensor load_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  XCLIP_CHECK(f, path, ": cannot open: ", std::strerror(errno));
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
  const NpyHeader h = HeaderParser(path, header).parse();
  const DType dtype = parse_descr(path, h.descr);
  XCLIP_CHECK(!h.fortran_order, path, ": Fortran-order .npy is not supported");
  const int64_t numel = checked_numel(h.shape, path + ": .npy shape");
  const uint64_t need = checked_nbytes(uint64_t(numel), dtype_size(dtype), path + ": .npy data");
  const Shape shape(h.shape);
  const auto data_start = f.tellg();
  f.seekg(0, std::ios::end);
  const auto available = uint64_t(f.tellg() - data_start);
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
