// LSMDC (dataloader_lsmdc_retrieval.py): tab-separated annotation lines, one sample per line whose
// clip has a video; the whole clip is decoded. The 1000-clip challenge file is the test set.
#include "xclip/core/error.hpp"
#include "xclip/data/csv.hpp"
#include "xclip/data/dataset_readers.hpp"

namespace fs = std::filesystem;

namespace xclip::data {

namespace {

fs::path annotation_file(const DatasetOptions& options) {
  if (options.split == "train") return options.data_path / "LSMDC16_annos_training.csv";
  if (options.split == "val") return options.data_path / "LSMDC16_annos_val.csv";
  return options.data_path / "LSMDC16_challenge_1000_publictect.csv";  // sic: the released name
}

}  // namespace

Dataset read_lsmdc(const DatasetOptions& options) {
  detail::VideoIndex index(options.features_path);
  // <clip_id> \t <start_aligned> \t <end_aligned> \t <start_extracted> \t <end_extracted> \t <sentence>
  // No quoting: sentences are taken verbatim, quotes included (the original splits on tabs).
  CsvOptions tsv{.delimiter = '\t', .quoting = false, .header = false, .trim_lines = true, .expected_fields = 6};
  CsvTable table = read_csv(annotation_file(options), tsv);
  detail::DatasetBuilder builder(options, index);
  for (const auto& row : table.rows) {
    int64_t clip = builder.clip(row[0]);
    if (clip >= 0) builder.add_sample(clip, {row[5]});
  }
  return builder.finish(false, "");
}

}  // namespace xclip::data
