#include "xclip/models/verify.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "xclip/core/device_memory.hpp"
#include "xclip/io/json_file.hpp"
#include "xclip/io/safetensors.hpp"
#include "xclip/models/build.hpp"
#include "xclip/ops.hpp"

namespace xclip::models {

namespace {

namespace fs = std::filesystem;

// config.json keys that describe the bundle rather than the model.
const std::set<std::string> kBundleKeys = {"kind",      "description",    "precision",     "clip_head_width",
                                           "tolerance", "grad_tolerance", "init_from_clip", "absolute_tolerance"};

ClipPrecision parse_precision(const std::string& s, const fs::path& where) {
  if (s == "f32") return ClipPrecision::f32;
  if (s == "official_fp16") return ClipPrecision::official_fp16;
  throw Error(format("verify: ", where.string(), ": precision must be f32 or official_fp16, got '", s, "'"));
}

TensorCheck compare(const std::string& name, const Tensor& ours_in, const Tensor& expected, double tol, double atol) {
  TensorCheck c;
  c.name = name;
  c.shape = expected.shape().str();
  const Tensor ours = ours_in.defined() ? ours_in : Tensor::zeros(expected.shape(), DType::f64);
  if (ours.numel() != expected.numel() || (ours.numel() > 1 && ours.shape() != expected.shape())) {
    c.shape = "ours " + ours.shape().str() + " vs expected " + expected.shape().str();
    c.error = INFINITY;
    return c;
  }
  const std::vector<double> a = ours.to_vector<double>(), e = expected.to_vector<double>();
  for (size_t i = 0; i < e.size(); ++i) {
    c.max_expected = std::max(c.max_expected, std::abs(e[i]));
    const double d = std::abs(a[i] - e[i]);
    c.max_diff = std::isnan(d) ? INFINITY : std::max(c.max_diff, d);
  }
  c.error = c.max_diff == 0 ? 0.0 : c.max_diff / std::max(c.max_expected, 1e-300);
  c.ok = c.error <= tol;
  c.by_absolute = !c.ok && c.max_diff <= atol;
  c.ok = c.ok || c.by_absolute;
  return c;
}

// Our tensor for every name the reference may write (official variable names): the outputs, the
// encoders' features, what the head reports and every parameter's gradient.
std::map<std::string, Tensor> our_outputs(const RetrievalModel& model, const ModelOutput& out, const Tensor& sim_eval) {
  std::map<std::string, Tensor> m = {{"sim_train", out.head.logits},      {"loss", out.loss},
                                     {"sim_eval", sim_eval},              {"sequence_output", out.text.sentence},
                                     {"seq_features", out.text.words},    {"visual_output", out.video.frames}};
  for (const auto& [name, t] : out.head.intermediates) m[name] = t;
  for (const auto& [name, p] : model.named_parameters())
    m["grad." + name] = p.grad().defined() ? p.grad() : Tensor::zeros(p.shape(), p.dtype());
  return m;
}

}  // namespace

VerifyResult verify_bundle(const std::string& bundle_dir, const VerifyOptions& options) {
  const fs::path dir(bundle_dir);
  XCLIP_CHECK(fs::is_directory(dir), "verify: ", bundle_dir, " is not a bundle folder");
  XCLIP_CHECK(options.device == Device::cpu || cuda_available(),
              "verify: --device cuda: no CUDA device is available (or this build has no CUDA support)");
  const nlohmann::json cfg = io::read_json_file(dir / "config.json", "verify:");
  const std::string kind = cfg.value("kind", std::string("full"));
  XCLIP_CHECK(kind == "full", "verify: ", (dir / "config.json").string(), ": unknown bundle kind '", kind, "'");

  VerifyResult result;
  result.bundle = bundle_dir;
  result.description = cfg.value("description", std::string());
  result.tolerance = options.tolerance.value_or(cfg.value("tolerance", 1e-5));
  result.grad_tolerance = options.tolerance.value_or(cfg.value("grad_tolerance", result.tolerance));
  result.absolute_tolerance = cfg.value("absolute_tolerance", 0.0);
  HeadConfig config;
  try {
    config = HeadConfig::from_json(cfg, kBundleKeys);
  } catch (const Error& e) {
    throw Error(format("verify: ", (dir / "config.json").string(), ": ", e.what()));
  }
  const ClipPrecision precision = parse_precision(cfg.value("precision", std::string("f32")), dir / "config.json");
  const bool init_from_clip = cfg.value("init_from_clip", false);

  const io::NamedTensors weights = io::load_safetensors((dir / "weights.safetensors").string());
  const io::NamedTensors inputs = io::load_safetensors((dir / "inputs.safetensors").string());
  const io::NamedTensors expected = io::load_safetensors((dir / "expected.safetensors").string());

  LoadReport load;
  const std::unique_ptr<RetrievalModel> built =
      from_weights(weights.list(), config, precision, cfg.value("clip_head_width", int64_t(64)), &load);
  RetrievalModel& model = *built;
  if ((!init_from_clip && !load.missing.empty()) || !load.unexpected.empty())
    result.problems.push_back("weights: " + load.str());
  if (init_from_clip && (config.temporal_encoder() || config.cross_encoder()) && !load.head_from_clip)
    result.problems.push_back("weights: a CLIP-only bundle but the temporal (or cross) encoder was not copied from CLIP");
  model.to(options.device);  // the inputs follow the parameters inside the model

  const Tensor& ids = inputs.at("input_ids");
  const Tensor& attention_mask = inputs.at("attention_mask");
  const Tensor& video = inputs.at("video");
  const Tensor& video_mask = inputs.at("video_mask");
  ModelOutput out = model.forward(ids, attention_mask, video, video_mask);
  out.loss.backward();
  const Tensor sim_eval = model.similarity_for_eval(ids, attention_mask, video, video_mask);

  const std::map<std::string, Tensor> ours = our_outputs(model, out, sim_eval);
  std::set<std::string> checked;
  for (const auto& [name, want] : expected) {
    auto it = ours.find(name);
    if (it == ours.end()) {
      result.problems.push_back("expected.safetensors: '" + name + "' is not a tensor verify knows or the " +
                                config.head + " head computes");
      continue;
    }
    const bool is_grad = name.starts_with("grad.");
    result.checks.push_back(compare(name, it->second, want, is_grad ? result.grad_tolerance : result.tolerance,
                                     result.absolute_tolerance));
    checked.insert(name);
  }
  for (const char* required : {"sim_train", "loss", "sim_eval"})
    if (!checked.count(required)) result.problems.push_back(std::string("expected.safetensors: no '") + required + "'");
  for (const auto& [name, p] : model.named_parameters())
    if (!checked.count("grad." + name)) result.problems.push_back("expected.safetensors: no 'grad." + name + "'");
  return result;
}

bool VerifyResult::ok() const {
  if (!problems.empty() || checks.empty()) return false;
  return std::all_of(checks.begin(), checks.end(), [](const TensorCheck& c) { return c.ok; });
}

const TensorCheck* VerifyResult::worst() const {
  const TensorCheck* w = nullptr;
  for (const TensorCheck& c : checks)
    if (!c.by_absolute && (!w || !(c.error <= w->error))) w = &c;
  return w;
}

std::string VerifyResult::table() const {
  std::ostringstream os;
  size_t width = 6;
  for (const TensorCheck& c : checks) width = std::max(width, c.name.size());
  os << "bundle " << bundle << (description.empty() ? "" : " (" + description + ")") << "\n";
  os << std::left << std::setw(int(width)) << "tensor" << "  " << std::setw(16) << "shape" << std::right
     << std::setw(12) << "max|exp|" << std::setw(12) << "max|diff|" << std::setw(12) << "rel.error" << "\n";
  os << std::scientific << std::setprecision(2);
  for (const TensorCheck& c : checks)
    os << std::left << std::setw(int(width)) << c.name << "  " << std::setw(16) << c.shape << std::right
       << std::setw(12) << c.max_expected << std::setw(12) << c.max_diff << std::setw(12) << c.error
       << (c.ok ? (c.by_absolute ? "  ok (absolute)" : "") : "  FAIL") << "\n";
  for (const std::string& p : problems) os << "problem: " << p << "\n";
  const TensorCheck* w = worst();
  os << (ok() ? "PASS" : "FAIL") << ": " << checks.size() << " tensors, worst " << (w ? w->name : "-") << " "
     << (w ? w->error : 0.0) << " (tolerance " << tolerance;
  if (grad_tolerance != tolerance) os << ", gradients " << grad_tolerance;
  if (absolute_tolerance > 0) os << ", absolute " << absolute_tolerance;
  os << ")";
  if (!problems.empty()) os << ", " << problems.size() << " problem(s)";
  os << "\n";
  return os.str();
}

}  // namespace xclip::models
