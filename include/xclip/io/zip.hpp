// A read-only ZIP reader for PyTorch archives (torch.save since 1.6 and TorchScript): central
// directory, ZIP64 records, stored entries (returned as views of the mapped file, no copy) and
// deflated ones (inflated with zlib). Every offset and size is checked against the file before use;
// a truncated or corrupt archive throws xclip::Error naming the file and the problem.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "xclip/io/file_bytes.hpp"

namespace xclip::io {

struct ZipEntry {
  std::string name;
  uint16_t method = 0;  // 0 stored, 8 deflated (others are reported when read)
  uint32_t crc32 = 0;
  uint64_t compressed_size = 0;
  uint64_t size = 0;          // uncompressed
  uint64_t data_offset = 0;   // first byte of the (compressed) data in the file
};

class ZipArchive {
 public:
  static ZipArchive open(const std::string& path);
  explicit ZipArchive(std::shared_ptr<FileBytes> bytes);

  const std::vector<ZipEntry>& entries() const { return entries_; }
  const ZipEntry* find(std::string_view name) const;  // nullptr when absent
  const std::string& name() const { return bytes_->name(); }
  const std::shared_ptr<FileBytes>& bytes() const { return bytes_; }

  // The contents of an entry (inflated when deflated), CRC-32 checked.
  std::string read(const ZipEntry& entry) const;
  // A stored entry's bytes inside the mapping (no copy, no CRC check); throws for other methods.
  std::string_view stored_view(const ZipEntry& entry) const;
  // Whether the data of `entry` can be used in place (stored).
  static bool is_stored(const ZipEntry& entry) { return entry.method == 0; }

 private:
  void parse();
  std::shared_ptr<FileBytes> bytes_;
  std::vector<ZipEntry> entries_;
};

// True when the bytes start like a ZIP archive (local file header or empty-archive signature).
bool looks_like_zip(std::string_view head);

}  // namespace xclip::io
