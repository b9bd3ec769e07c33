// A plain fuzzing driver for compilers without libFuzzer (GCC): the same command line as a
// libFuzzer binary for what `make fuzz` uses. It replays every corpus file, then mutates corpus
// entries at random until -max_total_time seconds or -runs inputs have passed:
//   fuzz_npy [-max_total_time=S] [-runs=N] [-seed=N] [-timeout=S] [-artifact_prefix=P] [-keep_going=1]
//            CORPUS...
// A crash (an ASan/UBSan report, a signal, an escaping exception) writes the input to
// P + "crash-<n>"; an input that runs longer than -timeout seconds is written to P + "timeout-<n>".
// With -keep_going=1 an exception other than xclip::Error is counted (and its first 5 inputs
// written to P + "escaped-<n>") instead of stopping the run: for measuring a reader whose fix waits.
// At the end it prints one line: inputs, accepted, clean errors, escaped exceptions.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "../targets/fuzz_targets.hpp"
#include "xclip/core/error.hpp"

extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

namespace {

using Bytes = std::vector<uint8_t>;
namespace fs = std::filesystem;

// The input being run, for the crash and timeout handlers (which may only call write/_exit).
const Bytes* g_current = nullptr;
std::string g_crash_path, g_timeout_path;

void save_current(const std::string& path) {
  if (!g_current) return;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  ssize_t ignored = ::write(fd, g_current->data(), g_current->size());
  (void)ignored;
  ::close(fd);
  const char msg[] = "\nfuzz driver: the input was written to ";
  ignored = ::write(2, msg, sizeof msg - 1);
  ignored = ::write(2, path.c_str(), path.size());
  ignored = ::write(2, "\n", 1);
}

void on_death() { save_current(g_crash_path); }
void on_signal(int sig) {
  save_current(sig == SIGALRM ? g_timeout_path : g_crash_path);
  ::_exit(sig == SIGALRM ? 70 : 71);
}
void on_terminate() {  // an exception other than xclip::Error escaped the reader
  save_current(g_crash_path);
  std::fputs("fuzz driver: an exception other than xclip::Error escaped the reader\n", stderr);
  std::abort();
}

Bytes read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Damage in the ways that found the bugs of issue 18: truncation, bit flips, bytes inserted and
// removed, 32-bit fields set huge, ASCII numbers made huge, runs of '[' and '(' (nesting), a span
// repeated (long strings), and a splice with another corpus file.
class Mutator {
 public:
  explicit Mutator(uint64_t seed) : rng_(seed) {}
  Bytes mutate(Bytes b, const std::vector<Bytes>& corpus) {
    for (size_t n = 1 + pick(3); n-- > 0;) once(b, corpus);
    return b;
  }

 private:
  void once(Bytes& b, const std::vector<Bytes>& corpus) {
    if (b.empty()) {
      b.push_back(uint8_t(pick(256)));
      return;
    }
    switch (pick(9)) {
      case 0: b.resize(pick(b.size())); break;
      case 1:
        for (size_t n = 1 + pick(8); n-- > 0;) b[pick(b.size())] ^= uint8_t(1u << pick(8));
        break;
      case 2: {
        static const uint8_t values[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, '(', ')', '.', '[', ']', '{', '}', '"', '\'', ','};
        b[pick(b.size())] = values[pick(sizeof values)];
        break;
      }
      case 3: {
        const size_t p = pick(b.size());
        if (pick(2)) b.insert(b.begin() + std::ptrdiff_t(p), uint8_t(pick(256)));
        else b.erase(b.begin() + std::ptrdiff_t(p));
        break;
      }
      case 4: {
        const size_t p = pick(b.size());
        const uint32_t v = pick(2) ? 0xffffffffu : uint32_t(rng_());
        for (size_t i = 0; i < 4 && p + i < b.size(); ++i) b[p + i] = uint8_t(v >> (8 * i));
        break;
      }
      case 5: {  // an ASCII number replaced by a huge or odd one
        static const char* const numbers[] = {"4294967296", "18446744073709551615", "-1", "1e300", "2.5", "0",
                                              "9223372036854775807", "3037000500"};
        const char* n = numbers[pick(std::size(numbers))];
        size_t p = pick(b.size());
        while (p < b.size() && !(b[p] >= '0' && b[p] <= '9')) ++p;
        size_t e = p;
        while (e < b.size() && b[e] >= '0' && b[e] <= '9') ++e;
        b.erase(b.begin() + std::ptrdiff_t(p), b.begin() + std::ptrdiff_t(e));
        b.insert(b.begin() + std::ptrdiff_t(p), n, n + std::strlen(n));
        break;
      }
      case 6: {  // nesting
        const uint8_t c = "[({"[pick(3)];
        b.insert(b.begin() + std::ptrdiff_t(pick(b.size())), 1 + pick(5000), c);
        break;
      }
      case 7: {  // a span repeated
        const size_t p = pick(b.size()), len = 1 + pick(std::min<size_t>(16, b.size() - p));
        const Bytes span(b.begin() + std::ptrdiff_t(p), b.begin() + std::ptrdiff_t(p + len));
        for (size_t n = pick(2000); n-- > 0;) b.insert(b.begin() + std::ptrdiff_t(p), span.begin(), span.end());
        break;
      }
      default: {  // splice: our head, another file's tail
        const Bytes& other = corpus[pick(corpus.size())];
        if (other.empty()) break;
        b.resize(pick(b.size()));
        const size_t from = pick(other.size());
        b.insert(b.end(), other.begin() + std::ptrdiff_t(from), other.end());
      }
    }
    if (b.size() > (4u << 20)) b.resize(4u << 20);
  }
  size_t pick(size_t n) { return n == 0 ? 0 : size_t(rng_() % n); }
  std::mt19937_64 rng_;
};

struct Args {
  double max_total_time = 0;
  long long runs = -1;
  uint64_t seed = 1;
  int timeout = 20;
  bool keep_going = false;
  std::string artifact_prefix;
  std::vector<fs::path> inputs;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    auto value = [&](const char* flag) -> const char* {
      const size_t n = std::strlen(flag);
      return s.compare(0, n, flag) == 0 ? s.c_str() + n : nullptr;
    };
    if (const char* v = value("-max_total_time=")) a.max_total_time = std::atof(v);
    else if (const char* v = value("-runs=")) a.runs = std::atoll(v);
    else if (const char* v = value("-seed=")) a.seed = std::strtoull(v, nullptr, 10);
    else if (const char* v = value("-timeout=")) a.timeout = std::atoi(v);
    else if (const char* v = value("-artifact_prefix=")) a.artifact_prefix = v;
    else if (const char* v = value("-keep_going=")) a.keep_going = std::atoi(v) != 0;
    else if (s.size() > 1 && s[0] == '-') std::fprintf(stderr, "fuzz driver: ignoring %s\n", s.c_str());
    else a.inputs.emplace_back(s);
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  std::vector<Bytes> corpus;
  for (const fs::path& p : args.inputs) {
    if (fs::is_directory(p)) {
      for (const auto& e : fs::recursive_directory_iterator(p))
        if (e.is_regular_file()) corpus.push_back(read_file(e.path()));
    } else if (fs::exists(p)) {
      corpus.push_back(read_file(p));
    }
  }
  if (corpus.empty()) corpus.push_back({});
  g_crash_path = args.artifact_prefix + "crash-" + std::to_string(::getpid());
  g_timeout_path = args.artifact_prefix + "timeout-" + std::to_string(::getpid());
  if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(on_death);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGALRM}) ::signal(sig, on_signal);
  std::set_terminate(on_terminate);

  // The target by name (set per executable by CMake) so that accepted and refused inputs are counted.
  const xclip::fuzz::Target* target = xclip::fuzz::find_target(XCLIP_FUZZ_TARGET);
  if (!target) {
    std::fprintf(stderr, "fuzz driver: no target '%s' in this build\n", XCLIP_FUZZ_TARGET);
    return 2;
  }
  long long inputs = 0, accepted = 0, escaped = 0;
  const auto start = std::chrono::steady_clock::now();
  auto run_one = [&](const Bytes& b) {
    g_current = &b;
    ::alarm(unsigned(args.timeout));
    if (!args.keep_going) {
      if (target->run(b.data(), b.size())) ++accepted;
    } else {
      try {
        if (target->run(b.data(), b.size())) ++accepted;
      } catch (const xclip::Error&) {
        throw;
      } catch (const std::exception& e) {
        if (escaped++ < 5) {
          std::fprintf(stderr, "fuzz driver: escaped exception: %.300s\n", e.what());
          save_current(args.artifact_prefix + "escaped-" + std::to_string(escaped));
        }
      }
    }
    ::alarm(0);
    ++inputs;
  };
  for (const Bytes& b : corpus) run_one(b);  // the corpus (and regressions) first, unmutated
  const long long replayed = inputs;
  Mutator m(args.seed);
  std::mt19937_64 choose(args.seed + 1);
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  while ((args.runs < 0 || inputs - replayed < args.runs) && (args.runs >= 0 || elapsed() < args.max_total_time)) {
    const Bytes b = m.mutate(corpus[choose() % corpus.size()], corpus);
    run_one(b);
  }
  g_current = nullptr;
  std::printf("fuzz %s: %lld inputs (%lld corpus files, %lld mutants) in %.0f s: %lld accepted, %lld clean errors, "
              "%lld escaped exceptions, 0 crashes, 0 hangs\n", target->name, inputs, replayed, inputs - replayed,
              elapsed(), accepted, inputs - accepted - escaped, escaped);
  return 0;
}
