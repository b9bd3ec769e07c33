// The search page (search/html.hpp): plain HTML tables and CSS, no script, so it renders anywhere
// (and in a headless browser for the test). Heat-map cells are coloured by their value, scaled
// per map; the frame axis shows each sampled frame cut out of the video's frame strip by CSS.
#include "xclip/search/html.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>

namespace xclip::search {
namespace fs = std::filesystem;

std::string base64(const std::string& bytes) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = uint32_t(uint8_t(bytes[i])) << 16 | uint32_t(uint8_t(bytes[i + 1])) << 8 | uint8_t(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += table[(v >> s) & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    if (i + 1 < bytes.size()) v |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? table[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

namespace {

std::string escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string num(double v, int digits = 3) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// A JPEG of the index as a data: URL ("" when the file is missing: the page still renders).
std::string jpeg_url(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return "";
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  return "data:image/jpeg;base64," + base64(bytes);
}

// White to a saturated colour by t in [0, 1].
std::string cell_colour(double t, bool warm) {
  t = std::clamp(t, 0.0, 1.0);
  const int fade = int(255 - 200 * t);
  char buf[32];
  if (warm) std::snprintf(buf, sizeof buf, "rgb(255,%d,%d)", fade, int(fade * 0.8));
  else std::snprintf(buf, sizeof buf, "rgb(%d,%d,255)", fade, fade);
  return buf;
}

constexpr int kStripPx = 64;  // data/thumbnail.hpp's strip frame side (capped by the model's size)

// Frame headers: each frame cut out of the strip (a CSS background offset), with its time.
std::string frame_header(const VideoRecord& r, const std::string& strip_url, int side) {
  std::ostringstream o;
  o << "<tr><th></th>";
  for (int j = 0; j < r.frames; ++j) {
    o << "<th class=f><div class=fr style=\"width:" << side << "px;height:" << side << "px;background:url('"
      << strip_url << "') -" << j * side << "px 0\"></div>"
      << (size_t(j) < r.times.size() ? num(r.times[size_t(j)], 1) + " s" : std::string()) << "</th>";
  }
  o << "</tr>\n";
  return o.str();
}

// A words × frames map; extra_row / extra_col (may be empty) add the cross-grained weights.
std::string heat_table(const std::string& title, const std::vector<std::string>& words, const VideoRecord& r,
                       const std::string& strip_url, int side, const std::vector<float>& values, int64_t W,
                       int64_t F, bool warm, const std::vector<float>& col_weights, const std::string& col_title,
                       const std::vector<float>& row_weights, const std::string& row_title) {
  if (values.empty()) return "";
  const auto [lo_it, hi_it] = std::minmax_element(values.begin(), values.end());
  const double lo = *lo_it, span = std::max(double(*hi_it) - lo, 1e-12);
  std::ostringstream o;
  o << "<div class=map><div class=mt>" << escape(title) << "</div><table class=heat>\n" << frame_header(r, strip_url, side);
  for (int64_t i = 0; i < W; ++i) {
    o << "<tr><th class=w>" << escape(size_t(i) < words.size() ? words[size_t(i)] : "?") << "</th>";
    for (int64_t j = 0; j < F; ++j) {
      const double v = values[size_t(i * F + j)];
      o << "<td style=\"background:" << cell_colour((v - lo) / span, warm) << "\">" << num(v, 2) << "</td>";
    }
    if (!row_weights.empty()) o << "<td class=x>" << num(row_weights[size_t(i)], 2) << "</td>";
    o << "</tr>\n";
  }
  if (!col_weights.empty()) {
    o << "<tr><th class=w>" << escape(col_title) << "</th>";
    for (int64_t j = 0; j < F; ++j) o << "<td class=x>" << num(col_weights[size_t(j)], 2) << "</td>";
    o << "</tr>\n";
  }
  o << "</table>";
  if (!row_weights.empty()) o << "<div class=note>last column: " << escape(row_title) << "</div>";
  o << "</div>\n";
  return o.str();
}

std::string explain_block(const PageQuery& q, const PageResult& res, const VideoRecord& r, const fs::path& dir,
                          int side) {
  const MatchDetail& d = *res.detail;
  const std::string strip = jpeg_url(dir / r.frame_strip);
  std::vector<std::string> words(q.tokens.begin(), q.tokens.begin() + std::min<size_t>(q.tokens.size(), size_t(d.words)));
  std::ostringstream o;
  o << "<div class=explain><div class=terms>video-sentence " << num(d.video_sentence) << " · video-word "
    << num(d.video_word) << " · sentence-frame " << num(d.sentence_frame) << " · frame-word " << num(d.frame_word)
    << " → score " << num(d.total) << "</div>\n";
  o << heat_table("word × frame similarity (w · local_mat_weight · fᵀ)", words, r, strip, side, d.word_frame, d.words,
                  d.frames, true, d.sentence_frame_weight, "sentence→frame", d.video_word_weight, "video→word AOSM weight");
  o << heat_table("AOSM weights over words, per frame", words, r, strip, side, d.word_weight_per_frame, d.words,
                  d.frames, false, {}, "", {}, "");
  o << heat_table("AOSM weights over frames, per word", words, r, strip, side, d.frame_weight_per_word, d.words,
                  d.frames, false, {}, "", {}, "");
  o << "</div>\n";
  return o.str();
}

constexpr const char* kStyle =
    "body{font-family:sans-serif;margin:1.5em;color:#222}h2{margin-top:1.5em;border-bottom:1px solid #ccc}"
    "table.res{border-collapse:collapse}table.res td,table.res th{padding:3px 8px;border-bottom:1px solid #eee;"
    "text-align:right}table.res td.id{text-align:left}img.th{width:96px;height:96px;object-fit:cover}"
    "table.heat{border-collapse:collapse;font-size:11px;margin:4px 0}table.heat td{width:64px;text-align:center;"
    "border:1px solid #fff}th.w{text-align:right;padding-right:6px;font-weight:normal}th.f{font-weight:normal;"
    "font-size:10px}div.fr{background-size:auto 100%!important;background-repeat:no-repeat!important}"
    "td.x{color:#555;font-style:italic}div.map{display:inline-block;vertical-align:top;margin-right:18px}"
    "div.mt{font-weight:bold;font-size:12px}div.terms{margin:6px 0}div.explain{margin:6px 0 18px 0;padding:6px;"
    "background:#fafafa}div.note{font-size:11px;color:#666}";

}  // namespace

std::string search_page(const SearchIndex& index, const fs::path& index_dir, const std::vector<PageQuery>& queries,
                        const std::string& model_summary, bool four_terms) {
  // The strip's frames are min(64, the model's frame size) pixels (write_video_thumbnails).
  const int side = std::min(kStripPx, index.manifest.at("preprocessing").value("size", kStripPx));
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>X-CLIP search</title><style>" << kStyle
    << "</style></head><body>\n<h1>X-CLIP search</h1>\n<p>" << index.videos.size() << " videos; model "
    << escape(model_summary) << "</p>\n";
  for (const PageQuery& q : queries) {
    o << "<h2 class=query>" << escape(q.text) << "</h2>\n<table class=res><tr><th>rank</th><th></th><th>score</th>";
    if (four_terms) o << "<th>video-sentence</th><th>video-word</th><th>sentence-frame</th><th>frame-word</th>";
    o << "<th>video</th></tr>\n";
    for (size_t k = 0; k < q.results.size(); ++k) {
      const PageResult& res = q.results[k];
      const VideoRecord& r = index.videos[size_t(res.row)];
      o << "<tr class=result><td>" << k + 1 << "</td><td><img class=th src=\"" << jpeg_url(index_dir / r.thumbnail)
        << "\"></td><td>" << num(res.score) << "</td>";
      if (four_terms)
        o << "<td>" << num(res.video_sentence) << "</td><td>" << num(res.video_word) << "</td><td>"
          << num(res.sentence_frame) << "</td><td>" << num(res.frame_word) << "</td>";
      o << "<td class=id>" << escape(r.id) << "<br><small>" << num(r.duration, 1) << " s</small></td></tr>\n";
      if (res.detail)
        o << "<tr><td colspan=" << (four_terms ? 8 : 4) << " style=\"text-align:left\">"
          << explain_block(q, res, r, index_dir, side) << "</td></tr>\n";
    }
    o << "</table>\n";
  }
  o << "</body></html>\n";
  return o.str();
}

}  // namespace xclip::search
