// CSV / TSV reading for the dataset annotation files (see csv.hpp).
#include "xclip/data/csv.hpp"

#include <fstream>
#include <sstream>

#include "xclip/core/error.hpp"

namespace xclip::data {

namespace {

bool is_blank_char(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank_char(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank_char(s.back())) s.remove_suffix(1);
  return s;
}

// Without quoting a record is one physical line split at every delimiter.
std::vector<std::string> split_plain(std::string_view line, char delimiter) {
  std::vector<std::string> fields;
  size_t start = 0;
  while (true) {
    size_t at = line.find(delimiter, start);
    if (at == std::string_view::npos) {
      fields.emplace_back(line.substr(start));
      return fields;
    }
    fields.emplace_back(line.substr(start, at - start));
    start = at + 1;
  }
}

struct Record {
  std::vector<std::string> fields;
  int64_t line = 0;
};

// Reads records one at a time from the text, counting lines (a quoted field may span several).
class RecordReader {
 public:
  RecordReader(std::string_view text, const std::string& name, const CsvOptions& options)
      : text_(text), name_(name), options_(options) {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") text_.remove_prefix(3);  // UTF-8 byte order mark
  }

  // False at the end of the text. Blank lines come back as a record with one empty field.
  bool next(Record& out) {
    if (pos_ >= text_.size()) return false;
    out.line = line_;
    out.fields.clear();
    if (options_.quoting) {
      read_quoted(out);
    } else {
      read_plain(out);
    }
    return true;
  }

 private:
  void read_plain(Record& out) {
    size_t eol = text_.find('\n', pos_);
    if (eol == std::string_view::npos) eol = text_.size();
    std::string_view line = text_.substr(pos_, eol - pos_);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (options_.trim_lines) line = trim(line);
    out.fields = split_plain(line, options_.delimiter);
    pos_ = eol + 1;
    ++line_;
  }

  void read_quoted(Record& out) {
    std::string field;
    while (true) {
      if (pos_ < text_.size() && text_[pos_] == '"') {
        read_quoted_field(field);
      } else {
        read_unquoted_field(field);
      }
      out.fields.push_back(std::move(field));
      field.clear();
      if (pos_ >= text_.size()) return;
      char c = text_[pos_++];
      if (c == '\n') {
        ++line_;
        return;
      }
      // c is the delimiter: the next field follows.
    }
  }

  // Up to the delimiter or end of line; quotes inside are kept as plain text (as pandas does).
  void read_unquoted_field(std::string& field) {
    size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != options_.delimiter && text_[pos_] != '\n') ++pos_;
    std::string_view raw = text_.substr(start, pos_ - start);
    if (!raw.empty() && raw.back() == '\r' && (pos_ >= text_.size() || text_[pos_] == '\n'))
      raw.remove_suffix(1);
    field.append(raw);
  }

  void read_quoted_field(std::string& field) {
    const int64_t opened_at = line_;
    ++pos_;  // opening quote
    while (true) {
      XCLIP_CHECK(pos_ < text_.size(), name_, ":", opened_at,
                  ": unterminated quoted field (the closing \" is missing)");
      char c = text_[pos_++];
      if (c == '"') {
        if (pos_ < text_.size() && text_[pos_] == '"') {
          field.push_back('"');
          ++pos_;
          continue;
        }
        break;
      }
      if (c == '\n') ++line_;
      field.push_back(c);
    }
    // Text between the closing quote and the delimiter is kept (lenient, like pandas).
    read_unquoted_field(field);
  }

  std::string_view text_;
  const std::string& name_;
  const CsvOptions& options_;
  size_t pos_ = 0;
  int64_t line_ = 1;
};

bool is_blank_record(const Record& r) { return r.fields.size() == 1 && trim(r.fields[0]).empty(); }

}  // namespace

CsvTable parse_csv(std::string_view text, const std::string& name, const CsvOptions& options) {
  CsvTable table;
  table.file = name;
  RecordReader reader(text, name, options);
  Record record;
  bool need_header = options.header;
  while (reader.next(record)) {
    if (is_blank_record(record)) continue;
    if (need_header) {
      table.header = std::move(record.fields);
      for (auto& h : table.header) h = std::string(trim(h));
      need_header = false;
      continue;
    }
    size_t expected = options.header ? table.header.size()
                                     : (options.expected_fields > 0 ? size_t(options.expected_fields) : 0);
    XCLIP_CHECK(expected == 0 || record.fields.size() == expected, name, ":", record.line, ": expected ",
                expected, " fields", options.delimiter == '\t' ? " (tab separated)" : "", ", found ",
                record.fields.size());
    table.rows.push_back(std::move(record.fields));
    table.row_lines.push_back(record.line);
  }
  XCLIP_CHECK(!need_header, name, ": empty file (no header row)");
  return table;
}

std::string read_text_file(const std::filesystem::path& path) {
  std::error_code ec;
  XCLIP_CHECK(std::filesystem::exists(path, ec), path.string(), ": file not found");
  XCLIP_CHECK(!std::filesystem::is_directory(path, ec), path.string(), ": is a directory, expected a file");
  std::ifstream in(path, std::ios::binary);
  XCLIP_CHECK(in.good(), path.string(), ": cannot open for reading");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  XCLIP_CHECK(!in.bad(), path.string(), ": read error");
  return std::move(buffer).str();
}

CsvTable read_csv(const std::filesystem::path& path, const CsvOptions& options) {
  return parse_csv(read_text_file(path), path.string(), options);
}

size_t CsvTable::column(const std::string& name) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return i;
  std::string have;
  for (const auto& h : header) have += (have.empty() ? "" : ", ") + h;
  throw Error(format(file, ": no column '", name, "' (columns: ", have, ")"));
}

bool CsvTable::has_column(const std::string& name) const {
  for (const auto& h : header)
    if (h == name) return true;
  return false;
}

std::vector<std::string> CsvTable::column_values(const std::string& name) const {
  size_t c = column(name);
  std::vector<std::string> values;
  values.reserve(rows.size());
  for (const auto& row : rows) values.push_back(row[c]);
  return values;
}

std::string CsvTable::where(size_t row) const { return format(file, ":", row_lines.at(row)); }

}  // namespace xclip::data
