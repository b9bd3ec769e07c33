#include "xclip/train/train_checkpoint.hpp"

#include <regex>

#include <nlohmann/json.hpp>

#include "xclip/autograd.hpp"
#include "xclip/core/checked.hpp"
#include "xclip/io/file_bytes.hpp"
#include "xclip/io/json_file.hpp"
#include "xclip/io/safetensors.hpp"
#include "xclip/models/build.hpp"

namespace xclip::train {

namespace fs = std::filesystem;

nlohmann::json LoopState::to_json() const {
  return {{"format", "xclip.cpp training state"},
          {"version", 1},
          {"epoch", epoch},
          {"epochs", epochs},
          {"global_step", global_step},
          {"t_total", t_total},
          {"batches_per_epoch", batches_per_epoch},
          {"gradient_accumulation_steps", gradient_accumulation_steps},
          {"seed", seed},
          {"mean_loss", mean_loss},
          {"best_epoch", best_epoch},
          {"best_r1", best_r1},
          {"run_seconds", run_seconds},
          {"clips_seen", clips_seen},
          {"optimizer", optimizer}};
}

namespace {

// Typed, range-checked fields of trainer_state.json: a resumed run trusts these numbers (the step
// it resumes at, the schedule's length), so 1e300 or 2.5 where a count belongs is an error naming
// the key, never a silent conversion (a double cast to int64 out of range is undefined).
class StateFields {
 public:
  explicit StateFields(const nlohmann::json& j) : j_(j) {}

  int64_t integer(const char* key, int64_t lo, int64_t hi) const {
    const nlohmann::json& v = at(key);
    XCLIP_CHECK(v.is_number_integer() && !(v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)),
                "'", key, "' must be an integer, got ", io::json_excerpt(v, 60));
    return check_in_range(v.get<int64_t>(), lo, hi, format("'", key, "'"));
  }
  double number(const char* key, double lo, double hi) const {
    const nlohmann::json& v = at(key);
    XCLIP_CHECK(v.is_number(), "'", key, "' must be a number, got ", io::json_excerpt(v, 60));
    const double x = v.get<double>();
    XCLIP_CHECK(x >= lo && x <= hi, "'", key, "' must be in [", lo, ", ", hi, "], got ", x);
    return x;
  }
  uint64_t unsigned_integer(const char* key) const {
    const nlohmann::json& v = at(key);
    XCLIP_CHECK(v.is_number_unsigned(), "'", key, "' must be a non-negative integer, got ", io::json_excerpt(v, 60));
    return v.get<uint64_t>();
  }
  std::string text(const char* key) const {
    const nlohmann::json& v = at(key);
    XCLIP_CHECK(v.is_string(), "'", key, "' must be a string, got ", io::json_excerpt(v, 60));
    return v.get<std::string>();
  }

 private:
  const nlohmann::json& at(const char* key) const {
    XCLIP_CHECK(j_.contains(key), "'", key, "' is missing");
    return j_.at(key);
  }
  const nlohmann::json& j_;
};

constexpr int64_t kMaxEpochs = 1000000;
constexpr int64_t kMaxSteps = int64_t(1) << 53;  // exact in a double, as the schedule computes
constexpr double kMaxSeconds = 1e10;             // three centuries

}  // namespace

LoopState LoopState::from_json(const nlohmann::json& j, const std::string& source) {
  try {
    XCLIP_CHECK(j.is_object() && j.value("format", "") == "xclip.cpp training state", "not a training state file");
    const StateFields f(j);
    LoopState s;
    s.epochs = f.integer("epochs", 1, kMaxEpochs);
    s.epoch = f.integer("epoch", -1, s.epochs);
    s.global_step = f.integer("global_step", 0, kMaxSteps);
    s.t_total = f.number("t_total", 0, double(kMaxSteps));
    s.batches_per_epoch = f.integer("batches_per_epoch", 0, kMaxSteps);
    s.gradient_accumulation_steps = int(f.integer("gradient_accumulation_steps", 1, 1 << 20));
    s.seed = f.unsigned_integer("seed");
    s.mean_loss = f.number("mean_loss", -1e30, 1e30);
    s.best_epoch = f.integer("best_epoch", -1, s.epochs);
    s.best_r1 = f.number("best_r1", -1, 100);
    s.run_seconds = f.number("run_seconds", 0, kMaxSeconds);
    s.clips_seen = f.integer("clips_seen", 0, int64_t(1) << 62);
    s.optimizer = f.text("optimizer");
    return s;
  } catch (const std::exception& e) {
    throw Error(format(source, ": ", e.what()));
  }
}

fs::path checkpoint_dir(const fs::path& output_dir, int64_t epoch) {
  return output_dir / ("checkpoint." + std::to_string(epoch));
}

namespace {

void write_json(const fs::path& path, const nlohmann::json& j) {
  io::write_text_file_atomically(path, j.dump(1) + "\n");
}

// Moves a finished `partial` folder to `final_dir`, replacing an older one without a moment in
// which neither exists under a name a reader trusts.
void publish_folder(const fs::path& partial, const fs::path& final_dir) {
  const fs::path old = final_dir.string() + ".old";
  fs::remove_all(old);
  if (fs::exists(final_dir)) fs::rename(final_dir, old);
  fs::rename(partial, final_dir);
  fs::remove_all(old);
}

Tensor on_cpu(const Tensor& t) { return t.device() == Device::cpu ? t : t.to(Device::cpu); }

// RetrievalModel::save's file (official names, atomic), from CPU copies when the model is on the GPU.
void save_model_weights(const models::RetrievalModel& model, const fs::path& path) {
  io::NamedTensors out(path.string());
  for (const auto& [name, t] : model.state_dict()) out.add(name, on_cpu(t));
  io::save_safetensors(path.string(), out);
}

io::NamedTensors optimizer_tensors(const std::vector<NamedParamGroup>& groups, Optimizer& optimizer,
                                   const fs::path& path) {
  io::NamedTensors out(path.string());
  out.metadata["optimizer"] = optimizer.name();
  for (const NamedParamGroup& g : groups)
    for (size_t i = 0; i < g.names.size(); ++i) {
      const OptimizerState* s = optimizer.state_for(g.group.params[i]);
      XCLIP_CHECK(s != nullptr, "checkpoint: the optimizer does not manage parameter ", g.names[i]);
      if (!s->m.defined()) continue;  // never stepped (frozen)
      out.add("m." + g.names[i], on_cpu(s->m));
      out.add("v." + g.names[i], on_cpu(s->v));
      out.add("step." + g.names[i], Tensor::from_vector<int64_t>({s->step}, Shape{1}));
    }
  return out;
}

}  // namespace

void save_training_checkpoint(const fs::path& dir, const models::RetrievalModel& model, const std::vector<NamedParamGroup>& groups,
                              Optimizer& optimizer, const LoopState& state) {
  const fs::path partial = dir.string() + ".partial";
  fs::remove_all(partial);
  fs::create_directories(partial);
  save_model_weights(model, partial / "model.safetensors");
  models::save_model_config(partial / "model_config.json", model.clip.config(), model.config());
  io::save_safetensors((partial / "optimizer.safetensors").string(),
                       optimizer_tensors(groups, optimizer, partial / "optimizer.safetensors"));
  write_json(partial / "trainer_state.json", state.to_json());
  publish_folder(partial, dir);
}

void update_loop_state(const fs::path& dir, const LoopState& state) {
  write_json(dir / "trainer_state.json", state.to_json());
}

LoopState read_loop_state(const fs::path& dir) {
  const fs::path path = dir / "trainer_state.json";
  return LoopState::from_json(io::read_json_file(path, "training state", 4), path.string());
}

LoopState load_training_checkpoint(const fs::path& dir, models::RetrievalModel& model, const std::vector<NamedParamGroup>& groups,
                                   Optimizer& optimizer) {
  const LoopState loop = read_loop_state(dir);
  const fs::path weights = dir / "model.safetensors";
  XCLIP_CHECK(fs::exists(weights), weights.string(), ": missing (an incomplete checkpoint?)");
  {
    const io::NamedTensors w = io::load_safetensors(weights.string());
    NoGradGuard no_grad;
    try {
      model.load_state_dict(w.list(), /*strict=*/true);
    } catch (const std::exception& e) {
      throw Error(format(weights.string(), ": does not fit the model: ", e.what()));
    }
  }
  const fs::path opt_path = dir / "optimizer.safetensors";
  const io::NamedTensors opt = io::load_safetensors(opt_path.string());
  auto it = opt.metadata.find("optimizer");
  XCLIP_CHECK(it != opt.metadata.end() && it->second == optimizer.name(), opt_path.string(), ": written by optimizer '",
              it == opt.metadata.end() ? std::string("?") : it->second, "', this run uses '", optimizer.name(), "'");
  size_t used = 0;
  for (size_t g = 0; g < groups.size(); ++g)
    for (size_t i = 0; i < groups[g].names.size(); ++i) {
      const std::string& name = groups[g].names[i];
      const Tensor* m = opt.find("m." + name);
      if (!m) continue;
      const Tensor& p = groups[g].group.params[i];
      const Tensor& v = opt.at("v." + name);
      const Tensor& step = opt.at("step." + name);
      // Shapes must match; dtypes are kept as saved (an fp16-moment optimizer stores fp16).
      XCLIP_CHECK(m->shape() == p.shape() && v.shape() == p.shape(),
                  opt_path.string(), ": the state of ", name, " is ", m->str(), " but the parameter is ", p.str());
      OptimizerState* st = optimizer.state_for(p);
      XCLIP_CHECK(st != nullptr, "checkpoint: the optimizer does not manage parameter ", name);
      st->m = m->to(p.device());  // a copy out of the mapped file, on the parameter's device
      st->v = v.to(p.device());
      if (p.device() == Device::cpu) {
        st->m = st->m.clone();
        st->v = st->v.clone();
      }
      st->step = step.to(DType::i64).data<int64_t>()[0];
      used += 3;
    }
  XCLIP_CHECK(used == opt.size(), opt_path.string(), ": ", opt.size() - used,
              " tensor(s) belong to no parameter of this model");
  return loop;
}

fs::path find_checkpoint(const fs::path& path) {
  XCLIP_CHECK(fs::exists(path), path.string(), ": no such checkpoint or folder");
  if (fs::exists(path / "trainer_state.json")) return path;
  XCLIP_CHECK(fs::is_directory(path), path.string(), ": not a checkpoint folder (expected a folder with trainer_state.json)");
  const std::regex name_re("checkpoint\\.([0-9]+)");
  int64_t best = -1;
  fs::path found;
  for (const auto& entry : fs::directory_iterator(path)) {
    std::smatch m;
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || !std::regex_match(name, m, name_re)) continue;
    if (!fs::exists(entry.path() / "trainer_state.json")) continue;
    const int64_t epoch = std::stoll(m[1].str());
    if (epoch > best) {
      best = epoch;
      found = entry.path();
    }
  }
  XCLIP_CHECK(best >= 0, path.string(), ": holds no trainer_state.json and no checkpoint.N/ folder");
  return found;
}

std::vector<fs::path> remove_checkpoints_before(const fs::path& output_dir, int64_t first_kept,
                                                const std::vector<fs::path>& keep) {
  auto kept = [&](const fs::path& dir) {
    std::error_code ec;
    for (const fs::path& k : keep)
      if (!k.empty() && (k == dir || fs::equivalent(k, dir, ec))) return true;
    return false;
  };
  std::vector<fs::path> removed;
  for (int64_t epoch = 0; epoch < first_kept; ++epoch) {
    const fs::path dir = checkpoint_dir(output_dir, epoch);
    if (!fs::is_directory(dir) || kept(dir)) continue;
    const fs::path old = dir.string() + ".old";
    fs::remove_all(old);
    fs::rename(dir, old);
    fs::remove_all(old);
    removed.push_back(dir);
  }
  return removed;
}

void save_best(const fs::path& output_dir, const fs::path& checkpoint, const nlohmann::json& metrics) {
  const fs::path final_dir = output_dir / "best";
  const fs::path partial = output_dir / "best.partial";
  fs::remove_all(partial);
  fs::create_directories(partial);
  for (const char* f : {"model.safetensors", "model_config.json"}) fs::copy_file(checkpoint / f, partial / f);
  nlohmann::json m = metrics;
  m["checkpoint"] = checkpoint.filename().string();
  write_json(partial / "metrics.json", m);
  publish_folder(partial, final_dir);
}

}  // namespace xclip::train
