// The search page (xclip-cli search --html FILE): one self-contained HTML file, thumbnails inline
// (base64 JPEG), for every query the ranked videos with their score and contrast terms and, for
// the top results, what X-CLIP matched: the word × frame similarity heat map and the AOSM
// attention weights of each stage (search/score.hpp MatchDetail), words down, sampled frames
// (their pictures and times) across.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "xclip/search/index.hpp"
#include "xclip/search/score.hpp"

namespace xclip::search {

struct PageResult {
  int64_t row = 0;  // the video's row in the index
  double score = 0;
  double video_sentence = 0, video_word = 0, sentence_frame = 0, frame_word = 0;
  std::optional<MatchDetail> detail;  // the top results only
};

struct PageQuery {
  std::string text;
  std::vector<std::string> tokens;  // the real tokens, SOT and EOT included (the heat map's rows)
  std::vector<PageResult> results;
};

// The page; `index_dir` is where the thumbnails are read; `terms` lists the head's contrasts
// (empty for a single-term head).
std::string search_page(const SearchIndex& index, const std::filesystem::path& index_dir,
                        const std::vector<PageQuery>& queries, const std::string& model_summary, bool four_terms);

std::string base64(const std::string& bytes);

}  // namespace xclip::search
