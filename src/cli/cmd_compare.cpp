// xclip-cli compare: retrieval metrics of several runs side by side, read from the JSON files
// `train` (test_metrics.json), `eval` (--eval_json) and `metrics` (--json) write.
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "args.hpp"
#include "command.hpp"
#include "xclip/core/error.hpp"
#include "xclip/io/json_file.hpp"
#include "xclip/train/evaluate.hpp"

namespace xclip::cli {
namespace {

const char* kUsage =
    "usage: xclip-cli compare NAME=METRICS.json [NAME=METRICS.json ...]\n"
    "  METRICS.json   {\"text_to_video\": {R1, R5, R10, MR, MeanR}, \"video_to_text\": {...}} as written by\n"
    "                 `xclip-cli train` (test_metrics.json), `eval` and `metrics --json`\n";

train::RetrievalMetrics read_direction(const nlohmann::json& j, const char* key, const std::string& path) {
  XCLIP_CHECK(j.contains(key) && j.at(key).is_object(), path, ": no '", key, "' object");
  const auto& d = j.at(key);
  auto num = [&](const char* k) {
    XCLIP_CHECK(d.contains(k) && d.at(k).is_number(), path, ": ", key, ".", k, " is missing or not a number");
    return d.at(k).get<double>();
  };
  train::RetrievalMetrics m;
  m.r1 = num("R1");
  m.r5 = num("R5");
  m.r10 = num("R10");
  m.median_rank = num("MR");
  m.mean_rank = num("MeanR");
  return m;
}

int run_compare(const std::vector<std::string>& argv) {
  Args args(argv, {}, {"help"});
  if (args.flag("help") || args.positional().empty()) {
    std::fputs(kUsage, args.flag("help") ? stdout : stderr);
    return args.flag("help") ? 0 : 2;
  }
  std::vector<std::pair<std::string, train::EvalResult>> rows;
  for (const std::string& item : args.positional()) {
    const size_t eq = item.find('=');
    XCLIP_CHECK(eq != std::string::npos && eq > 0, "expected NAME=METRICS.json, got '", item, "'\n", kUsage);
    const std::string name = item.substr(0, eq), path = item.substr(eq + 1);
    const nlohmann::json j = io::read_json_file(path, "metrics");
    train::EvalResult r;
    r.t2v = read_direction(j, "text_to_video", path);
    r.v2t = read_direction(j, "video_to_text", path);
    rows.emplace_back(name, r);
  }
  std::printf("%s", train::comparison_table(rows).c_str());
  return 0;
}

const CommandRegistrar registrar{
    Command{"compare", "retrieval metrics of several runs side by side (from their metrics JSON)", run_compare}};

}  // namespace
}  // namespace xclip::cli
