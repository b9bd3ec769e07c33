// OUTPUT_DIR/skipped_videos.txt (see skipped_videos.hpp).
#include "xclip/data/skipped_videos.hpp"

#include <fstream>
#include <sstream>

#include "xclip/core/error.hpp"
#include "xclip/io/file_bytes.hpp"

namespace fs = std::filesystem;

namespace xclip::data {
namespace {

constexpr const char* kHeader = "# video_id\tfile\treason";

// A field on one line: tabs and line breaks would split the record.
std::string one_line(std::string text) {
  for (char& c : text)
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  return text;
}

}  // namespace

std::vector<VideoProblem> read_skipped_videos(const fs::path& file) {
  std::vector<VideoProblem> out;
  std::error_code ec;
  if (!fs::exists(file, ec)) return out;
  std::ifstream in(file, std::ios::binary);
  XCLIP_CHECK(in.good(), file.string(), ": cannot be opened for reading");
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    const size_t a = line.find('\t'), b = a == std::string::npos ? a : line.find('\t', a + 1);
    XCLIP_CHECK(b != std::string::npos, file.string(), ":", number,
                ": expected three tab-separated fields (video_id, file, reason), got '", line, "'");
    out.push_back({line.substr(0, a), line.substr(a + 1, b - a - 1), line.substr(b + 1)});
  }
  return out;
}

SkippedVideoLog::SkippedVideoLog(fs::path file) : file_(std::move(file)) {
  for (VideoProblem& p : read_skipped_videos(file_))
    if (listed_.emplace(p.video_id, p.file).second) entries_.push_back(std::move(p));
  if (file_.has_parent_path()) fs::create_directories(file_.parent_path());
}

size_t SkippedVideoLog::add(const std::vector<VideoProblem>& problems) {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t added = 0;
  for (const VideoProblem& p : problems) {
    VideoProblem clean{one_line(p.video_id), one_line(p.file), one_line(p.reason), p.kind};
    if (!listed_.emplace(clean.video_id, clean.file).second) continue;
    entries_.push_back(std::move(clean));
    ++added;
  }
  if (added > 0) write_locked();
  return added;
}

size_t SkippedVideoLog::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

std::vector<VideoProblem> SkippedVideoLog::entries() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_;
}

void SkippedVideoLog::write_locked() const {
  std::ostringstream os;
  os << kHeader << "\n";
  for (const VideoProblem& p : entries_) os << p.video_id << '\t' << p.file << '\t' << p.reason << '\n';
  io::write_text_file_atomically(file_, os.str());
}

}  // namespace xclip::data
