// torch.save as PyTorch 1.13 writes it (see torch_save.hpp). Two halves, each mirroring one piece
// of PyTorch: Pickler is Python's pickle at protocol 2 for the few types a state dict holds,
// ZipArchiveBuilder is caffe2/serialize/inline_container.cc over miniz. The archive is laid out in
// memory as a list of pieces (its headers, and the tensors' data where they are) and handed to
// write_file_atomically, so a failure at any point leaves nothing behind.
#include "xclip/io/torch_save.hpp"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <deque>
#include <map>
#include <utility>
#include <vector>

#include "xclip/core/error.hpp"
#include "xclip/io/file_bytes.hpp"

namespace xclip::io {
namespace {

// `bytes` little-endian bytes of `value`; beyond the 8 a uint64_t has, zeros (a run of zero
// fields written at once). A shift by 64 or more would be undefined behaviour, not zero.
void put_le(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(i < 8 ? char((value >> (8 * i)) & 0xff) : '\0');
}

// ---- pickle, protocol 2 ---------------------------------------------------------------------
// Python memoizes every object it pickles except ints, bools and the empty tuple (BINPUT n, the
// n-th object), and pickles an object it meets again as BINGET n. Which objects are "the same"
// is a matter of identity in Python: the literals torch uses ('storage', 'cpu') and the globals
// are shared, the names and storage keys are fresh strings.
class Pickler {
 public:
  std::string out;

  void op(char code) { out.push_back(code); }
  void memoize() {
    const uint64_t index = next_memo_++;
    op(index < 256 ? 'q' : 'r');  // BINPUT / LONG_BINPUT
    put_le(out, index, index < 256 ? 1 : 4);
  }
  void get(uint64_t index) {
    op(index < 256 ? 'h' : 'j');  // BINGET / LONG_BINGET
    put_le(out, index, index < 256 ? 1 : 4);
  }
  void fresh_string(const std::string& s) {
    op('X');  // BINUNICODE
    put_le(out, s.size(), 4);
    out += s;
    memoize();
  }
  // A string object the pickled structure refers to more than once (a literal in torch's code).
  void shared_string(const std::string& s) { shared("str:" + s, [&] { fresh_string(s); }); }
  void global(const std::string& module, const std::string& name) {
    shared("global:" + module + "." + name, [&] {
      op('c');  // GLOBAL
      out += module + "\n" + name + "\n";
      memoize();
    });
  }
  void integer(int64_t v);
  void int_tuple(const std::vector<int64_t>& values);

 private:
  template <class F>
  void shared(const std::string& key, F&& first_time) {
    if (auto it = shared_.find(key); it != shared_.end()) return get(it->second);
    shared_[key] = next_memo_;
    first_time();
  }
  uint64_t next_memo_ = 0;
  std::map<std::string, uint64_t> shared_;
};

// save_long: BININT1 / BININT2 for small non-negative values, BININT for 32-bit, else LONG1 with
// the minimal little-endian two's complement (pickle.encode_long).
void Pickler::integer(int64_t v) {
  if (v >= 0 && v <= 0xff) {
    op('K');
    put_le(out, uint64_t(v), 1);
  } else if (v >= 0 && v <= 0xffff) {
    op('M');
    put_le(out, uint64_t(v), 2);
  } else if (v >= INT32_MIN && v <= INT32_MAX) {
    op('J');
    put_le(out, uint64_t(uint32_t(int32_t(v))), 4);
  } else {
    const uint64_t magnitude = v < 0 ? uint64_t(0) - uint64_t(v) : uint64_t(v);
    const int bit_length = 64 - std::countl_zero(magnitude);
    int n = (bit_length >> 3) + 1;
    std::string bytes;
    put_le(bytes, uint64_t(v), std::min(n, 8));
    if (n > 8) bytes.push_back(v < 0 ? char(0xff) : 0);
    if (v < 0 && n > 1 && uint8_t(bytes[size_t(n - 1)]) == 0xff && (uint8_t(bytes[size_t(n - 2)]) & 0x80)) --n;
    op('\x8a');  // LONG1
    put_le(out, uint64_t(n), 1);
    out.append(bytes, 0, size_t(n));
  }
}

// save_tuple: () is EMPTY_TUPLE (never memoized), up to 3 items TUPLE1/2/3, else MARK ... TUPLE.
void Pickler::int_tuple(const std::vector<int64_t>& values) {
  if (values.empty()) return op(')');
  if (values.size() > 3) op('(');
  for (int64_t v : values) integer(v);
  op(values.size() > 3 ? 't' : "\x85\x86\x87"[values.size() - 1]);
  memoize();
}

const char* storage_class(DType dtype) {
  switch (dtype) {
    case DType::f32: return "FloatStorage";
    case DType::f64: return "DoubleStorage";
    case DType::f16: return "HalfStorage";
    case DType::bf16: return "BFloat16Storage";
    case DType::i32: return "IntStorage";
    case DType::i64: return "LongStorage";
    case DType::u8: return "ByteStorage";
  }
  throw Error(format("torch.save writer: dtype ", dtype_name(dtype), " has no torch storage class here"));
}

// Contiguous strides as torch computes them (a size-0 dimension counts as 1).
std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& size) {
  std::vector<int64_t> stride(size.size());
  int64_t step = 1;
  for (size_t i = size.size(); i-- > 0;) {
    stride[i] = step;
    step *= std::max<int64_t>(size[i], 1);
  }
  return stride;
}

// Tensor.__reduce_ex__: _rebuild_tensor_v2(storage, offset 0, size, stride, requires_grad False,
// backward hooks OrderedDict()), the storage as the persistent id torch.save's persistent_id returns.
void pickle_tensor(Pickler& p, const Tensor& t, const std::string& storage_key) {
  p.global("torch._utils", "_rebuild_tensor_v2");
  p.op('(');
  p.op('(');
  p.shared_string("storage");
  p.global("torch", storage_class(t.dtype()));
  p.fresh_string(storage_key);
  p.shared_string("cpu");
  p.integer(t.numel());
  p.op('t');
  p.memoize();
  p.op('Q');  // BINPERSID
  p.integer(0);
  p.int_tuple(t.shape().vec());
  p.int_tuple(contiguous_strides(t.shape().vec()));
  p.op('\x89');  // NEWFALSE
  p.global("collections", "OrderedDict");
  p.op(')');
  p.op('R');
  p.memoize();
  p.op('t');
  p.memoize();
  p.op('R');
  p.memoize();
}

// ---- ZIP as PyTorchStreamWriter writes it ---------------------------------------------------
constexpr uint64_t kAlignment = 64;  // inline_container.cc kFieldAlignment
// No ZIP64 extra fields are written, so every size and offset must stay below 0xffffffff and the
// record count below 0xffff (miniz switches to ZIP64 records at those values, which we do not
// mirror).
constexpr uint64_t kMaxOffset = 0xffffffffull;
constexpr size_t kMaxRecords = 0xffff;

// The archive as a list of pieces in file order: the headers, owned here (a deque keeps their
// addresses stable), and the records' data, borrowed from the caller until the file is written.
class ZipArchiveBuilder {
 public:
  explicit ZipArchiveBuilder(std::string path) : path_(std::move(path)) {}
  void add(const std::string& name, const void* data, size_t size);
  // Appends the central directory and the end records; returns every piece in file order.
  const std::vector<std::pair<const void*, size_t>>& finish();

 private:
  struct Record {
    std::string name;
    uint32_t crc = 0;
    uint64_t size = 0, offset = 0;
  };
  void append(std::string bytes) {
    owned_.push_back(std::move(bytes));
    append(owned_.back().data(), owned_.back().size());
  }
  void append(const void* data, size_t size) {
    pieces_.emplace_back(data, size);
    position_ += size;
  }
  void check_below_4gib(uint64_t end, const std::string& what) const {
    XCLIP_CHECK(end < kMaxOffset, path_, ": the torch.save archive would be ", end, " bytes or more at ", what,
                "; this writer makes no ZIP64 records, so archives must stay below 4 GiB");
  }
  std::string path_;
  uint64_t position_ = 0;
  std::deque<std::string> owned_;
  std::vector<std::pair<const void*, size_t>> pieces_;
  std::vector<Record> records_;
};

uint32_t crc32_of(const void* data, size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto* bytes = static_cast<const Bytef*>(data);
  for (size_t pos = 0; pos < size; pos += size_t(1) << 30)  // zlib takes 32-bit lengths
    crc = crc32(crc, bytes + pos, uInt(std::min(size - pos, size_t(1) << 30)));
  return uint32_t(crc);
}

// Local header with zero CRC and sizes (bit 3: they follow in a data descriptor), then the name and
// an "FB" extra field whose 'Z' padding puts the data at a multiple of 64.
void ZipArchiveBuilder::add(const std::string& name, const void* data, size_t size) {
  XCLIP_CHECK(records_.size() + 1 < kMaxRecords, path_, ": more than ", kMaxRecords - 1,
              " records in one torch.save archive (this writer makes no ZIP64 records)");
  XCLIP_CHECK(name.size() <= 0xffff, path_, ": record name of ", name.size(), " bytes is too long for ZIP");
  const uint64_t start = position_ + 30 + name.size() + 4;
  const uint64_t padding = (kAlignment - start % kAlignment) % kAlignment;
  check_below_4gib(start + padding + size + 16, "record " + name);
  Record rec{name, crc32_of(data, size), size, position_};
  std::string header;
  put_le(header, 0x04034b50, 4);
  put_le(header, 0, 2);       // version needed
  put_le(header, 0x0808, 2);  // data descriptor, UTF-8 names
  put_le(header, 0, 2 + 2 + 2 + 4 + 4 + 4);  // method stored, time, date, crc, sizes
  put_le(header, name.size(), 2);
  put_le(header, padding + 4, 2);
  header += name + "FB";
  put_le(header, padding, 2);
  header.append(size_t(padding), 'Z');
  append(std::move(header));
  if (size > 0) append(data, size);
  std::string descriptor;
  put_le(descriptor, 0x08074b50, 4);
  put_le(descriptor, rec.crc, 4);
  put_le(descriptor, size, 4);
  put_le(descriptor, size, 4);
  append(std::move(descriptor));
  records_.push_back(std::move(rec));
}

// Central directory, then miniz's ZIP64 end record and locator (always written with
// MZ_ZIP_FLAG_WRITE_ZIP64), then the classic end record.
const std::vector<std::pair<const void*, size_t>>& ZipArchiveBuilder::finish() {
  const uint64_t cd_offset = position_;
  std::string cd;
  for (const Record& r : records_) {
    put_le(cd, 0x02014b50, 4);
    put_le(cd, 0, 2 + 2);       // made by, needed
    put_le(cd, 0x0808, 2);
    put_le(cd, 0, 2 + 2 + 2);   // method, time, date
    put_le(cd, r.crc, 4);
    put_le(cd, r.size, 4);
    put_le(cd, r.size, 4);
    put_le(cd, r.name.size(), 2);
    put_le(cd, 0, 2 + 2 + 2 + 2 + 4);  // extra, comment, disk, internal and external attributes
    put_le(cd, r.offset, 4);
    cd += r.name;
  }
  check_below_4gib(cd_offset + cd.size(), "the central directory");
  const uint64_t cd_size = cd.size(), zip64_end = cd_offset + cd_size, n = records_.size();
  append(std::move(cd));
  std::string end;
  put_le(end, 0x06064b50, 4);
  put_le(end, 44, 8);
  put_le(end, 0x031e, 2);
  put_le(end, 0x002d, 2);
  put_le(end, 0, 4 + 4);
  put_le(end, n, 8);
  put_le(end, n, 8);
  put_le(end, cd_size, 8);
  put_le(end, cd_offset, 8);
  put_le(end, 0x07064b50, 4);
  put_le(end, 0, 4);
  put_le(end, zip64_end, 8);
  put_le(end, 1, 4);
  put_le(end, 0x06054b50, 4);
  put_le(end, 0, 2 + 2);
  put_le(end, n, 2);
  put_le(end, n, 2);
  put_le(end, cd_size, 4);
  put_le(end, cd_offset, 4);
  put_le(end, 0, 2);
  append(std::move(end));
  return pieces_;
}

// torch's archive folder: the file name without directories and without its last extension.
std::string archive_root(const std::string& path) {
  std::string name = path.substr(path.find_last_of('/') + 1);
  if (const size_t dot = name.find_last_of('.'); dot != std::string::npos) name.resize(dot);
  return name;
}

// Fails before any work on what can never fit (the exact limits are checked as the archive is
// laid out) and on tensors that are not in host memory, naming the tensor.
void check_writable(const std::string& path, const NamedTensors& tensors) {
  uint64_t data_bytes = 0;
  for (const auto& [name, t] : tensors) {
    XCLIP_CHECK(t.device() == Device::cpu, path, ": tensor '", name, "' is on ", device_name(t.device()),
                "; torch.save files are written from CPU tensors only");
    data_bytes += t.nbytes();
  }
  XCLIP_CHECK(tensors.size() + 2 < kMaxRecords, path, ": ", tensors.size(),
              " tensors are more than one torch.save archive of this writer holds (", kMaxRecords - 3, ")");
  XCLIP_CHECK(data_bytes < kMaxOffset, path, ": ", data_bytes,
              " bytes of tensors; this writer makes no ZIP64 records, so archives must stay below 4 GiB");
}

}  // namespace

std::string torch_save_pickle(const NamedTensors& tensors) {
  Pickler p;
  p.op('\x80');  // PROTO 2
  p.op('\x02');
  p.global("collections", "OrderedDict");
  p.op(')');
  p.op('R');
  p.memoize();
  // _batch_setitems: batches of 1000 items; a batch of one is written without MARK as SETITEM.
  const auto& list = tensors.list();
  for (size_t begin = 0; begin < list.size(); begin += 1000) {
    const size_t end = std::min(list.size(), begin + 1000);
    if (end - begin > 1) p.op('(');
    for (size_t i = begin; i < end; ++i) {
      p.fresh_string(list[i].first);
      pickle_tensor(p, list[i].second, std::to_string(i));
    }
    p.op(end - begin > 1 ? 'u' : 's');
  }
  p.op('.');
  return p.out;
}

void write_torch_save(const std::string& path, const NamedTensors& tensors) {
  check_writable(path, tensors);
  const std::string root = archive_root(path);  // the final name's, not the temporary file's
  ZipArchiveBuilder zip(path);
  const std::string pickle = torch_save_pickle(tensors);
  zip.add(root + "/data.pkl", pickle.data(), pickle.size());
  std::vector<std::string> keys;
  for (size_t i = 0; i < tensors.size(); ++i) keys.push_back(std::to_string(i));
  std::sort(keys.begin(), keys.end());  // torch.save: sorted(serialized_storages.keys())
  for (const std::string& key : keys) {
    const Tensor& t = tensors.list()[std::stoul(key)].second;
    zip.add(root + "/data/" + key, t.raw_data(), t.nbytes());
  }
  zip.add(root + "/version", "3\n", 2);
  write_file_atomically(path, zip.finish());
}

}  // namespace xclip::io
