// Tokenizer throughput: captions/s over the 180 reference captions repeated N times, with the
// per-word BPE cache disabled (every word merged from scratch), cleared before each pass, and
// warm. Single thread. Also times vocabulary loading and the cleaning step alone.
//
//   bench_tokenizer [--bpe PATH] [--cases tokenizer_cases.json] [--repeats 1000]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench_args.hpp"
#include "xclip/core/error.hpp"
#include "xclip/io/json_file.hpp"
#include "xclip/text/clean.hpp"
#include "xclip/text/tokenizer.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Options {
  std::string bpe;
  std::string cases = "../shared/testdata/tokenizer_cases.json";
  int repeats = 1000;
};

Options parse(int argc, char** argv) {
  Options o;
  xclip::bench::Args([](const std::string& why) { throw xclip::Error(why + " (use --bpe, --cases, --repeats)"); })
      .value("--bpe", o.bpe).value("--cases", o.cases).value("--repeats", o.repeats)
      .parse(argc, argv);
  if (o.repeats < 1) throw xclip::Error("--repeats must be positive");
  return o;
}

std::vector<std::string> load_captions(const std::string& path) {
  std::vector<std::string> texts;
  // Errors read "--cases PATH: ...": they name the flag that chooses the file.
  const nlohmann::json doc = xclip::io::read_json_file(path, "--cases");  // kept alive: the loop reads it
  for (const auto& c : doc.at("cases")) texts.push_back(c.at("text").get<std::string>());
  return texts;
}

// Encodes every caption `repeats` times; returns captions per second. `before_pass` runs
// before each pass over the captions (untimed work is not excluded: it is cheap).
template <class F, class G>
double captions_per_second(const std::vector<std::string>& texts, int repeats, F&& encode, G&& before_pass,
                           std::size_t& checksum) {
  const auto start = Clock::now();
  for (int r = 0; r < repeats; ++r) {
    before_pass();
    for (const auto& t : texts) checksum += encode(t);
  }
  return static_cast<double>(texts.size()) * repeats / seconds_since(start);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options opt = parse(argc, argv);
    const std::vector<std::string> texts = load_captions(opt.cases);
    const auto load_start = Clock::now();
    const auto tok = xclip::text::ClipTokenizer::from_bpe_file(
        opt.bpe.empty() ? xclip::text::find_default_bpe_file(argv[0]) : std::filesystem::path(opt.bpe));
    const double load_s = seconds_since(load_start);

    std::size_t checksum = 0;
    auto encode = [&](const std::string& t) { return tok.encode(t).size(); };
    auto model_input = [&](const std::string& t) { return tok.encode_for_model(t, 32).input_ids.size(); };
    auto clean = [&](const std::string& t) { return xclip::text::clean_caption(t).size(); };
    auto nothing = [] {};
    auto clear = [&] { tok.clear_cache(); };

    tok.set_cache_enabled(false);
    const double no_cache = captions_per_second(texts, opt.repeats, encode, nothing, checksum);
    tok.set_cache_enabled(true);
    const double cleared_each_pass = captions_per_second(texts, opt.repeats, encode, clear, checksum);
    const double warm = captions_per_second(texts, opt.repeats, encode, nothing, checksum);
    const double warm_model = captions_per_second(texts, opt.repeats, model_input, nothing, checksum);
    const double clean_only = captions_per_second(texts, opt.repeats, clean, nothing, checksum);

    std::printf("captions: %zu x %d = %zu (single thread)\n", texts.size(), opt.repeats,
                texts.size() * static_cast<std::size_t>(opt.repeats));
    std::printf("vocabulary load:                        %8.3f s\n", load_s);
    std::printf("encode, cache disabled (cold):          %10.0f captions/s\n", no_cache);
    std::printf("encode, cache cleared before each pass: %10.0f captions/s\n", cleared_each_pass);
    std::printf("encode, warm cache:                     %10.0f captions/s\n", warm);
    std::printf("encode_for_model(32), warm cache:       %10.0f captions/s\n", warm_model);
    std::printf("cleaning only (ftfy+html+lower):        %10.0f captions/s\n", clean_only);
    std::printf("(checksum %zu)\n", checksum);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_tokenizer: %s\n", e.what());
    return 1;
  }
}
