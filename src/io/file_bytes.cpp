#include "xclip/io/file_bytes.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "xclip/core/error.hpp"

namespace xclip::io {

namespace {

// Closes a file descriptor when it goes out of scope.
struct FdGuard {
  int fd = -1;
  ~FdGuard() {
    if (fd >= 0) ::close(fd);
  }
};

std::string errno_text() { return std::strerror(errno); }

}  // namespace

std::shared_ptr<FileBytes> FileBytes::map(const std::string& path) {
  FdGuard fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  XCLIP_CHECK(fd.fd >= 0, path, ": cannot open: ", errno_text());
  struct stat st {};
  XCLIP_CHECK(::fstat(fd.fd, &st) == 0, path, ": cannot stat: ", errno_text());
  XCLIP_CHECK(S_ISREG(st.st_mode), path, ": not a regular file");
  std::shared_ptr<FileBytes> out(new FileBytes());
  out->name_ = path;
  out->size_ = size_t(st.st_size);
  if (out->size_ == 0) return out;  // mmap of zero bytes is invalid; an empty view is fine
  // Private and writable: pages are shared with the page cache until someone writes to a tensor.
  void* p = ::mmap(nullptr, out->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd.fd, 0);
  XCLIP_CHECK(p != MAP_FAILED, path, ": cannot memory-map ", out->size_, " bytes: ", errno_text());
  out->data_ = static_cast<uint8_t*>(p);
  out->mapped_ = true;
  return out;
}

std::shared_ptr<FileBytes> FileBytes::from_buffer(std::vector<uint8_t> bytes, std::string name) {
  std::shared_ptr<FileBytes> out(new FileBytes());
  out->buffer_ = std::move(bytes);
  out->data_ = out->buffer_.data();
  out->size_ = out->buffer_.size();
  out->name_ = std::move(name);
  return out;
}

FileBytes::~FileBytes() {
  if (mapped_) ::munmap(data_, size_);
}

namespace {

namespace fs = std::filesystem;

// A temporary name beside `path`, unique within this process and across processes. Hidden and
// ending in ".part": no listing of a folder's videos or checkpoints picks it up by its extension,
// and the synthetic dataset's cleanup recognises it as a leftover of an interrupted run.
fs::path temporary_name(const fs::path& path) {
  static std::atomic<uint64_t> counter{0};
  return path.parent_path() /
         format(".", path.filename().string(), ".", ::getpid(), ".", counter.fetch_add(1), ".part");
}

void write_all(int fd, const void* data, size_t size, const std::string& tmp) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const size_t chunk = std::min<size_t>(size, size_t(1) << 30);
    const ssize_t n = ::write(fd, p, chunk);
    if (n < 0 && errno == EINTR) continue;
    XCLIP_CHECK(n > 0, tmp, ": write failed: ", errno_text());
    p += n;
    size -= size_t(n);
  }
}

// Makes a rename in `folder` durable (best effort, as a folder that cannot be opened cannot be synced).
void sync_folder(const fs::path& folder) {
  FdGuard fd{::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (fd.fd >= 0) ::fsync(fd.fd);
}

}  // namespace

PendingFile::PendingFile(fs::path path) : path_(std::move(path)), tmp_(temporary_name(path_)) {}

PendingFile::~PendingFile() {
  if (committed_) return;
  std::error_code ignored;
  fs::remove(tmp_, ignored);
}

void PendingFile::commit() {
  XCLIP_CHECK(!committed_, path_.string(), ": committed twice");
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const std::string reason = errno_text();
    throw Error(format(path_.string(), ": cannot rename ", tmp_.string(), " into place: ", reason));
  }
  committed_ = true;
}

void write_file_atomically(const std::string& path, const std::vector<std::pair<const void*, size_t>>& pieces,
                           SyncToDisk sync) {
  PendingFile out(path);  // declared first: destroyed after the descriptor is closed
  const std::string tmp = out.temporary().string();
  FdGuard fd{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
  XCLIP_CHECK(fd.fd >= 0, path, ": cannot create temporary file ", tmp, ": ", errno_text());
  for (const auto& [data, size] : pieces) write_all(fd.fd, data, size, tmp);
  if (sync == SyncToDisk::yes) XCLIP_CHECK(::fsync(fd.fd) == 0, tmp, ": fsync failed: ", errno_text());
  const int rc = ::close(fd.fd);
  fd.fd = -1;
  XCLIP_CHECK(rc == 0, tmp, ": close failed: ", errno_text());
  out.commit();
  if (sync == SyncToDisk::yes) sync_folder(fs::path(path).parent_path());
}

void write_text_file_atomically(const fs::path& path, std::string_view text) {
  write_file_atomically(path.string(), {{text.data(), text.size()}});
}

void check_output_writable(const fs::path& path, const std::string& what) {
  std::error_code ec;
  XCLIP_CHECK(!fs::is_directory(path, ec), what, " ", path.string(), ": is a folder, not a file name");
  const fs::path folder = path.has_parent_path() ? path.parent_path() : fs::path(".");
  fs::create_directories(folder, ec);
  XCLIP_CHECK(!ec, what, " ", path.string(), ": cannot create the folder ", folder.string(), ": ", ec.message());
  PendingFile probe(path.string());  // removed by its destructor: never committed
  const std::string tmp = probe.temporary().string();
  FdGuard fd{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)};
  XCLIP_CHECK(fd.fd >= 0, what, " ", path.string(), ": cannot write in ", folder.string(), ": ", errno_text());
  write_all(fd.fd, "x", 1, tmp);
}

}  // namespace xclip::io
