// The X-CLIP similarity head against a scalar-loop implementation of xclip-spec.md §5.6 written
// independently here (no ops), for every switch; masking semantics; chunked = unchunked.
#include <algorithm>
#include <cmath>
#include <limits>

#include <catch2/catch.hpp>

#include "xclip/models/heads/xclip_head.hpp"
#include "xclip/ops.hpp"

using namespace xclip;
using namespace xclip::models;

namespace {

constexpr int64_t T = 3, V = 4, L = 5, N = 3, D = 6;

Tensor rnd(const Shape& s, uint64_t seed, double sd = 1.0) {
  Generator g(seed);
  return Tensor::randn(s, g, DType::f64, 0.0, sd);
}

// I + 0.1·noise so that a transposed or misplaced matrix changes the result.
AosmMatrices perturbed_matrices(uint64_t seed) {
  AosmMatrices m = AosmMatrices::identity(D, L, N, DType::f64);
  uint64_t s = seed;
  for (Tensor* t : m.all()) *t = ops::add(*t, rnd(t->shape(), ++s, 0.1));
  return m;
}

struct Sides {
  TextSide text;
  VideoSide video;
};

Sides random_sides(uint64_t seed) {
  Tensor wmask = Tensor::from_vector<int64_t>({1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0}, Shape{T, L});
  Tensor fmask = Tensor::from_vector<double>({1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 1}, Shape{V, N});
  Tensor s = rnd(Shape{T, D}, seed), w = rnd(Shape{T, L, D}, seed + 1), f = rnd(Shape{V, N, D}, seed + 2);
  Tensor tmp = rnd(Shape{V, N, D}, seed + 3);
  HeadConfig c;
  return {make_text_side({s, w, wmask}), make_video_side(c, f, tmp, fmask)};
}

// ---- the scalar reference ---------------------------------------------------------------------
using Vec = std::vector<double>;
struct Mat {
  const double* p = nullptr;
  int64_t n = 0;
  double at(int64_t i, int64_t j) const { return p ? p[i * n + j] : (i == j ? 1.0 : 0.0); }
};

double pool(const Vec& x, const Vec& m, Pool kind, double tau, Mat mix, bool masked) {
  const size_t n = x.size();
  auto valid = [&](size_t i) { return !masked || m[i] > 0.5; };
  if (kind == Pool::max) {
    double best = -std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < n; ++i)
      if (valid(i)) best = std::max(best, x[i]);
    return best;
  }
  if (kind == Pool::mean) {
    double s = 0, c = 0;
    for (size_t i = 0; i < n; ++i)
      if (valid(i)) s += x[i], c += 1;
    return s / std::max(c, 1.0);
  }
  double mx = -std::numeric_limits<double>::infinity(), z = 0;
  for (size_t i = 0; i < n; ++i)
    if (valid(i)) mx = std::max(mx, x[i] / tau);
  Vec w(n, 0.0);
  for (size_t i = 0; i < n; ++i)
    if (valid(i)) z += (w[i] = std::exp(x[i] / tau - mx));
  double out = 0;
  for (size_t j = 0; j < n; ++j) {
    if (!valid(j)) continue;
    double wj = 0;
    for (size_t i = 0; i < n; ++i) wj += w[i] / z * mix.at(int64_t(i), int64_t(j));
    out += x[j] * wj;
  }
  return out;
}

Vec values(const Tensor& t) { return t.to_vector<double>(); }

// logits[t][v] by loops over xclip-spec.md §5.6.
Vec reference_logits(const HeadConfig& c, const AosmMatrices& a, double lambda, const Sides& sd) {
  const Vec s = values(sd.text.sentence), w = values(sd.text.words), u = values(sd.video.video),
            f = values(sd.video.frames), wm = values(sd.text.mask.to(DType::f64)),
            fm = values(sd.video.mask.to(DType::f64));
  const bool on = c.learnable_aosm;
  auto mat = [&](const Tensor& t, int64_t n) { return on ? Mat{t.data<double>(), n} : Mat{nullptr, n}; };
  const Mat G = mat(a.global_mat_weight, D), Awl = mat(a.word_logit_weight, L), Afl = mat(a.frame_logit_weight, N),
            Lm = mat(a.local_mat_weight, D), Afm = mat(a.frame_mat_weight, N), Awm = mat(a.word_mat_weight, L),
            Afm2 = mat(a.frame_mat_weight2, N), Awm2 = mat(a.word_mat_weight2, L);
  auto bilinear = [&](const double* x, Mat M, const double* y) {
    double r = 0;
    for (int64_t i = 0; i < D; ++i)
      for (int64_t j = 0; j < D; ++j) r += x[i] * M.at(i, j) * y[j];
    return r;
  };
  const Mat I{nullptr, D};
  const double tau = c.temperature;
  const Pool p1 = c.aggregation.first, p2 = c.aggregation.second;
  const bool mk = c.mask_padding;
  Vec out(static_cast<size_t>(T * V));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t v = 0; v < V; ++v) {
      const double* st = &s[size_t(t * D)];
      const double* uv = &u[size_t(v * D)];
      const Vec wmt(wm.begin() + t * L, wm.begin() + (t + 1) * L), fmv(fm.begin() + v * N, fm.begin() + (v + 1) * N);
      Vec terms;
      if (c.contrasts.video_sentence) terms.push_back(bilinear(st, G, uv));
      if (c.contrasts.video_word) {
        Vec a_(static_cast<size_t>(L));
        for (int64_t i = 0; i < L; ++i) a_[size_t(i)] = bilinear(&w[size_t((t * L + i) * D)], I, uv);
        terms.push_back(pool(a_, wmt, p2, tau, Awl, mk));
      }
      if (c.contrasts.sentence_frame) {
        Vec b(static_cast<size_t>(N));
        for (int64_t n = 0; n < N; ++n) b[size_t(n)] = bilinear(st, I, &f[size_t((v * N + n) * D)]);
        terms.push_back(pool(b, fmv, p2, tau, Afl, mk));
      }
      if (c.contrasts.frame_word) {
        std::vector<Vec> cm(static_cast<size_t>(L), Vec(static_cast<size_t>(N)));
        for (int64_t i = 0; i < L; ++i)
          for (int64_t n = 0; n < N; ++n)
            cm[size_t(i)][size_t(n)] = bilinear(&w[size_t((t * L + i) * D)], Lm, &f[size_t((v * N + n) * D)]);
        Vec wl(static_cast<size_t>(N)), fl(static_cast<size_t>(L));
        for (int64_t n = 0; n < N; ++n) {
          Vec col(static_cast<size_t>(L));
          for (int64_t i = 0; i < L; ++i) col[size_t(i)] = cm[size_t(i)][size_t(n)];
          wl[size_t(n)] = pool(col, wmt, p1, tau, Awm, mk);
        }
        for (int64_t i = 0; i < L; ++i) fl[size_t(i)] = pool(cm[size_t(i)], fmv, p1, tau, Afm, mk);
        terms.push_back((pool(wl, fmv, p2, tau, Afm2, mk) + pool(fl, wmt, p2, tau, Awm2, mk)) / 2);
      }
      double sum = 0;
      for (double x : terms) sum += lambda * x;
      out[size_t(t * V + v)] = sum / double(terms.size());
    }
  return out;
}

void check_close(const Vec& got, const Vec& want, double tol) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]) / (1 + std::abs(want[i])));
  INFO("worst error " << worst);
  CHECK(worst < tol);
}

std::vector<std::pair<std::string, HeadConfig>> switch_configs() {
  std::vector<std::pair<std::string, HeadConfig>> out;
  auto base = [] {
    HeadConfig c;
    c.max_words = L;
    c.max_frames = N;
    return c;
  };
  out.emplace_back("official", base());
  for (const char* agg : {"mean-mean", "max-max", "mean-max", "max-mean"}) {
    HeadConfig c = base();
    c.aggregation = Aggregation::parse(agg);
    out.emplace_back(agg, c);
  }
  const Contrasts single[] = {{true, false, false, false}, {false, true, false, false}, {false, false, true, false},
                              {false, false, false, true}, {true, false, true, true}};
  for (const Contrasts& cs : single) {
    HeadConfig c = base();
    c.contrasts = cs;
    out.emplace_back("contrasts " + std::to_string(cs.count()) + (cs.video_sentence ? "+vs" : ""), c);
  }
  {
    HeadConfig c = base();
    c.mask_padding = true;
    out.emplace_back("mask_padding", c);
    c.aggregation = Aggregation::parse("max-mean");
    out.emplace_back("mask_padding max-mean", c);
    c.aggregation = Aggregation::parse("mean-max");
    out.emplace_back("mask_padding mean-max", c);
  }
  {
    HeadConfig c = base();
    c.learnable_aosm = false;
    out.emplace_back("learnable_aosm off", c);
    c.mask_padding = true;
    out.emplace_back("paper equations (no matrices, masked)", c);
  }
  {
    HeadConfig c = base();
    c.temperature = 1.0;
    out.emplace_back("tau 1", c);
    c.temperature = 0.1;
    out.emplace_back("tau 0.1", c);
  }
  return out;
}

}  // namespace

TEST_CASE("similarity head matches the loop reference of the spec for every switch", "[models][similarity]") {
  const Sides sd = random_sides(11);
  const AosmMatrices mats = perturbed_matrices(100);
  const double log_scale = 2.5;
  for (const auto& [name, cfg] : switch_configs()) {
    DYNAMIC_SECTION(name) {
      AosmMatrices m = cfg.learnable_aosm ? mats : AosmMatrices{};
      SimilarityTerms terms = similarity_terms(cfg, m, Tensor::scalar<double>(log_scale), sd.text, sd.video);
      REQUIRE(terms.logits.shape() == Shape({T, V}));
      check_close(values(terms.logits), reference_logits(cfg, m, std::exp(log_scale), sd), 1e-12);
    }
  }
}

TEST_CASE("official head: padded words and frames change the logits, mask_padding removes them",
          "[models][similarity][masking]") {
  const Sides sd = random_sides(21);
  HeadConfig c;
  c.max_words = L;
  c.max_frames = N;
  const AosmMatrices m = perturbed_matrices(7);
  auto logits = [&](const HeadConfig& cfg, const Sides& s) {
    return values(similarity_terms(cfg, m, Tensor::scalar<double>(std::log(100.0)), s.text, s.video).logits);
  };
  // Replace word 4 of text 0 (padding) and frame 2 of video 1 (padding) with other unit vectors.
  Sides changed = sd;
  changed.text.words = sd.text.words.clone();
  changed.video.frames = sd.video.frames.clone();
  Tensor nw = ops::l2_normalize(rnd(Shape{D}, 99), -1), nf = ops::l2_normalize(rnd(Shape{D}, 98), -1);
  std::copy_n(nw.data<double>(), D, changed.text.words.data<double>() + (0 * L + 4) * D);
  std::copy_n(nf.data<double>(), D, changed.video.frames.data<double>() + (1 * N + 2) * D);
  const Vec a = logits(c, sd), b = logits(c, changed);
  CHECK(a != b);  // the original code sees padding
  c.mask_padding = true;
  const Vec am = logits(c, sd), bm = logits(c, changed);
  for (size_t i = 0; i < am.size(); ++i) CHECK(am[i] == Approx(bm[i]).epsilon(1e-12));
}

TEST_CASE("mean-mean and max-max are the plain mean / max of the frame-word matrix", "[models][similarity]") {
  const Sides sd = random_sides(31);
  HeadConfig c;
  c.max_words = L;
  c.max_frames = N;
  c.learnable_aosm = false;
  c.contrasts = Contrasts{false, false, false, true};
  Tensor sims = ops::reshape(ops::matmul(ops::reshape(sd.text.words, Shape{T * L, D}),
                                         ops::reshape(sd.video.frames, Shape{V * N, D}), false, true),
                             Shape{T, L, V, N});
  Tensor perm = ops::reshape(ops::permute(sims, {0, 2, 1, 3}), Shape{T, V, L * N});
  c.aggregation = Aggregation::parse("mean-mean");
  check_close(values(frame_word_similarity(c, {}, sd.text, sd.video)), values(ops::mean(perm, 2)), 1e-12);
  c.aggregation = Aggregation::parse("max-max");
  check_close(values(frame_word_similarity(c, {}, sd.text, sd.video)), values(ops::max(perm, 2)), 1e-12);
}

TEST_CASE("chunked frame-word term equals the one-block term, values and gradients", "[models][similarity][chunks]") {
  for (bool masked : {false, true}) {
    DYNAMIC_SECTION("mask_padding " << masked) {
      Sides sd = random_sides(41);
      sd.text.words = sd.text.words.detach().set_requires_grad(true);
      sd.video.frames = sd.video.frames.detach().set_requires_grad(true);
      AosmMatrices m = perturbed_matrices(3);
      for (Tensor* t : m.all()) t->set_requires_grad(true);
      HeadConfig c;
      c.max_words = L;
      c.max_frames = N;
      c.mask_padding = masked;
      auto run = [&](int64_t chunk) {
        c.frame_word_chunk_elements = chunk;
        Tensor out = frame_word_similarity(c, m, sd.text, sd.video);
        Tensor weights = rnd(out.shape(), 5);
        ops::sum_all(ops::mul(out, weights)).backward();
        std::vector<Vec> r{values(out), values(sd.text.words.grad()), values(sd.video.frames.grad())};
        // The frame-word term reads local_mat_weight and the four *_mat_weight(2) matrices.
        for (Tensor* t : {&m.local_mat_weight, &m.frame_mat_weight, &m.word_mat_weight, &m.frame_mat_weight2,
                          &m.word_mat_weight2})
          r.push_back(values(t->grad()));
        sd.text.words.zero_grad();
        sd.video.frames.zero_grad();
        for (Tensor* t : m.all()) t->zero_grad();
        return r;
      };
      const auto whole = run(int64_t(1) << 30);
      const auto chunked = run(L * V * N);  // one text per chunk: 3 chunks
      REQUIRE(whole.size() == chunked.size());
      for (size_t i = 0; i < whole.size(); ++i) check_close(chunked[i], whole[i], 1e-12);
    }
  }
}

TEST_CASE("symmetric CrossEn is the mean of both directions' diagonal cross-entropies", "[models][loss]") {
  Tensor logits = rnd(Shape{3, 3}, 8);
  const Vec x = values(logits);
  double total = 0;
  for (int dir = 0; dir < 2; ++dir)
    for (int r = 0; r < 3; ++r) {
      auto at = [&](int i, int j) { return dir == 0 ? x[size_t(i * 3 + j)] : x[size_t(j * 3 + i)]; };
      double z = 0;
      for (int j = 0; j < 3; ++j) z += std::exp(at(r, j));
      total += -(at(r, r) - std::log(z)) / 3.0;
    }
  CHECK(symmetric_cross_entropy(logits).item<double>() == Approx(total / 2).epsilon(1e-12));
  CHECK_THROWS_AS(symmetric_cross_entropy(rnd(Shape{2, 3}, 1)), Error);
}
