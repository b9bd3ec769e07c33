// MSVD (dataloader_msvd_retrieval.py): {split}_list.txt + raw-captions.pkl, every caption a sample,
// grouped per video for the multi-sentence evaluation.
#include "xclip/core/error.hpp"
#include "xclip/data/dataset_readers.hpp"
#include "xclip/io/pickle.hpp"

namespace fs = std::filesystem;
namespace pk = xclip::io::pickle;

namespace xclip::data {

namespace {

// A caption is a list of tokens joined with " " (as the original does); a plain string is taken as is.
std::string caption_text(const pk::Value& caption, const std::string& where) {
  if (caption.is(pk::Kind::string)) return caption.as_string();
  XCLIP_CHECK(caption.is_sequence(), where, ": expected a list of tokens, got ", caption.repr());
  std::string text;
  for (size_t i = 0; i < caption.as_sequence().size(); ++i) {
    const auto& token = caption.as_sequence()[i];
    XCLIP_CHECK(token->is(pk::Kind::string), where, ": token ", i, " is not a string: ", token->repr());
    if (i > 0) text += ' ';
    text += token->as_string();
  }
  return text;
}

std::vector<std::string> captions_of(const pk::Value& root, const std::string& video_id, const std::string& file,
                                     const std::string& listed_at) {
  pk::ValuePtr list = root.get(video_id);
  XCLIP_CHECK(list != nullptr, file, ": no captions for video '", video_id, "' (listed at ", listed_at, ")");
  std::string where = format(file, "['", video_id, "']");
  XCLIP_CHECK(list->is_sequence(), where, ": expected a list of captions, got ", list->repr());
  std::vector<std::string> captions;
  for (size_t i = 0; i < list->as_sequence().size(); ++i)
    captions.push_back(caption_text(*list->as_sequence()[i], format(where, "[", i, "]")));
  return captions;
}

}  // namespace

Dataset read_msvd(const DatasetOptions& options) {
  fs::path pickle_path = options.data_path / "raw-captions.pkl";
  pk::Options pickle_options;
  pickle_options.name = pickle_path.string();
  pk::ValuePtr root = pk::load_file(pickle_path.string(), pickle_options);
  XCLIP_CHECK(root->is(pk::Kind::dict), pickle_path.string(), ": expected a dict of video id -> captions, got ",
              root->repr());
  return detail::read_listed_videos(options, [&](const std::string& video_id, const std::string& listed_at) {
    return captions_of(*root, video_id, pickle_path.string(), listed_at);
  });
}

}  // namespace xclip::data
