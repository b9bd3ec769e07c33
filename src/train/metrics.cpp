#include "xclip/train/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include <nlohmann/json.hpp>

namespace xclip::train {

namespace {
std::vector<double> as_doubles(const Tensor& t) {
  XCLIP_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::f64, "metrics: similarity must be f32 or f64, got ",
              t.str());
  return t.to_vector<double>();
}

RetrievalMetrics summarise(std::vector<double> ranks, bool numpy_median, bool with_std) {
  RetrievalMetrics m;
  m.count = int64_t(ranks.size());
  if (ranks.empty()) return m;
  const double n = double(ranks.size());
  double below1 = 0, below5 = 0, below10 = 0, sum = 0;
  for (double r : ranks) {
    below1 += r < 1;
    below5 += r < 5;
    below10 += r < 10;
    sum += r;
  }
  m.r1 = 100.0 * below1 / n;
  m.r5 = 100.0 * below5 / n;
  m.r10 = 100.0 * below10 / n;
  m.mean_rank = sum / n + 1;
  std::sort(ranks.begin(), ranks.end());
  const size_t k = ranks.size();
  if (numpy_median)
    m.median_rank = (k % 2 ? ranks[k / 2] : 0.5 * (ranks[k / 2 - 1] + ranks[k / 2])) + 1;
  else
    m.median_rank = ranks[(k - 1) / 2] + 1;  // torch.median: the lower of the two middle values
  if (with_std) {
    const double mean = sum / n;
    double var = 0;
    for (double r : ranks) var += (r - mean) * (r - mean);
    m.std_rank = std::sqrt(var / n);  // np.std: population standard deviation
  }
  return m;
}
}  // namespace

RetrievalMetrics compute_metrics(const Tensor& sim) {
  XCLIP_CHECK(sim.ndim() == 2 && sim.dim(0) <= sim.dim(1), "compute_metrics: expected [queries, candidates] with "
              "the ground truth on the diagonal, got ", sim.str());
  const int64_t Q = sim.dim(0), C = sim.dim(1);
  std::vector<double> x = as_doubles(sim);
  std::vector<double> ranks;
  for (int64_t q = 0; q < Q; ++q) {
    const double* row = x.data() + q * C;
    const double d = row[q];
    if (std::isnan(d)) continue;  // NaN never equals itself: np.where finds nothing
    int64_t greater = 0, equal = 0;
    for (int64_t c = 0; c < C; ++c) {
      if (row[c] > d) ++greater;       // NaN compares false: sorted last, after every number
      else if (row[c] == d) ++equal;
    }
    for (int64_t e = 0; e < equal; ++e) ranks.push_back(double(greater + e));
  }
  return summarise(ranks, true, false);
}

RetrievalMetrics text_to_video_multi(const Tensor& sim3) {
  XCLIP_CHECK(sim3.ndim() == 3 && sim3.dim(0) == sim3.dim(2), "text_to_video_multi: expected [G, L, G], got ",
              sim3.str());
  const int64_t G = sim3.dim(0), L = sim3.dim(1), V = sim3.dim(2);
  std::vector<double> x = as_doubles(sim3);
  std::vector<double> ranks;
  for (int64_t l = 0; l < L; ++l)
    for (int64_t g = 0; g < G; ++g) {
      const double* row = x.data() + (g * L + l) * V;
      const double own = row[g];
      if (!std::isfinite(own)) continue;  // padding row (or a broken score)
      int64_t greater = 0;
      for (int64_t v = 0; v < V; ++v) greater += row[v] > own;
      ranks.push_back(double(greater));
    }
  return summarise(ranks, false, true);
}

RetrievalMetrics video_to_text_multi(const Tensor& sim3) {
  XCLIP_CHECK(sim3.ndim() == 3 && sim3.dim(0) == sim3.dim(2), "video_to_text_multi: expected [G, L, G], got ",
              sim3.str());
  const int64_t G = sim3.dim(0), L = sim3.dim(1), V = sim3.dim(2);
  std::vector<double> x = as_doubles(sim3);
  std::vector<double> vt(size_t(V * G), -std::numeric_limits<double>::infinity());
  for (int64_t g = 0; g < G; ++g)
    for (int64_t l = 0; l < L; ++l)
      for (int64_t v = 0; v < V; ++v) {
        double s = x[size_t((g * L + l) * V + v)];
        if (std::isnan(s)) s = -std::numeric_limits<double>::infinity();
        double& best = vt[size_t(v * G + g)];
        best = std::max(best, s);
      }
  return compute_metrics(Tensor::from_vector<double>(vt, Shape{V, G}));
}

Tensor group_by_video(const Tensor& sim, const std::vector<int64_t>& caption_video) {
  XCLIP_CHECK(sim.ndim() == 2 && int64_t(caption_video.size()) == sim.dim(0), "group_by_video: ",
              caption_video.size(), " caption ids for similarity ", sim.str());
  const int64_t V = sim.dim(1);
  std::vector<int64_t> count(size_t(V), 0);
  for (int64_t v : caption_video) {
    XCLIP_CHECK(v >= 0 && v < V, "group_by_video: video index ", v, " out of range for ", V, " videos");
    ++count[size_t(v)];
  }
  const int64_t Lmax = *std::max_element(count.begin(), count.end());
  std::vector<double> x = as_doubles(sim);
  std::vector<double> out(size_t(V * Lmax * V), -std::numeric_limits<double>::infinity());
  std::vector<int64_t> used(size_t(V), 0);
  for (size_t i = 0; i < caption_video.size(); ++i) {
    const int64_t g = caption_video[i], l = used[size_t(g)]++;
    std::copy_n(x.begin() + int64_t(i) * V, V, out.begin() + (g * Lmax + l) * V);
  }
  return Tensor::from_vector<double>(out, Shape{V, Lmax, V});
}

std::string format_metrics_row(const std::string& direction, const RetrievalMetrics& m) {
  char buf[256];
  std::snprintf(buf, sizeof(buf), "%-14s R@1 %6.2f  R@5 %6.2f  R@10 %6.2f  MdR %6.1f  MnR %8.2f  (n=%lld)",
                direction.c_str(), m.r1, m.r5, m.r10, m.median_rank, m.mean_rank, (long long)m.count);
  return buf;
}

std::string metrics_json(const RetrievalMetrics& m) {
  nlohmann::json j = {{"R1", m.r1}, {"R5", m.r5}, {"R10", m.r10}, {"MR", m.median_rank}, {"MeanR", m.mean_rank},
                      {"count", m.count}};
  if (m.std_rank >= 0) j["Std_Rank"] = m.std_rank;
  return j.dump();
}

}  // namespace xclip::train
