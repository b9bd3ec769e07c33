// FileBytes: the read-only bytes of a whole file, memory-mapped, or of an in-memory buffer (same
// interface, so parsers and their fuzz tests share one code path). Tensors loaded from a file keep
// the FileBytes alive through Storage::owner; the mapping goes away with the last tensor.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace xclip::io {

class FileBytes {
 public:
  // Maps the whole file privately (copy-on-write: writing into a loaded tensor never touches the
  // file). Throws xclip::Error naming the file when it cannot be opened or mapped. Empty files are
  // fine (size() == 0).
  static std::shared_ptr<FileBytes> map(const std::string& path);
  // Owns `bytes`; `name` is what error messages call it.
  static std::shared_ptr<FileBytes> from_buffer(std::vector<uint8_t> bytes, std::string name);

  ~FileBytes();
  FileBytes(const FileBytes&) = delete;
  FileBytes& operator=(const FileBytes&) = delete;

  const uint8_t* data() const { return data_; }
  uint8_t* mutable_data() { return data_; }  // private mapping or owned buffer: safe to write
  size_t size() const { return size_; }
  const std::string& name() const { return name_; }
  std::string_view view() const { return {reinterpret_cast<const char*>(data_), size_}; }

 private:
  FileBytes() = default;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
  std::vector<uint8_t> buffer_;
  std::string name_;
};

// Writes `bytes` to `path` atomically: a temporary name in the same folder, fsync-free rename.
// On any failure the temporary file is removed and xclip::Error names `path`.
void write_file_atomically(const std::string& path, const std::vector<std::pair<const void*, size_t>>& pieces);

}  // namespace xclip::io
