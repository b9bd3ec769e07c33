// Fuzz targets of the core readers: .npy, safetensors, torch checkpoints and pickles, configs.
#include <fstream>
#include <unistd.h>

#include "fuzz_targets.hpp"
#include "xclip/core/error.hpp"
#include "xclip/io/checkpoint.hpp"
#include "xclip/io/file_bytes.hpp"
#include "xclip/io/json_file.hpp"
#include "xclip/io/npy.hpp"
#include "xclip/io/pickle.hpp"
#include "xclip/io/safetensors.hpp"
#include "xclip/models/clip.hpp"
#include "xclip/models/heads/head_config.hpp"

namespace xclip::fuzz {

namespace fs = std::filesystem;

namespace {

// Reads every byte of a tensor: a view past the end of its data faults here (or under ASan).
uint64_t touch(const Tensor& t) {
  uint64_t sum = 0;
  const auto* p = static_cast<const uint8_t*>(t.raw_data());
  for (size_t i = 0; i < t.nbytes(); ++i) sum += p[i];
  return sum;
}

uint64_t touch_all(const io::NamedTensors& tensors) {
  uint64_t sum = 0;
  for (const auto& [name, x] : tensors) sum += touch(x);
  return sum;
}

std::vector<uint8_t> copy_of(const uint8_t* data, size_t size) { return std::vector<uint8_t>(data, data + size); }

struct Scratch {
  fs::path dir;
  Scratch() {
    dir = fs::temp_directory_path() / ("xclip-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(dir);
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

}  // namespace

const fs::path& scratch_dir() {
  static Scratch s;
  return s.dir;
}

fs::path scratch_file(const std::string& name, const uint8_t* data, size_t size) {
  const fs::path p = scratch_dir() / name;
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  return p;
}

bool run_npy(const uint8_t* data, size_t size) {
  const fs::path p = scratch_file("input.npy", data, size);
  try {
    volatile uint64_t sum = touch(io::load_npy(p.string()));
    (void)sum;
    return true;
  } catch (const Error&) {
    return false;
  }
}

bool run_safetensors(const uint8_t* data, size_t size) {
  try {
    volatile uint64_t sum =
        touch_all(io::parse_safetensors(io::FileBytes::from_buffer(copy_of(data, size), "fuzz.safetensors")));
    (void)sum;
    return true;
  } catch (const Error&) {
    return false;
  }
}

// A torch checkpoint (zip, legacy) when it looks like one, else a plain pickle.
bool run_torch(const uint8_t* data, size_t size) {
  try {
    auto bytes = io::FileBytes::from_buffer(copy_of(data, size), "fuzz.pt");
    if (size >= 2 && data[0] == 0x80 && data[size - 1] == '.') {
      io::pickle::Options options;
      options.name = "fuzz.pkl";
      volatile size_t n = io::pickle::load(bytes->view(), options)->repr(200).size();
      (void)n;
      return true;
    }
    volatile uint64_t sum = touch_all(io::load_any_checkpoint(bytes));
    (void)sum;
    return true;
  } catch (const Error&) {
    return false;
  }
}

// A head config (--config / --model_config) or a saved model_config.json ({"clip", "xclip"}),
// then the tensors its sizes imply (the identity matrices of the X-CLIP head), as the model does.
bool run_config(const uint8_t* data, size_t size) {
  try {
    const nlohmann::json j =
        io::parse_json(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz config.json");
    models::HeadConfig head;
    if (j.is_object() && j.contains("clip") && j.contains("xclip")) {
      const models::ClipConfig clip = models::clip_config_from_json(j.at("clip"));
      head = models::HeadConfig::from_json(j.at("xclip"));
      (void)clip;
    } else {
      head = models::HeadConfig::from_json(j);
    }
    volatile uint64_t sum = touch(Tensor::eye(head.max_frames, DType::f32)) + touch(Tensor::eye(head.max_words, DType::f32));
    (void)sum;
    return true;
  } catch (const Error&) {
    return false;
  }
}

const std::vector<Target>& targets() {
  static const std::vector<Target> all = [] {
    std::vector<Target> t = {{"npy", run_npy}, {"safetensors", run_safetensors}, {"torch", run_torch},
                             {"config", run_config}};
#ifdef XCLIP_FUZZ_DATA
    t.push_back({"annotations", run_annotations});
    t.push_back({"video", run_video});
#endif
    return t;
  }();
  return all;
}

const Target* find_target(const std::string& name) {
  for (const Target& t : targets())
    if (name == t.name) return &t;
  return nullptr;
}

}  // namespace xclip::fuzz
