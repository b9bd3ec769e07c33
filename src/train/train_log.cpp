#include "xclip/train/train_log.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "xclip/core/error.hpp"
#include "xclip/io/json_file.hpp"

namespace xclip::train {

TrainLog::TrainLog(const std::filesystem::path& path) : path_(path) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  file_ = std::fopen(path.c_str(), "a");
  XCLIP_CHECK(file_ != nullptr, path.string(), ": cannot open the training log for appending: ", std::strerror(errno));
}

TrainLog::~TrainLog() {
  if (file_) std::fclose(file_);
}

void TrainLog::write(const nlohmann::json& record) {
  const std::string line = record.dump() + "\n";
  errno = 0;
  const bool ok = std::fwrite(line.data(), 1, line.size(), file_) == line.size() && std::fflush(file_) == 0;
  XCLIP_CHECK(ok, path_.string(), ": cannot write the training log: ",
              errno != 0 ? std::strerror(errno) : "short write");
}

std::vector<nlohmann::json> read_train_log(const std::filesystem::path& path) {
  std::ifstream in(path);
  XCLIP_CHECK(in.good(), path.string(), ": cannot open the training log: ", std::strerror(errno));
  std::vector<nlohmann::json> out;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    try {
      out.push_back(io::parse_json(line, format(path.string(), ":", n), 8));
    } catch (const Error& e) {
      throw Error(format(e.what(), " (not a training log record)"));
    }
  }
  return out;
}

std::vector<double> step_losses(const std::vector<nlohmann::json>& records) {
  std::map<int64_t, double> by_step;
  for (const auto& r : records)
    if (r.value("event", "") == "step") by_step[r.at("global_step").get<int64_t>()] = r.at("loss").get<double>();
  std::vector<double> out;
  for (const auto& [step, loss] : by_step) out.push_back(loss);
  return out;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t s = int64_t(std::llround(seconds));
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%llds", (long long)s);
  return buf;
}

std::string progress_line(const ProgressInfo& p) {
  // The distinct learning rates, as the original prints them ("-".join(sorted(set(lrs)))).
  std::set<double> lrs(p.lr.begin(), p.lr.end());
  std::ostringstream lr;
  for (double v : lrs) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", v);
    lr << (lr.tellp() > 0 ? "," : "") << buf;
  }
  char buf[256];
  std::snprintf(buf, sizeof buf, "epoch %lld/%lld step %lld/%lld (global %lld/%.0f) loss %.4f lr %s %.1f clips/s ETA %s",
                (long long)(p.epoch + 1), (long long)p.epochs, (long long)p.step, (long long)p.steps_per_epoch,
                (long long)p.global_step, std::ceil(p.total_steps), p.loss, lr.str().c_str(), p.clips_per_second,
                format_duration(p.eta_seconds).c_str());
  return buf;
}

}  // namespace xclip::train
