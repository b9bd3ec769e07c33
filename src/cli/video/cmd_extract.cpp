// xclip-cli extract: decode every clip of a dataset once into a memory-mapped frame cache (uint8
// crops after resize + centre crop, masks, manifest) that training and evaluation read instead of
// the videos. Resumable: run the same command again after an interruption.
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "../args.hpp"
#include "../command.hpp"
#include "xclip/core/error.hpp"
#include "xclip/data/dataset.hpp"
#include "xclip/data/frame_cache.hpp"

namespace xclip::cli {
namespace {

constexpr const char* kUsage =
    "usage: xclip-cli extract --datatype NAME --data_path DIR --features_path DIR --split SPLIT --out CACHE_DIR\n"
    "  --datatype NAME        msrvtt, msvd, lsmdc, didemo, activity or vatex\n"
    "  --data_path PATH       annotation folder (MSR-VTT: the folder or MSRVTT_data.json)\n"
    "  --features_path DIR    the videos (searched recursively)\n"
    "  --split SPLIT          train, val or test (default test)\n"
    "  --train_csv / --val_csv FILE   MSR-VTT csvs (default MSRVTT_train.9k.csv / MSRVTT_JSFUSION_test.csv)\n"
    "  --no_paragraph         DiDeMo / ActivityNet: one clip per caption span instead of whole videos\n"
    "  --max_frames N         frames kept per clip (default 12)\n"
    "  --slice_framepos K     0 first, 1 last, 2 uniform (default 2)\n"
    "  --feature_framerate N  frames per second sampled (default 1)\n"
    "  --size S               crop side (default 224)\n"
    "  --rule opencv|time     the original OpenCV frame-index rule (default) or time-based\n"
    "  --threads N            videos decoded at once (default: the number of cores)\n"
    "  --decode_threads N     FFmpeg threads per video (default 1)\n"
    "  --strict               stop at the first missing or undecodable video (default: skip, report)\n"
    "  --limit N              stop after N clips (unfinished; run again to resume)\n"
    "The cache is written to CACHE_DIR.partial/ and renamed to CACHE_DIR/ when complete.\n"
    "Exit status: 0 complete, 3 unfinished (--limit), 1 error.\n";

data::DatasetOptions dataset_options(const Args& args) {
  data::DatasetOptions o;
  auto need = [&](const char* name) {
    auto v = args.get(name);
    XCLIP_CHECK(v.has_value(), "--", name, " is required\n", kUsage);
    return *v;
  };
  o.kind = data::dataset_kind_from_name(need("datatype"));
  o.data_path = need("data_path");
  o.features_path = need("features_path");
  o.split = args.get("split", "test");
  o.train_csv = args.get("train_csv", "");
  o.val_csv = args.get("val_csv", "");
  o.paragraph = !args.flag("no_paragraph");
  o.strict = args.flag("strict");
  return o;
}

data::FrameSampling sampling_options(const Args& args) {
  data::FrameSampling s;
  s.max_frames = int(args.get_int("max_frames", s.max_frames));
  s.slice_framepos = int(args.get_int("slice_framepos", s.slice_framepos));
  s.feature_framerate = int(args.get_int("feature_framerate", s.feature_framerate));
  s.size = int(args.get_int("size", s.size));
  s.decode_threads = int(args.get_int("decode_threads", 1));
  const std::string rule = args.get("rule", "opencv");
  if (rule == "opencv") {
    s.rule = data::FrameSampling::opencv_index;
  } else if (rule == "time") {
    s.rule = data::FrameSampling::time_based;
  } else {
    throw Error(format("--rule must be 'opencv' or 'time', got '", rule, "'"));
  }
  XCLIP_CHECK(s.max_frames >= 1 && s.size >= 1, "--max_frames and --size must be positive");
  XCLIP_CHECK(s.slice_framepos >= 0 && s.slice_framepos <= 2, "--slice_framepos must be 0, 1 or 2");
  return s;
}

int run_extract(const std::vector<std::string>& argv) {
  for (const auto& a : argv) {
    if (a == "--") break;  // what follows "--" is not an option
    if (a == "--help" || a == "-h") {
      std::printf("%s", kUsage);
      return 0;
    }
  }
  Args args(argv,
            {"datatype", "data_path", "features_path", "split", "train_csv", "val_csv", "max_frames",
             "slice_framepos", "feature_framerate", "size", "rule", "threads", "decode_threads", "limit", "out"},
            {"no_paragraph", "strict", "expand_msrvtt_sentences"});
  XCLIP_CHECK(args.positional().empty(), "unexpected argument '", args.positional().at(0), "'\n", kUsage);
  auto out = args.get("out");
  XCLIP_CHECK(out.has_value(), "--out is required\n", kUsage);

  data::Dataset dataset = data::read_dataset(dataset_options(args));
  std::fprintf(stderr, "extract: %s\n", dataset.summary().c_str());
  for (const auto& p : dataset.skipped) std::fprintf(stderr, "extract: skipped %s: %s\n", p.video_id.c_str(), p.reason.c_str());

  data::ExtractOptions o;
  o.out = *out;
  o.sampling = sampling_options(args);
  long cores = ::sysconf(_SC_NPROCESSORS_ONLN);
  o.threads = int(args.get_int("threads", cores > 0 ? cores : 2));
  o.strict = args.flag("strict");
  o.stop_after = args.get_int("limit", -1);
  // On a terminal the progress line rewrites itself; in a log, one line every ten seconds.
  const bool tty = ::isatty(STDERR_FILENO);
  o.progress_interval_s = tty ? 0.5 : 10.0;
  o.on_progress = [tty](const data::ExtractProgress& p) {
    std::fprintf(stderr, tty ? "\rextract: %s   " : "extract: %s\n", p.line().c_str());
    std::fflush(stderr);
  };
  o.on_video_problem = [tty](const data::VideoProblem& p) {
    std::fprintf(stderr, "%sextract: %s (%s): %s\n", tty ? "\n" : "", p.video_id.c_str(), p.file.c_str(),
                 p.reason.c_str());
  };
  data::ExtractReport report = data::extract_frame_cache(dataset, o);
  if (tty) std::fprintf(stderr, "\n");
  std::printf("extract: %s\n", report.summary().c_str());
  if (report.finished) std::printf("extract: cache %s\n", o.out.string().c_str());
  return report.finished ? 0 : 3;
}

const CommandRegistrar kRegister{
    Command{"extract", "decode a dataset once into a memory-mapped frame cache (resumable)", run_extract}};

}  // namespace
}  // namespace xclip::cli
