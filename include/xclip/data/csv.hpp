// A small CSV / TSV reader for the dataset annotation files.
//
// MSR-VTT's csvs (written by pandas) quote fields that hold commas ("a man, a dog"), with "" for a
// quote inside a quoted field and possibly a line break inside quotes; LSMDC's files are tab
// separated with no quoting at all (sentences may contain a literal "). Both go through here:
//
//   CsvTable t = read_csv("MSRVTT_JSFUSION_test.csv");              // header row, quoting on
//   const auto& ids = t.column_values("video_id");
//   CsvTable l = read_csv("LSMDC16_annos_val.csv", {.delimiter = '\t', .quoting = false,
//                          .header = false, .trim_lines = true, .expected_fields = 6});
//
// Every error (unterminated quote, wrong field count, missing column) names the file and the
// 1-based line where the offending row starts.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace xclip::data {

struct CsvOptions {
  char delimiter = ',';
  bool quoting = true;        // "..." fields with "" escapes (RFC 4180); off: quotes are plain text
  bool header = true;         // the first non-blank row names the columns
  bool trim_lines = false;    // strip spaces/tabs/CR around each line first (Python's str.strip)
  int expected_fields = -1;   // without a header: every row must have exactly this many (-1: any)
};

struct CsvTable {
  std::string file;                             // named in errors
  std::vector<std::string> header;              // empty without a header row
  std::vector<std::vector<std::string>> rows;   // data rows (blank lines skipped)
  std::vector<int64_t> row_lines;               // 1-based line where each row starts

  // Index of a header column; throws naming the file and the columns it does have.
  size_t column(const std::string& name) const;
  bool has_column(const std::string& name) const;
  // All values of one column, in row order.
  std::vector<std::string> column_values(const std::string& name) const;
  // "file:line" of a data row, for messages.
  std::string where(size_t row) const;
};

// Parses text already in memory; `name` is what errors call it.
CsvTable parse_csv(std::string_view text, const std::string& name, const CsvOptions& options = {});
// Reads a whole file; a missing or unreadable file is an error naming it.
CsvTable read_csv(const std::filesystem::path& path, const CsvOptions& options = {});

// The whole file as a string (shared by the dataset readers); throws naming the file.
std::string read_text_file(const std::filesystem::path& path);

}  // namespace xclip::data
