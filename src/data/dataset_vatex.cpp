// VATEX in the layout of TC-MGC's dataloader_vatex_retrieval.py (the HGR split): {split}_list.txt
// (one video id per line) + ref_captions.json ({video_id: [caption, ...]}); every caption a sample,
// grouped per video for the multi-sentence evaluation, as MSVD's.
#include "xclip/core/error.hpp"
#include "xclip/data/dataset_readers.hpp"
#include "xclip/io/json_file.hpp"

namespace fs = std::filesystem;

namespace xclip::data {

namespace {

std::vector<std::string> captions_of(const nlohmann::json& root, const std::string& video_id, const std::string& file,
                                     const std::string& listed_at) {
  auto found = root.find(video_id);
  XCLIP_CHECK(found != root.end(), file, ": no captions for video '", video_id, "' (listed at ", listed_at, ")");
  const std::string where = format(file, "['", video_id, "']");
  XCLIP_CHECK(found->is_array(), where, ": expected a list of captions, got ", io::json_excerpt(*found, 80));
  std::vector<std::string> captions;
  for (size_t i = 0; i < found->size(); ++i) {
    const nlohmann::json& caption = (*found)[i];
    XCLIP_CHECK(caption.is_string(), where, "[", i, "]: a caption must be a string, got ",
                io::json_excerpt(caption, 80));
    captions.push_back(caption.get<std::string>());
  }
  return captions;
}

}  // namespace

Dataset read_vatex(const DatasetOptions& options) {
  const fs::path json_path = options.data_path / "ref_captions.json";
  const nlohmann::json root = detail::read_json_file(json_path);
  XCLIP_CHECK(root.is_object(), json_path.string(), ": expected an object of video id -> captions, got ",
              io::json_excerpt(root, 80));
  return detail::read_listed_videos(options, [&](const std::string& video_id, const std::string& listed_at) {
    return captions_of(root, video_id, json_path.string(), listed_at);
  });
}

}  // namespace xclip::data
