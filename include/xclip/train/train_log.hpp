// What a training run writes as it goes: one JSON object per line in output_dir/train_log.jsonl
// (every optimizer step, every epoch, resumes and stops; appended, flushed line by line so a
// crash loses at most the line being written) and the human progress line.
#pragma once
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace xclip::train {

class TrainLog {
 public:
  // Opens `path` for appending (creating it); throws naming the file when it cannot.
  explicit TrainLog(const std::filesystem::path& path);
  ~TrainLog();
  TrainLog(const TrainLog&) = delete;
  TrainLog& operator=(const TrainLog&) = delete;
  void write(const nlohmann::json& record);
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
};

// Every record of a log file, in order. Throws naming the file and line for a malformed line.
std::vector<nlohmann::json> read_train_log(const std::filesystem::path& path);

// The loss of every optimizer step of a log, by global step (1-based; when a resumed run
// repeated steps, the last record of a step wins).
std::vector<double> step_losses(const std::vector<nlohmann::json>& records);

// "1h02m", "4m05s", "12s".
std::string format_duration(double seconds);

struct ProgressInfo {
  int64_t epoch = 0, epochs = 0;          // epoch 0-based
  int64_t step = 0, steps_per_epoch = 0;  // optimizer steps, step 1-based within the epoch
  int64_t global_step = 0;
  double total_steps = 0;                  // t_total
  double loss = 0;
  std::vector<double> lr;                  // per group
  double clips_per_second = 0;
  double eta_seconds = 0;
};
// "epoch 1/5 step 100/300 (global 100/1500) loss 2.3456 lr 1e-07,1e-04 84.2 clips/s ETA 4m05s"
std::string progress_line(const ProgressInfo& p);

}  // namespace xclip::train
