// xclip-cli search: text queries against a search index (xclip-cli index) with the model's full
// similarity (X-CLIP: the four contrasts with AOSM, as `eval` computes them), ranked.
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "args.hpp"
#include "command.hpp"
#include "search_model.hpp"
#include "xclip/autograd.hpp"
#include "xclip/core/error.hpp"
#include "xclip/io/file_bytes.hpp"
#include "xclip/search/html.hpp"
#include "xclip/search/index.hpp"
#include "xclip/search/score.hpp"
#include "xclip/text/tokenizer.hpp"

namespace xclip::cli {
namespace {
namespace fs = std::filesystem;

constexpr const char* kUsage =
    "usage: xclip-cli search --index INDEX [--top K] [--json] [--html FILE] QUERY... | -\n"
    "Ranks the indexed videos for each QUERY (`-`: one query per line of stdin) with the model the index\n"
    "was made with: X-CLIP's four contrasts with AOSM, exactly as `eval` scores them.\n"
    "  --top K       results per query (default 10; 0 = every video)\n"
    "  --json        print JSON instead of the table: per result rank, id, path, score and the four terms\n"
    "  --html FILE   also write one self-contained page: thumbnails, scores, and for the top --explain\n"
    "                results the word x frame heat map with the AOSM weights\n"
    "  --explain N   results per query explained on the page (default 3)\n"
    "  --bpe FILE    the CLIP vocabulary (default: found beside the binary or in the source tree)\n"
    "  --threads N   OpenMP threads\n"
    "  --block N     videos scored together (default 16384)\n"
    "  --shortlist K faster, approximate: the full similarity only on each query's K best videos by the\n"
    "                video-sentence term (results: at most K; default 0 = every video)\n";

std::vector<std::string> read_queries(const std::vector<std::string>& positional) {
  std::vector<std::string> q;
  for (const std::string& p : positional) {
    if (p != "-") {
      q.push_back(p);
      continue;
    }
    for (std::string line; std::getline(std::cin, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty()) q.push_back(line);
    }
  }
  return q;
}

struct EncodedQueries {
  Tensor ids, mask;                               // i64 [Q, L]
  std::vector<std::vector<std::string>> tokens;   // each query's real tokens
};

EncodedQueries encode_queries(const text::ClipTokenizer& tok, const std::vector<std::string>& queries, int64_t L) {
  EncodedQueries e;
  std::vector<int64_t> ids, mask;
  for (const std::string& q : queries) {
    const text::ModelText t = tok.encode_for_model(q, L);
    ids.insert(ids.end(), t.input_ids.begin(), t.input_ids.end());
    mask.insert(mask.end(), t.input_mask.begin(), t.input_mask.end());
    std::vector<std::string> words;
    for (size_t i = 0; i < t.input_ids.size() && t.input_mask[i]; ++i) {
      const int32_t id = int32_t(t.input_ids[i]);
      words.push_back(id == tok.sot_id() ? "[SOT]" : id == tok.eot_id() ? "[EOT]" : tok.decode({id}));
    }
    e.tokens.push_back(std::move(words));
  }
  const int64_t Q = int64_t(queries.size());
  e.ids = Tensor::from_vector<int64_t>(ids, Shape{Q, L});
  e.mask = Tensor::from_vector<int64_t>(mask, Shape{Q, L});
  return e;
}

double at(const Tensor& t, int64_t q, int64_t v) {
  return t.defined() ? double(t.data<float>()[q * t.dim(1) + v]) : 0.0;
}

nlohmann::json result_json(const search::SearchIndex& idx, const search::Scores& s, int64_t q, int64_t v, int64_t rank) {
  const search::VideoRecord& r = idx.videos[size_t(v)];
  nlohmann::json terms = nlohmann::json::object();
  for (const auto& [name, t] : {std::pair<const char*, const Tensor*>{"video_sentence", &s.video_sentence},
                                {"video_word", &s.video_word},
                                {"sentence_frame", &s.sentence_frame},
                                {"frame_word", &s.frame_word}})
    if (t->defined()) terms[name] = at(*t, q, v);
  return {{"rank", rank}, {"id", r.id}, {"path", r.path}, {"score", at(s.logits, q, v)}, {"terms", terms}};
}

void print_table(const std::string& query, const nlohmann::json& results, bool four) {
  std::printf("\nquery: %s\n", query.c_str());
  if (four)
    std::printf("%5s %9s %9s %9s %9s %9s  %s\n", "rank", "score", "v-sent", "v-word", "sent-fr", "fr-word", "video");
  else
    std::printf("%5s %9s  %s\n", "rank", "score", "video");
  for (const auto& r : results) {
    if (four) {
      const auto& t = r.at("terms");
      std::printf("%5lld %9.4f %9.4f %9.4f %9.4f %9.4f  %s\n", (long long)r.at("rank").get<int64_t>(),
                  r.at("score").get<double>(), t.value("video_sentence", 0.0), t.value("video_word", 0.0),
                  t.value("sentence_frame", 0.0), t.value("frame_word", 0.0), r.at("id").get<std::string>().c_str());
    } else {
      std::printf("%5lld %9.4f  %s\n", (long long)r.at("rank").get<int64_t>(), r.at("score").get<double>(),
                  r.at("id").get<std::string>().c_str());
    }
  }
}



// The page's queries: every ranked result, the top `explain` with their match details.
std::vector<search::PageQuery> page_queries(const models::RetrievalModel& model, const search::SearchIndex& idx,
                                            const models::TextFeatures& texts, const search::Scores& s,
                                            const std::vector<std::string>& queries, const EncodedQueries& enc,
                                            const std::vector<std::vector<int64_t>>& ranked, int64_t explain) {
  std::vector<search::PageQuery> pages;
  for (size_t q = 0; q < queries.size(); ++q) {
    search::PageQuery p{queries[q], enc.tokens[q], {}};
    const models::TextFeatures one = search::text_row(texts, int64_t(q));
    for (size_t k = 0; k < ranked[q].size(); ++k) {
      const int64_t v = ranked[q][k], qi = int64_t(q);
      search::PageResult r{v, at(s.logits, qi, v), at(s.video_sentence, qi, v), at(s.video_word, qi, v),
                           at(s.sentence_frame, qi, v), at(s.frame_word, qi, v), std::nullopt};
      if (int64_t(k) < explain) r.detail = search::explain(model, one, idx.features, v);
      p.results.push_back(std::move(r));
    }
    pages.push_back(std::move(p));
  }
  return pages;
}

int run_search(const std::vector<std::string>& argv) {
  Args a(argv, {"index", "top", "html", "explain", "bpe", "threads", "block", "shortlist"}, {"json", "help"});
  if (a.flag("help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  XCLIP_CHECK(a.has("index"), "search: --index is required\n", kUsage);
  if (a.has("threads")) omp_set_num_threads(int(a.get_int("threads", 1)));
  const std::vector<std::string> queries = read_queries(a.positional());
  XCLIP_CHECK(!queries.empty(), "search: no query (give QUERY arguments or - for stdin)\n", kUsage);
  const fs::path index_dir = a.get("index", "");
  const int64_t top = a.get_int("top", 10), block = a.get_int("block", search::kDefaultBlock);
  XCLIP_CHECK(top >= 0, "search: --top must be >= 0");

  auto t0 = std::chrono::steady_clock::now();
  const search::SearchIndex idx = search::read_index(index_dir);
  XCLIP_CHECK(!idx.videos.empty(), index_dir.string(), ": the index holds no video");
  const SearchModel sm = rebuild_search_model(idx.manifest.at("model"), index_dir);
  const models::RetrievalModel& model = *sm.model;
  const fs::path bpe = a.has("bpe") ? fs::path(a.get("bpe", "")) : text::find_default_bpe_file();
  const text::ClipTokenizer tok = text::ClipTokenizer::from_bpe_file(bpe);
  if (!tok.is_clip_vocabulary()) std::fprintf(stderr, "%s: %s\n", bpe.string().c_str(), tok.vocabulary_note().c_str());
  const double load_s = seconds_since(t0);

  NoGradGuard no_grad;
  t0 = std::chrono::steady_clock::now();
  const EncodedQueries enc = encode_queries(tok, queries, model.config().max_words);
  const models::TextFeatures texts = model.encode_text(enc.ids, enc.mask);
  const double encode_s = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  const int64_t shortlist = a.get_int("shortlist", 0);
  const search::Scores s = search::score_shortlist(model, texts, idx.features, shortlist, block);
  std::vector<std::vector<int64_t>> ranked;
  const int64_t V = idx.features.count();
  for (size_t q = 0; q < queries.size(); ++q)
    ranked.push_back(search::ranking(s.logits.data<float>() + int64_t(q) * V, V,
                                     shortlist > 0 ? std::min(top > 0 ? top : V, shortlist) : top));
  const double score_s = seconds_since(t0);

  const bool four = s.video_word.defined() || s.sentence_frame.defined() || s.frame_word.defined();
  nlohmann::json out = {{"index", index_dir.string()},
                        {"videos", V},
                        {"model", idx.manifest.at("model").at("weights")},
                        {"kind", idx.manifest.at("model").at("kind")},
                        {"head", model.config().head},
                        {"shortlist", shortlist},
                        {"timing", {{"load_seconds", load_s}, {"query_encode_seconds", encode_s},
                                    {"score_seconds", score_s}}},
                        {"queries", nlohmann::json::array()}};
  for (size_t q = 0; q < queries.size(); ++q) {
    nlohmann::json results = nlohmann::json::array();
    for (size_t k = 0; k < ranked[q].size(); ++k)
      results.push_back(result_json(idx, s, int64_t(q), ranked[q][k], int64_t(k) + 1));
    out["queries"].push_back({{"query", queries[q]}, {"results", results}});
  }
  if (a.flag("json")) {
    std::printf("%s\n", out.dump(1).c_str());
  } else {
    for (const auto& q : out["queries"]) print_table(q.at("query"), q.at("results"), four);
    std::printf("\n%lld videos; query encoding %.1f ms, scoring %.1f ms (%s)\n", (long long)V, encode_s * 1e3,
                score_s * 1e3, four ? "X-CLIP: four contrasts with AOSM" : "video-sentence");
  }
  if (auto html = a.get("html")) {
    const std::string summary = idx.manifest.at("model").at("weights").get<std::string>() + " (" +
                                idx.manifest.at("model").at("kind").get<std::string>() + ", head " +
                                model.config().head + ")";
    const std::string page = search::search_page(
        idx, index_dir, page_queries(model, idx, texts, s, queries, enc, ranked, a.get_int("explain", 3)), summary,
        four);
    io::write_text_file_atomically(*html, page);
    std::fprintf(stderr, "search: page %s\n", html->c_str());
  }
  return 0;
}

const CommandRegistrar kRegister{
    Command{"search", "rank the videos of a search index for text queries (table, JSON, HTML page)", run_search}};

}  // namespace
}  // namespace xclip::cli
