// Checkpoint loading speed against the plain read of the same bytes, per file (TorchScript .pt,
// torch.save zip, safetensors of one ViT-B/32; made by tools/reference/make_load_bench_checkpoints.py).
//
//   bench_checkpoint_load [--repeats 3] [FILE ...]     (default: /tmp/xclip_load_bench/ViT-B-32.*)
//
// Per file, cold (page cache dropped with fdatasync + posix_fadvise(DONTNEED) before each
// measurement; the resident fraction afterwards is printed, since the kernel may keep pages) and
// warm (best of --repeats after a first pass):
//   read         read() of the whole file into a pre-faulted buffer: the disk / page-cache speed
//   parse        load_any_checkpoint alone: tensors are views of the mapping, so this reads the
//                headers (and the pickle) only
//   parse+touch  parse, then a checksum over every tensor byte: every page faulted in, the honest
//                counterpart of `read`
//   to_f32       parse + Tensor::to(f32) of every tensor into new tensors: the conversion alone
//   lut_f32      the same into new f32 tensors with a typed loop over a 65536-entry f16 -> f32 table:
//                what the conversion costs when it is not per-element dtype dispatch
//   model        parse + Clip::load_state_dict (copies into the f32 parameters, fp16 widened)
// Single thread apart from what load_state_dict parallelises. Ratios are to `read` of the same run.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench_args.hpp"
#include "xclip/core/error.hpp"
#include "xclip/io/checkpoint.hpp"
#include "xclip/models/clip.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

struct Options {
  std::vector<std::string> files;
  int repeats = 3;
};

Options parse(int argc, char** argv) {
  Options o;
  xclip::bench::Args([](const std::string& why) { throw xclip::Error(why + " (use --repeats N, then files)"); })
      .value("--repeats", o.repeats)
      .positional(o.files)
      .parse(argc, argv);
  if (o.files.empty())
    for (const char* f : {"ViT-B-32.pt", "ViT-B-32.state_dict.pt", "ViT-B-32.safetensors"})
      o.files.push_back(std::string("/tmp/xclip_load_bench/") + f);
  if (o.repeats < 1) throw xclip::Error("--repeats must be positive");
  return o;
}

struct Fd {
  int fd;
  explicit Fd(const std::string& path) : fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (fd < 0) throw xclip::Error(path + ": cannot open: " + std::strerror(errno));
  }
  ~Fd() { ::close(fd); }
};

size_t file_size(const std::string& path) {
  Fd f(path);
  return size_t(::lseek(f.fd, 0, SEEK_END));
}

// Fraction of the file's pages in the page cache (mincore over a fresh mapping).
double resident_fraction(const std::string& path) {
  Fd f(path);
  const size_t size = file_size(path);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, f.fd, 0);
  if (map == MAP_FAILED) throw xclip::Error(path + ": mmap failed");
  const size_t page = size_t(::sysconf(_SC_PAGESIZE)), pages = (size + page - 1) / page;
  std::vector<unsigned char> in_core(pages);
  ::mincore(map, size, in_core.data());
  ::munmap(map, size);
  size_t resident = 0;
  for (unsigned char c : in_core) resident += c & 1;
  return double(resident) / double(pages);
}

// Dirty pages cannot be dropped, hence the fdatasync first. Returns the resident fraction after.
double drop_cache(const std::string& path) {
  Fd f(path);
  ::fdatasync(f.fd);
  ::posix_fadvise(f.fd, 0, 0, POSIX_FADV_DONTNEED);
  return resident_fraction(path);
}

double time_read(const std::string& path, std::vector<char>& buffer) {
  const auto start = Clock::now();
  Fd f(path);
  size_t done = 0;
  while (done < buffer.size()) {
    const ssize_t n = ::read(f.fd, buffer.data() + done, buffer.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw xclip::Error(path + ": read failed");
    done += size_t(n);
  }
  return seconds_since(start);
}

uint64_t checksum(const xclip::io::NamedTensors& tensors) {
  uint64_t sum = 0;
  for (const auto& [name, t] : tensors) {
    const auto* p = static_cast<const unsigned char*>(t.raw_data());
    const size_t n = t.nbytes(), words = n / 8;
    uint64_t s = 0;
    for (size_t i = 0; i < words; ++i) {
      uint64_t w;
      std::memcpy(&w, p + 8 * i, 8);
      s += w;
    }
    for (size_t i = words * 8; i < n; ++i) s += p[i];
    sum += s;
  }
  return sum;
}

struct Times {
  double read = 0, parse = 0, touch = 0, to_f32 = 0, lut_f32 = 0, model = 0;  // touch: parse + checksum
};

// The scalar TorchScript extras are no parameters of the model.
xclip::io::NamedTensors load_weights(const std::string& path) {
  xclip::io::NamedTensors w = xclip::io::load_any_checkpoint(path);
  for (const std::string& extra : xclip::io::openai_jit_extra_names()) w.erase(extra);
  return w;
}

// f16 bits -> f32 for every bit pattern, from the library's own conversion (so results agree).
const std::vector<float>& f16_table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (uint32_t b = 0; b < 65536; ++b) t[b] = xclip::f16_to_float(xclip::f16_t{uint16_t(b)});
    return t;
  }();
  return table;
}

xclip::Tensor widen_with_table(const xclip::Tensor& x) {
  if (x.dtype() != xclip::DType::f16) return x.to(xclip::DType::f32);
  xclip::Tensor out = xclip::Tensor::empty(x.shape(), xclip::DType::f32);
  const float* table = f16_table().data();
  const auto* in = static_cast<const uint16_t*>(x.raw_data());
  auto* o = static_cast<float*>(out.raw_data());
  for (int64_t i = 0, n = x.numel(); i < n; ++i) o[i] = table[in[i]];
  return out;
}

// One measurement of each kind; `cold` drops the cache before each. `sink` keeps the checksum.
Times measure(const std::string& path, std::vector<char>& buffer, xclip::models::Clip& model, bool cold,
              double& resident, uint64_t& sink) {
  Times t;
  auto prepare = [&] {
    if (cold) resident = std::max(resident, drop_cache(path));
  };
  prepare();
  t.read = time_read(path, buffer);
  prepare();
  auto start = Clock::now();
  {
    const xclip::io::NamedTensors w = load_weights(path);
    t.parse = seconds_since(start);
    sink += checksum(w);
    t.touch = seconds_since(start);
  }
  prepare();
  start = Clock::now();
  {
    const xclip::io::NamedTensors w = load_weights(path);
    for (const auto& [name, x] : w) sink += uint64_t(x.to(xclip::DType::f32).numel());
  }
  t.to_f32 = seconds_since(start);
  prepare();
  start = Clock::now();
  {
    const xclip::io::NamedTensors w = load_weights(path);
    for (const auto& [name, x] : w) sink += uint64_t(widen_with_table(x).numel());
  }
  t.lut_f32 = seconds_since(start);
  prepare();
  start = Clock::now();
  model.load_state_dict(load_weights(path).list());
  t.model = seconds_since(start);
  return t;
}

Times best_of(const std::vector<Times>& runs) {
  Times b = runs.front();
  for (const Times& r : runs) {
    b.read = std::min(b.read, r.read);
    b.parse = std::min(b.parse, r.parse);
    b.touch = std::min(b.touch, r.touch);
    b.to_f32 = std::min(b.to_f32, r.to_f32);
    b.lut_f32 = std::min(b.lut_f32, r.lut_f32);
    b.model = std::min(b.model, r.model);
  }
  return b;
}

void print_times(const char* label, const Times& t, size_t bytes) {
  const double gib = double(bytes) / double(1 << 30);
  std::printf("  %-5s read %6.3f s (%5.2f GiB/s) | parse %6.4f s | parse+touch %6.3f s (%5.2f GiB/s, x%.2f read) | "
              "to_f32 %6.3f s | lut_f32 %6.3f s | model %6.3f s (x%.2f read)\n",
              label, t.read, gib / t.read, t.parse, t.touch, gib / t.touch, t.touch / t.read, t.to_f32, t.lut_f32,
              t.model, t.model / t.read);
}

void bench_file(const std::string& path, int repeats, uint64_t& sink) {
  const size_t bytes = file_size(path);
  (void)f16_table();                   // built once, outside every timing
  std::vector<char> buffer(bytes, 1);  // pre-faulted: `read` times the I/O, not our page faults
  xclip::io::CheckpointInfo info;
  const auto first = xclip::io::load_any_checkpoint(path, &info);
  xclip::models::Clip model(xclip::models::infer_clip_config(first.list(), ""));
  std::printf("%s: %s, %zu bytes, %zu tensors (%zu tensor bytes)\n", path.c_str(),
              xclip::io::checkpoint_kind_name(info.kind), bytes, first.size(), first.total_bytes());

  double resident = 0;
  const Times cold = measure(path, buffer, model, true, resident, sink);
  print_times("cold", cold, bytes);
  std::printf("        (page cache dropped before each; at most %.0f%% of the pages stayed resident)\n", 100 * resident);
  double unused = 0;
  measure(path, buffer, model, false, unused, sink);  // first warm pass: everything cached
  std::vector<Times> warm;
  for (int r = 0; r < repeats; ++r) warm.push_back(measure(path, buffer, model, false, unused, sink));
  print_times("warm", best_of(warm), bytes);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options opt = parse(argc, argv);
    uint64_t sink = 0;
    for (const std::string& f : opt.files) bench_file(f, opt.repeats, sink);
    std::printf("(checksum %llu)\n", static_cast<unsigned long long>(sink));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_checkpoint_load: %s\n", e.what());
    return 1;
  }
}
