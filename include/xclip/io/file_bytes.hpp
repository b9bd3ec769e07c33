// FileBytes: the read-only bytes of a whole file, memory-mapped, or of an in-memory buffer (same
// interface, so parsers and their fuzz tests share one code path). Tensors loaded from a file keep
// the FileBytes alive through Storage::owner; the mapping goes away with the last tensor.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
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

// Whether an atomic write also waits for the disk: fsync of the file before the rename and of its
// folder after it. Only for files that a run resumed after a power loss trusts (the frame cache's
// manifest); everywhere else the rename's all-or-nothing is what matters, and fsync costs time.
enum class SyncToDisk : bool { no = false, yes = true };

// Writes `pieces` to `path` atomically: a temporary name in the same folder, then a rename, so a
// reader sees the old file or the whole new one and a failed write loses nothing already at `path`.
// On any failure the temporary file is removed and xclip::Error names the file and the reason.
void write_file_atomically(const std::string& path, const std::vector<std::pair<const void*, size_t>>& pieces,
                           SyncToDisk sync = SyncToDisk::no);

// The same for one buffer (JSON, CSV, an encoded image): the one way whole files are written.
void write_text_file_atomically(const std::filesystem::path& path, std::string_view text);

// Before long work whose result goes to `path` (an evaluation, an index): makes its folder and
// checks that a file can be created there (a temporary probe, removed again) and that `path` is
// not a folder, so an unwritable output fails in a second, not after the work. `what` names the
// output in the message ("--eval_json"). Leaves an existing `path` untouched.
void check_output_writable(const std::filesystem::path& path, const std::string& what);

// For writers that cannot hand over one buffer because a library writes the file by name (FFmpeg's
// muxer): they write to temporary(), a name beside `path`, then commit() moves it over `path`. Until
// then `path` is untouched, and the destructor removes an uncommitted temporary file (a failed or
// abandoned write leaves nothing behind).
class PendingFile {
 public:
  explicit PendingFile(std::filesystem::path path);
  ~PendingFile();
  PendingFile(const PendingFile&) = delete;
  PendingFile& operator=(const PendingFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const std::filesystem::path& temporary() const { return tmp_; }
  // Renames the finished temporary file over path(); throws xclip::Error naming both and the reason.
  void commit();

 private:
  std::filesystem::path path_, tmp_;
  bool committed_ = false;
};

}  // namespace xclip::io
