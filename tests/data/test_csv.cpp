// The CSV / TSV reader: pandas-style quoting for MSR-VTT, verbatim tab splitting for LSMDC, and
// errors that name the file and the line.
#include <catch2/catch.hpp>
#include <fstream>

#include "test_util.hpp"
#include "xclip/core/error.hpp"
#include "xclip/data/csv.hpp"

using namespace xclip;
using namespace xclip::data;

TEST_CASE("csv: quoted fields keep commas, doubled quotes and line breaks", "[csv]") {
  std::string text =
      "key,vid_key,video_id,sentence\n"
      "ret0,msr9770,video9770,a person is connecting something to system\n"
      "ret1,msr7026,video7026,\"a little girl, does gymnastics\"\n"
      "ret2,msr9258,video9258,\"she said \"\"hi\"\" twice\"\r\n"
      "\n"
      "ret3,msr1,video1,\"two\nlines\"\n"
      "ret4,msr2,video2,last row without newline";
  CsvTable t = parse_csv(text, "x.csv");
  REQUIRE(t.header == std::vector<std::string>{"key", "vid_key", "video_id", "sentence"});
  REQUIRE(t.rows.size() == 5);
  CHECK(t.rows[1][3] == "a little girl, does gymnastics");
  CHECK(t.rows[2][3] == "she said \"hi\" twice");
  CHECK(t.rows[3][3] == "two\nlines");
  CHECK(t.rows[4][3] == "last row without newline");
  // Row lines count the blank line and the line break inside quotes.
  CHECK(t.row_lines == std::vector<int64_t>{2, 3, 4, 6, 8});
  CHECK(t.column_values("video_id") ==
        std::vector<std::string>{"video9770", "video7026", "video9258", "video1", "video2"});
  CHECK(t.where(4) == "x.csv:8");
}

TEST_CASE("csv: a single-column file with a byte order mark and CRLF endings", "[csv]") {
  CsvTable t = parse_csv("\xEF\xBB\xBFvideo_id\r\nvideo0\r\nvideo1\r\n", "train.csv");
  CHECK(t.header == std::vector<std::string>{"video_id"});
  CHECK(t.column_values("video_id") == std::vector<std::string>{"video0", "video1"});
}

TEST_CASE("csv: errors name the file and line", "[csv][errors]") {
  CHECK_THROWS_WITH(parse_csv("a,b\n1,2\n3,\"open\n4,5\n", "bad.csv"),
                    Catch::Contains("bad.csv:3") && Catch::Contains("unterminated"));
  CHECK_THROWS_WITH(parse_csv("a,b\n1,2\n1,2,3\n", "wide.csv"),
                    Catch::Contains("wide.csv:3") && Catch::Contains("expected 2 fields, found 3"));
  CHECK_THROWS_WITH(parse_csv("a,b\n1,2\n", "cols.csv").column("video_id"),
                    Catch::Contains("cols.csv") && Catch::Contains("no column 'video_id'") && Catch::Contains("a, b"));
  CHECK_THROWS_WITH(parse_csv("", "empty.csv"), Catch::Contains("empty.csv") && Catch::Contains("empty"));
  CHECK_THROWS_WITH(read_csv("/nonexistent/dir/file.csv"), Catch::Contains("/nonexistent/dir/file.csv"));
}

TEST_CASE("tsv without quoting: quotes are text, lines are trimmed, field count is checked", "[csv]") {
  CsvOptions tsv{.delimiter = '\t', .quoting = false, .header = false, .trim_lines = true, .expected_fields = 6};
  std::string text =
      "1004_Juno_00.00.32.849-00.00.38.705\t00.00.32.849\t00.00.38.705\t00.00.32.849\t00.00.38.705\t"
      "Someone \"sits\", alone.  \r\n"
      "\n"
      "clip2\t1\t2\t3\t4\tShe smiles.\n";
  CsvTable t = parse_csv(text, "annos.csv", tsv);
  REQUIRE(t.rows.size() == 2);
  CHECK(t.rows[0][0] == "1004_Juno_00.00.32.849-00.00.38.705");
  CHECK(t.rows[0][5] == "Someone \"sits\", alone.");
  CHECK(t.rows[1][5] == "She smiles.");
  CHECK(t.row_lines == std::vector<int64_t>{1, 3});
  CHECK_THROWS_WITH(parse_csv("a\tb\tc\td\te\tf\nonly\tfive\tfields\there\tx\n", "lsmdc.csv", tsv),
                    Catch::Contains("lsmdc.csv:2") && Catch::Contains("expected 6 fields") &&
                        Catch::Contains("found 5"));
}

TEST_CASE("csv: read_csv reads a file from disk", "[csv]") {
  auto dir = xclip::test::temp_dir("csv_file");
  std::ofstream(dir / "t.csv") << "video_id\nvideo3\n";
  CsvTable t = read_csv(dir / "t.csv");
  CHECK(t.file == (dir / "t.csv").string());
  CHECK(t.rows.size() == 1);
  CHECK(t.rows[0][0] == "video3");
}
