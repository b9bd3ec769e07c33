// xclip-cli check: the data check before a long run. Reads every video of the chosen splits once
// with the run's frame rule and names every video the run could not use fully: missing, empty,
// unreadable, or partly corrupt (a sampled read fails part-way, so the video has fewer frames than
// its container promises; the original would silently train or test on the shorter video).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../command.hpp"
#include "train_setup.hpp"
#include "xclip/core/error.hpp"
#include "xclip/data/video_check.hpp"
#include "xclip/io/file_bytes.hpp"
#include "xclip/models/build.hpp"

namespace xclip::cli {
namespace {

namespace fs = std::filesystem;
using data::VideoProblem;

constexpr const char* kUsage =
    "usage: xclip-cli check --data_path PATH --features_path DIR [--split train,val,test] [--json FILE] [options]\n"
    "Reads every video of the splits once, with the frame rule of a run, and names every video the run\n"
    "could not use fully: missing, empty, unreadable, or partly corrupt (a sampled read fails part-way,\n"
    "so fewer frames than the container promises). Exit status 1 when any is found, 0 otherwise.\n"
    "  --split LIST           splits to read, comma-separated (default train,val,test: what a run reads;\n"
    "                         a clip in several splits is read once)\n"
    "  --json FILE            also write the report as JSON\n"
    "  --num_thread_reader N  videos decoded at once (default 1, as train)\n"
    "  --size S               frame side (default 224; with --init random, --image_resolution)\n"
    "The dataset and frame flags of `xclip-cli train`: --datatype --train_csv --val_csv\n"
    "--expand_msrvtt_sentences --max_frames (12) --slice_framepos (0) --feature_framerate (1).\n"
    "With --slice_framepos 0 a run reads only the first max_frames sampled frames, and so does check:\n"
    "damage after them does not reach the run and is not reported.\n";

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    if (item.empty()) continue;
    XCLIP_CHECK(item == "train" || item == "val" || item == "test", "--split: expected train, val or test, got '",
                item, "'");
    if (std::find(out.begin(), out.end(), item) == out.end()) out.push_back(item);
  }
  XCLIP_CHECK(!out.empty(), "--split: no split given");
  return out;
}

int frame_size(const TrainFlags& f) {
  if (f.has("size")) return int(f.get_int("size", 224));
  if (f.get("init", "pretrained") == "random")
    return int(f.get_int("image_resolution", models::ScratchClipOptions{}.image_resolution));
  return 224;
}

// Every video of the splits once: clips by (file, span), missing videos by (id, folder).
struct Plan {
  std::vector<data::Clip> clips;
  std::vector<std::set<std::string>> clip_splits;
  std::vector<VideoProblem> missing;
  std::vector<std::set<std::string>> missing_splits;
  std::map<std::string, int64_t> split_clips;  // clips per split, for the summary
};

Plan plan_splits(const TrainFlags& f, const std::vector<std::string>& splits) {
  Plan plan;
  std::map<std::string, size_t> clip_at, missing_at;
  for (const std::string& split : splits) {
    const data::Dataset d = data::read_dataset(dataset_options(f, split));
    std::fprintf(stderr, "data: %s\n", d.summary().c_str());
    plan.split_clips[split] = int64_t(d.clips.size() + d.skipped.size());
    for (const data::Clip& c : d.clips) {
      const std::string key = c.path.string() + "|" + data::clip_key(c);
      auto [it, added] = clip_at.emplace(key, plan.clips.size());
      if (added) {
        plan.clips.push_back(c);
        plan.clip_splits.emplace_back();
      }
      plan.clip_splits[it->second].insert(split);
    }
    for (const VideoProblem& p : d.skipped) {
      auto [it, added] = missing_at.emplace(p.video_id + "|" + p.file, plan.missing.size());
      if (added) {
        plan.missing.push_back(p);
        plan.missing_splits.emplace_back();
      }
      plan.missing_splits[it->second].insert(split);
    }
  }
  return plan;
}

std::string joined(const std::set<std::string>& splits) {
  std::string s;
  for (const char* x : {"train", "val", "test"})
    if (splits.count(x)) s += (s.empty() ? "" : ",") + std::string(x);
  return s;
}

struct Finding {
  VideoProblem problem;
  std::string splits;
  data::VideoCheck check;  // frames, sampled, promised (zero for videos never opened)
};

void print_table(const std::vector<Finding>& findings) {
  int id_width = 8, split_width = 5;
  for (const Finding& x : findings) {
    id_width = std::max(id_width, int(x.problem.video_id.size()));
    split_width = std::max(split_width, int(x.splits.size()));
  }
  std::printf("%-14s  %-*s  %-*s  %s\n", "problem", id_width, "video_id", split_width, "split", "file: reason");
  for (const Finding& x : findings) {
    const std::string& reason = x.problem.reason;
    // Most reasons start with the file; the others get it in front.
    const std::string detail = reason.rfind(x.problem.file, 0) == 0 ? reason : x.problem.file + ": " + reason;
    std::printf("%-14s  %-*s  %-*s  %s\n", data::video_problem_kind_name(x.problem.kind), id_width,
                x.problem.video_id.c_str(), split_width, x.splits.c_str(), detail.c_str());
  }
}

nlohmann::json report_json(const std::vector<std::string>& splits, const Plan& plan, const data::FrameSampling& s,
                           const std::vector<Finding>& findings, double seconds) {
  nlohmann::json j;
  j["splits"] = splits;
  j["clips_per_split"] = plan.split_clips;
  j["sampling"] = data::sampling_to_json(s);
  j["videos_checked"] = plan.clips.size() + plan.missing.size();
  j["videos_with_problems"] = findings.size();
  std::map<std::string, int64_t> counts = {{"missing", 0}, {"empty", 0}, {"unreadable", 0}, {"partly corrupt", 0}};
  nlohmann::json list = nlohmann::json::array();
  for (const Finding& x : findings) {
    ++counts[data::video_problem_kind_name(x.problem.kind)];
    list.push_back({{"video_id", x.problem.video_id},
                    {"file", x.problem.file},
                    {"problem", data::video_problem_kind_name(x.problem.kind)},
                    {"reason", x.problem.reason},
                    {"splits", x.splits},
                    {"frames_read", x.check.sampled},
                    {"frames_promised", x.check.promised}});
  }
  j["counts"] = counts;
  j["problems"] = list;
  j["seconds"] = seconds;
  return j;
}

std::string counts_text(const std::vector<Finding>& findings) {
  std::map<VideoProblem::Kind, int64_t> n;
  for (const Finding& x : findings) ++n[x.problem.kind];
  std::string s;
  for (const auto& [kind, count] : n) s += format(s.empty() ? "" : ", ", count, " ", data::video_problem_kind_name(kind));
  return s;
}

int run_check(const std::vector<std::string>& argv) {
  TrainFlags f(argv, {"split", "json", "size"});
  if (f.flag("help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  XCLIP_CHECK(f.positional().empty(), "unexpected argument '", f.positional().at(0), "'\n", kUsage);
  const std::vector<std::string> splits = split_list(f.get("split", "train,val,test"));
  const data::FrameSampling sampling =
      frame_sampling(f, true, f.get_int("max_frames", models::HeadConfig{}.max_frames), frame_size(f));
  XCLIP_CHECK(sampling.max_frames >= 1 && sampling.size >= 1, "--max_frames and --size must be positive");
  const Plan plan = plan_splits(f, splits);

  data::CheckOptions o;
  o.sampling = sampling;
  o.threads = int(f.get_int("num_thread_reader", 1));
  XCLIP_CHECK(o.threads >= 1, "--num_thread_reader must be >= 1");
  // On a terminal the progress line rewrites itself; in a log, one line every ten seconds.
  const bool tty = ::isatty(STDERR_FILENO);
  o.progress_interval_s = tty ? 0.5 : 10.0;
  o.on_progress = [tty](const data::ExtractProgress& p) {
    std::fprintf(stderr, tty ? "\rcheck: %s   " : "check: %s\n", p.line().c_str());
    std::fflush(stderr);
  };
  std::fprintf(stderr, "check: reading %zu videos (%zu more left out when the splits were read) with max_frames %d, "
               "slice_framepos %d, "
               "feature_framerate %d, size %d, %d threads\n", plan.clips.size(), plan.missing.size(),
               sampling.max_frames, sampling.slice_framepos, sampling.feature_framerate, sampling.size, o.threads);
  const auto started = std::chrono::steady_clock::now();
  const std::vector<data::VideoCheck> checks = data::check_clips(plan.clips, o);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (tty) std::fprintf(stderr, "\n");

  std::vector<Finding> findings;
  for (size_t i = 0; i < plan.missing.size(); ++i)
    findings.push_back({plan.missing[i], joined(plan.missing_splits[i]), {}});
  for (size_t i = 0; i < checks.size(); ++i)
    if (!checks[i].ok()) findings.push_back({*checks[i].problem, joined(plan.clip_splits[i]), checks[i]});

  const size_t total = plan.clips.size() + plan.missing.size();
  if (findings.empty()) {
    std::printf("check: all %zu videos of %s are readable with the run's frame rule (%.1f s)\n", total,
                f.get("split", "train,val,test").c_str(), seconds);
  } else {
    print_table(findings);
    std::printf("check: %zu of %zu videos cannot be used fully (%s; %.1f s)\n", findings.size(), total,
                counts_text(findings).c_str(), seconds);
  }
  if (auto path = f.get("json")) {
    const fs::path out = *path;
    if (out.has_parent_path()) fs::create_directories(out.parent_path());
    io::write_text_file_atomically(out, report_json(splits, plan, sampling, findings, seconds).dump(1) + "\n");
    std::printf("check: report %s\n", out.string().c_str());
  }
  return findings.empty() ? 0 : 1;
}

const CommandRegistrar kRegister{Command{
    "check", "read every video of the splits before a long run; name the missing, unreadable, corrupt ones",
    run_check}};

}  // namespace
}  // namespace xclip::cli
