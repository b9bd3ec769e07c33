// ZIP reader: end of central directory (and its ZIP64 form), central directory, local headers.
// Layout reference: PKWARE APPNOTE.TXT sections 4.3.7 (local header), 4.3.12 (central directory),
// 4.3.14-16 (ZIP64 end records), 4.5.3 (ZIP64 extra field).
#include "xclip/io/zip.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "xclip/core/error.hpp"

namespace xclip::io {

namespace {

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50, kLocator64Sig = 0x07064b50;
constexpr size_t kEndSize = 22, kLocator64Size = 20, kEnd64Size = 56, kCentralSize = 46, kLocalSize = 30;

// Little-endian field reader over a bounded range; out-of-range reads are errors.
class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size, size_t pos, const std::string& file, const char* what)
      : data_(data), size_(size), pos_(pos), file_(file), what_(what) {}
  uint64_t u(int n) {
    need(size_t(n));
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | data_[pos_ + size_t(i)];
    pos_ += size_t(n);
    return v;
  }
  std::string_view bytes(size_t n) {
    need(n);
    std::string_view s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }
  void skip(size_t n) { need(n), pos_ += n; }
  size_t pos() const { return pos_; }

 private:
  void need(size_t n) const {
    XCLIP_CHECK(pos_ <= size_ && n <= size_ - pos_, file_, ": corrupt ZIP archive: ", what_, " at byte ", pos_,
                " runs past the end of the file (truncated?)");
  }
  const uint8_t* data_;
  size_t size_, pos_;
  const std::string& file_;
  const char* what_;
};

uint32_t sig_at(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }

struct Directory {
  uint64_t entries = 0, size = 0, offset = 0;
  uint64_t end = 0;  // where the central directory must end (start of the end records)
};

// The end-of-central-directory record: the last signature whose comment length reaches the end.
size_t find_end_record(const FileBytes& f) {
  const size_t n = f.size();
  XCLIP_CHECK(n >= kEndSize, f.name(), ": not a ZIP archive (", n, " bytes, too short; truncated?)");
  const size_t lowest = n >= kEndSize + 0xffff ? n - kEndSize - 0xffff : 0;
  for (size_t pos = n - kEndSize + 1; pos-- > lowest;) {
    const uint8_t* p = f.data() + pos;
    if (sig_at(p) == kEndSig && pos + kEndSize + (p[20] | p[21] << 8) == n) return pos;
  }
  throw Error(format(f.name(), ": not a ZIP archive or truncated: no end-of-central-directory record"));
}

Directory read_directory(const FileBytes& f) {
  const size_t end_pos = find_end_record(f);
  Cursor c(f.data(), f.size(), end_pos + 4, f.name(), "end record");
  const uint64_t disk = c.u(2), cd_disk = c.u(2), disk_entries = c.u(2), total = c.u(2);
  Directory d{total, c.u(4), c.u(4), end_pos};
  XCLIP_CHECK(disk == 0 && cd_disk == 0 && disk_entries == total, f.name(),
              ": multi-part (spanned) ZIP archives are not supported");
  const bool zip64 = total == 0xffff || d.size == 0xffffffff || d.offset == 0xffffffff;
  if (zip64 || (end_pos >= kLocator64Size && sig_at(f.data() + end_pos - kLocator64Size) == kLocator64Sig)) {
    XCLIP_CHECK(end_pos >= kLocator64Size && sig_at(f.data() + end_pos - kLocator64Size) == kLocator64Sig,
                f.name(), ": corrupt ZIP64 archive: the ZIP64 locator is missing");
    Cursor loc(f.data(), f.size(), end_pos - kLocator64Size + 8, f.name(), "ZIP64 locator");
    const uint64_t rec = loc.u(8);
    XCLIP_CHECK(rec <= end_pos - kLocator64Size && end_pos - kLocator64Size - rec >= kEnd64Size &&
                    sig_at(f.data() + rec) == kEnd64Sig,
                f.name(), ": corrupt ZIP64 archive: no ZIP64 end record at byte ", rec);
    Cursor e(f.data(), f.size(), size_t(rec) + 24, f.name(), "ZIP64 end record");
    const uint64_t e_disk_entries = e.u(8);
    d.entries = e.u(8);
    d.size = e.u(8);
    d.offset = e.u(8);
    d.end = rec;
    XCLIP_CHECK(e_disk_entries == d.entries, f.name(), ": multi-part (spanned) ZIP archives are not supported");
  }
  XCLIP_CHECK(d.offset <= d.end && d.size <= d.end - d.offset, f.name(), ": corrupt ZIP archive: central directory [",
              d.offset, ", +", d.size, ") lies outside the file (truncated?)");
  XCLIP_CHECK(d.entries <= d.size / kCentralSize, f.name(), ": corrupt ZIP archive: ", d.entries,
              " entries cannot fit in a central directory of ", d.size, " bytes");
  return d;
}

// Replaces the 0xffffffff fields of a central directory entry with their ZIP64 extra values.
void apply_zip64_extra(std::string_view extra, ZipEntry& e, uint64_t& local_offset, const std::string& file) {
  const bool need_size = e.size == 0xffffffff, need_csize = e.compressed_size == 0xffffffff,
             need_offset = local_offset == 0xffffffff;
  if (!need_size && !need_csize && !need_offset) return;
  Cursor c(reinterpret_cast<const uint8_t*>(extra.data()), extra.size(), 0, file, "extra field");
  while (c.pos() + 4 <= extra.size()) {
    const uint64_t id = c.u(2), len = c.u(2);
    std::string_view body = c.bytes(size_t(len));
    if (id != 0x0001) continue;
    Cursor z(reinterpret_cast<const uint8_t*>(body.data()), body.size(), 0, file, "ZIP64 extra field");
    if (need_size) e.size = z.u(8);
    if (need_csize) e.compressed_size = z.u(8);
    if (need_offset) local_offset = z.u(8);
    return;
  }
  throw Error(format(file, ": corrupt ZIP archive: entry '", e.name, "' needs a ZIP64 extra field and has none"));
}

}  // namespace

bool looks_like_zip(std::string_view head) {
  return head.size() >= 4 && (sig_at(reinterpret_cast<const uint8_t*>(head.data())) == kLocalSig ||
                              sig_at(reinterpret_cast<const uint8_t*>(head.data())) == kEndSig);
}

ZipArchive ZipArchive::open(const std::string& path) { return ZipArchive(FileBytes::map(path)); }

ZipArchive::ZipArchive(std::shared_ptr<FileBytes> bytes) : bytes_(std::move(bytes)) { parse(); }

void ZipArchive::parse() {
  const FileBytes& f = *bytes_;
  const Directory d = read_directory(f);
  Cursor c(f.data(), size_t(d.offset + d.size), size_t(d.offset), f.name(), "central directory entry");
  entries_.reserve(size_t(d.entries));
  for (uint64_t i = 0; i < d.entries; ++i) {
    const size_t at = c.pos();
    XCLIP_CHECK(c.u(4) == kCentralSig, f.name(), ": corrupt ZIP archive: bad central directory signature at byte ",
                at);
    c.skip(4);
    const uint64_t flags = c.u(2);
    ZipEntry e;
    e.method = uint16_t(c.u(2));
    c.skip(4);
    e.crc32 = uint32_t(c.u(4));
    e.compressed_size = c.u(4);
    e.size = c.u(4);
    const size_t name_len = size_t(c.u(2)), extra_len = size_t(c.u(2)), comment_len = size_t(c.u(2));
    c.skip(8);
    uint64_t local = c.u(4);
    e.name = std::string(c.bytes(name_len));
    apply_zip64_extra(c.bytes(extra_len), e, local, f.name());
    c.skip(comment_len);
    XCLIP_CHECK(!(flags & 1), f.name(), ": entry '", e.name, "' is encrypted, which is not supported");
    // The local header repeats name and extra (with possibly different lengths): data follows them.
    XCLIP_CHECK(local <= d.offset && d.offset - local >= kLocalSize && sig_at(f.data() + local) == kLocalSig,
                f.name(), ": corrupt ZIP archive: entry '", e.name, "' has no local header at byte ", local);
    Cursor l(f.data(), size_t(d.offset), size_t(local) + 26, f.name(), "local header");
    const size_t lname = size_t(l.u(2)), lextra = size_t(l.u(2));
    l.skip(lname + lextra);
    e.data_offset = l.pos();
    XCLIP_CHECK(e.compressed_size <= d.offset - e.data_offset, f.name(), ": corrupt ZIP archive: entry '", e.name,
                "' (", e.compressed_size, " bytes at ", e.data_offset, ") runs into the central directory (truncated?)");
    XCLIP_CHECK(e.method != 0 || e.compressed_size == e.size, f.name(), ": corrupt ZIP archive: stored entry '",
                e.name, "' has compressed size ", e.compressed_size, " != size ", e.size);
    entries_.push_back(std::move(e));
  }
}

const ZipEntry* ZipArchive::find(std::string_view name) const {
  for (const auto& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

std::string_view ZipArchive::stored_view(const ZipEntry& e) const {
  XCLIP_CHECK(e.method == 0, name(), ": entry '", e.name, "' is compressed (method ", e.method, "), not stored");
  return bytes_->view().substr(size_t(e.data_offset), size_t(e.size));
}

namespace {

// Inflates raw deflate data; the output grows with what zlib produces, never beyond `size`.
std::string inflate_entry(std::string_view in, uint64_t size, const std::string& file, const std::string& entry) {
  // Deflate cannot expand data more than ~1032:1: larger claims are corrupt and allocate nothing.
  XCLIP_CHECK(size <= in.size() * uint64_t(1032) + 1024, file, ": corrupt ZIP archive: entry '", entry, "' claims ",
              size, " bytes from ", in.size(), " compressed bytes");
  z_stream z{};
  XCLIP_CHECK(inflateInit2(&z, -MAX_WBITS) == Z_OK, file, ": zlib initialisation failed");
  std::string out;
  out.resize(size_t(std::min<uint64_t>(size, in.size() * uint64_t(4) + 4096)));
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = uInt(std::min<size_t>(in.size(), UINT32_MAX));
  int rc = Z_OK;
  size_t produced = 0;
  while (rc == Z_OK) {
    if (produced == out.size()) {
      if (out.size() == size) break;
      out.resize(size_t(std::min<uint64_t>(size, uint64_t(out.size()) * 2 + 4096)));
    }
    z.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    z.avail_out = uInt(std::min<size_t>(out.size() - produced, UINT32_MAX));
    const uInt before = z.avail_out;
    rc = inflate(&z, Z_NO_FLUSH);
    produced += before - z.avail_out;
    if (rc == Z_BUF_ERROR && z.avail_in == 0) break;  // input exhausted without a stream end
  }
  const bool ended = rc == Z_STREAM_END;
  inflateEnd(&z);
  XCLIP_CHECK(ended && produced == size, file, ": corrupt ZIP archive: entry '", entry, "' inflates to ", produced,
              " bytes", ended ? "" : " without a proper end", ", expected ", size);
  return out;
}

}  // namespace

std::string ZipArchive::read(const ZipEntry& e) const {
  const std::string_view raw = bytes_->view().substr(size_t(e.data_offset), size_t(e.compressed_size));
  std::string out;
  if (e.method == 0)
    out = std::string(raw);
  else if (e.method == 8)
    out = inflate_entry(raw, e.size, name(), e.name);
  else
    throw Error(format(name(), ": entry '", e.name, "' uses compression method ", e.method,
                       "; only stored (0) and deflated (8) are supported"));
  uLong sum = crc32(0L, Z_NULL, 0);
  for (size_t pos = 0; pos < out.size(); pos += size_t(1) << 30) {
    const size_t n = std::min(out.size() - pos, size_t(1) << 30);
    sum = crc32(sum, reinterpret_cast<const Bytef*>(out.data() + pos), uInt(n));
  }
  XCLIP_CHECK(uint32_t(sum) == e.crc32, name(), ": corrupt ZIP archive: entry '", e.name, "' fails its CRC-32 check");
  return out;
}

}  // namespace xclip::io
