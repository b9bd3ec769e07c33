#include "pairs.hpp"

#include <fstream>
#include <sstream>

#include "xclip/core/error.hpp"

namespace xclip::cli {

PairAccuracy pair_accuracy(const Tensor& sim, const std::string& path) {
  XCLIP_CHECK(sim.ndim() == 2 && sim.dtype() == DType::f64, "pairs: expected a 2-d f64 similarity, got ",
              sim.shape().str());
  std::ifstream in(path);
  XCLIP_CHECK(in.good(), path, ": cannot read");
  const int64_t T = sim.dim(0), V = sim.dim(1);
  const double* s = sim.data<double>();
  PairAccuracy acc;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    std::istringstream fields(line);
    int64_t t = -1, a = -1, b = -1;
    char c1 = 0, c2 = 0;
    const bool parsed = bool(fields >> t >> c1 >> a >> c2 >> b) && c1 == ',' && c2 == ',' && (fields >> std::ws).eof();
    if (!parsed && n == 1) continue;  // a header
    XCLIP_CHECK(parsed, path, ":", n, ": expected `text,video,other` (0-based indices), got \"", line, "\"");
    XCLIP_CHECK(t >= 0 && t < T && a >= 0 && a < V && b >= 0 && b < V, path, ":", n, ": index out of range for a ",
                T, " x ", V, " similarity: \"", line, "\"");
    acc.correct += s[t * V + a] > s[t * V + b];
    ++acc.count;
  }
  XCLIP_CHECK(acc.count > 0, path, ": no pairs");
  return acc;
}

}  // namespace xclip::cli
