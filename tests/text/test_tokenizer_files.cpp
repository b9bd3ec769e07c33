// Vocabulary files: the Hugging Face vocab.json + merges.txt path, and clear errors for missing,
// corrupt or malformed files.
#include <zlib.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "tokenizer_fixture.hpp"
#include "xclip/core/error.hpp"

using xclip::text::ClipTokenizer;
namespace fs = std::filesystem;

namespace {

void write_file(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_gzip(const fs::path& path, const std::string& content) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, content.data(), static_cast<unsigned>(content.size())) == static_cast<int>(content.size()));
  gzclose(f);
}

// GPT-2's byte alphabet, written here independently of the library.
std::vector<std::string> byte_symbols() {
  std::vector<std::string> symbols;
  std::vector<int> others;
  auto utf8 = [](unsigned c) {
    std::string s;
    if (c < 0x80) {
      s += static_cast<char>(c);
    } else {
      s += static_cast<char>(0xC0 | (c >> 6));
      s += static_cast<char>(0x80 | (c & 0x3F));
    }
    return s;
  };
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    if (printable) symbols.push_back(utf8(static_cast<unsigned>(b)));
    else others.push_back(b);
  }
  for (std::size_t i = 0; i < others.size(); ++i) symbols.push_back(utf8(256 + static_cast<unsigned>(i)));
  return symbols;
}

// A tiny Hugging Face vocabulary: the 512 byte symbols, four merges that spell "hello", and the
// two special tokens.
void write_tiny_hf(const fs::path& dir, const std::string& merges_text) {
  nlohmann::ordered_json vocab;
  int id = 0;
  for (const auto& s : byte_symbols()) vocab[s] = id++;
  for (const auto& s : byte_symbols()) vocab[s + "</w>"] = id++;
  for (const char* s : {"he", "ll", "hell", "hello</w>"}) vocab[s] = id++;
  vocab["<|startoftext|>"] = id++;
  vocab["<|endoftext|>"] = id++;
  write_file(dir / "vocab.json", vocab.dump());
  write_file(dir / "merges.txt", merges_text);
}

const char* kTinyMerges = "#version: 0.2\nh e\nl l\nhe ll\nhell o</w>\n";

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const xclip::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("a tiny Hugging Face vocab.json + merges.txt tokenizes with its merges and ids") {
  const fs::path dir = xclip::test::temp_dir("text_tiny_hf");
  write_tiny_hf(dir, kTinyMerges);
  const ClipTokenizer tok = ClipTokenizer::from_hf_files(dir / "vocab.json", dir / "merges.txt");
  CHECK(tok.vocab_size() == 518);
  CHECK(tok.sot_id() == 516);
  CHECK(tok.eot_id() == 517);
  const int32_t hello = 515;
  CHECK(tok.token(hello) == "hello</w>");
  CHECK(tok.encode("Hello HELLO") == std::vector<int32_t>{hello, hello});
  CHECK(tok.tokenize("hel") == std::vector<std::string>{"he", "l</w>"});
  CHECK(tok.tokenize("hellos") == std::vector<std::string>{"hell", "o", "s</w>"});
  CHECK(tok.decode(tok.encode("hello, hell")) == "hello , hell ");
}

TEST_CASE("the Hugging Face export of the CLIP vocabulary loads back to identical ids") {
  XCLIP_REQUIRE_TOKENIZER(tok);
  auto cases_path = xclip::test::shared_tokenizer_cases();
  if (!cases_path) XCLIP_SKIP("../shared/testdata/tokenizer_cases.json is absent");
  const fs::path dir = xclip::test::temp_dir("text_hf_export");
  tok->save_hf_files(dir / "vocab.json", dir / "merges.txt");
  CHECK_FALSE(fs::exists(dir / "vocab.json.tmp"));
  const std::string merges = read_file(dir / "merges.txt");
  CHECK(merges.starts_with("#version: 0.2\ni n\n"));
  CHECK(std::count(merges.begin(), merges.end(), '\n') == 48895);

  const ClipTokenizer hf = ClipTokenizer::from_hf_files(dir / "vocab.json", dir / "merges.txt");
  CHECK(hf.vocab_size() == tok->vocab_size());
  CHECK(hf.sot_id() == 49406);
  CHECK(hf.eot_id() == 49407);
  std::size_t same = 0;
  const nlohmann::json cases = xclip::test::load_tokenizer_cases(*cases_path);
  for (const auto& c : cases) {
    const std::string text = c.at("text").get<std::string>();
    INFO("case text: " << text);
    const bool equal = hf.encode(text) == tok->encode(text) &&
                       hf.encode_for_model(text, 32).input_ids == tok->encode_for_model(text, 32).input_ids;
    CHECK(equal);
    same += equal;
  }
  CHECK(same == cases.size());
}

TEST_CASE("the CLIP vocabulary is recognised by its merge list, as .gz or Hugging Face files; any other is not") {
  XCLIP_REQUIRE_TOKENIZER(tok);
  CHECK(tok->is_clip_vocabulary());
  CHECK(tok->vocabulary_note() == "OpenAI CLIP vocabulary (48894 merges)");
  const fs::path dir = xclip::test::temp_dir("text_vocab_identity");
  tok->save_hf_files(dir / "vocab.json", dir / "merges.txt");
  const ClipTokenizer hf = ClipTokenizer::from_hf_files(dir / "vocab.json", dir / "merges.txt");
  CHECK(hf.is_clip_vocabulary());
  CHECK(hf.merges_sha256() == tok->merges_sha256());

  // Two merges swapped: still a well-formed vocabulary (both are merges of byte symbols), but the
  // ranks differ, so words can split differently: not CLIP's.
  std::string merges = read_file(dir / "merges.txt");
  REQUIRE(merges.starts_with("#version: 0.2\ni n\nt h\n"));
  merges.replace(0, std::string("#version: 0.2\ni n\nt h\n").size(), "#version: 0.2\nt h\ni n\n");
  write_file(dir / "merges.txt", merges);
  const ClipTokenizer swapped = ClipTokenizer::from_hf_files(dir / "vocab.json", dir / "merges.txt");
  CHECK_FALSE(swapped.is_clip_vocabulary());
  CHECK(swapped.vocabulary_note().find("warning: not OpenAI CLIP's BPE vocabulary (48894 merges") == 0);

  write_tiny_hf(dir, kTinyMerges);
  const ClipTokenizer tiny = ClipTokenizer::from_hf_files(dir / "vocab.json", dir / "merges.txt");
  CHECK_FALSE(tiny.is_clip_vocabulary());
  CHECK(tiny.vocabulary_note().find("(4 merges, merge-list SHA-256 ") != std::string::npos);
}

TEST_CASE("a missing vocabulary file is an error naming the file") {
  const fs::path missing = xclip::test::temp_dir("text_missing") / "no_such_vocab.txt.gz";
  const std::string msg = error_of([&] { ClipTokenizer::from_bpe_file(missing); });
  CHECK(msg.find("not found") != std::string::npos);
  CHECK(msg.find(missing.string()) != std::string::npos);
  const std::string hf_msg = error_of([&] { ClipTokenizer::from_hf_files(missing, missing); });
  CHECK(hf_msg.find(missing.string()) != std::string::npos);
  CHECK(error_of([&] { ClipTokenizer::from_bpe_file(missing.parent_path()); }).find("directory") != std::string::npos);
}

TEST_CASE("a truncated or corrupt gzip vocabulary is an error naming the file") {
  auto bpe = xclip::test::bpe_file();
  if (!bpe) XCLIP_SKIP("data/clip/bpe_simple_vocab_16e6.txt.gz is absent from the checkout");
  const fs::path dir = xclip::test::temp_dir("text_corrupt_gz");
  const std::string gz = read_file(*bpe);

  const fs::path truncated = dir / "truncated.txt.gz";
  write_file(truncated, gz.substr(0, gz.size() / 2));
  std::string msg = error_of([&] { ClipTokenizer::from_bpe_file(truncated); });
  CHECK(msg.find(truncated.string()) != std::string::npos);
  CHECK(msg.find("corrupt or truncated") != std::string::npos);

  std::string flipped = gz;
  for (std::size_t i = flipped.size() / 3; i < flipped.size() / 3 + 64; ++i) flipped[i] = static_cast<char>(~flipped[i]);
  const fs::path corrupt = dir / "corrupt.txt.gz";
  write_file(corrupt, flipped);
  msg = error_of([&] { ClipTokenizer::from_bpe_file(corrupt); });
  CHECK(msg.find(corrupt.string()) != std::string::npos);
}

TEST_CASE("a malformed merges list is an error naming the file and the line") {
  const fs::path dir = xclip::test::temp_dir("text_malformed");
  const fs::path short_file = dir / "short.txt.gz";
  write_gzip(short_file, "bpe_simple_vocab_16e6.txt#version: 0.2\ni n\nt h\n");
  std::string msg = error_of([&] { ClipTokenizer::from_bpe_file(short_file); });
  CHECK(msg.find(short_file.string()) != std::string::npos);
  CHECK(msg.find("48894 merges") != std::string::npos);

  const fs::path garbage = dir / "garbage.bin";
  write_file(garbage, std::string("\xFF\xD8\xFF\xE0 not a vocabulary", 22));
  CHECK(error_of([&] { ClipTokenizer::from_bpe_file(garbage); }).find(garbage.string()) != std::string::npos);

  write_tiny_hf(dir, "#version: 0.2\nh e\nl l l\n");
  msg = error_of([&] { ClipTokenizer::from_hf_files(dir / "vocab.json", dir / "merges.txt"); });
  CHECK(msg.find("merges.txt' line 3") != std::string::npos);

  write_tiny_hf(dir, "#version: 0.2\nh e\nq z\n");
  msg = error_of([&] { ClipTokenizer::from_hf_files(dir / "vocab.json", dir / "merges.txt"); });
  CHECK(msg.find("'qz' is not in the vocabulary") != std::string::npos);

  write_tiny_hf(dir, kTinyMerges);
  write_file(dir / "vocab.json", "{\"a\": 0, ");
  msg = error_of([&] { ClipTokenizer::from_hf_files(dir / "vocab.json", dir / "merges.txt"); });
  CHECK(msg.find("vocab.json': not valid JSON") != std::string::npos);

  write_file(dir / "vocab.json", "{\"a\": -3}");
  CHECK(error_of([&] { ClipTokenizer::from_hf_files(dir / "vocab.json", dir / "merges.txt"); }).find("invalid id") !=
        std::string::npos);

  write_file(dir / "vocab.json", "[1, 2]");
  CHECK(error_of([&] { ClipTokenizer::from_hf_files(dir / "vocab.json", dir / "merges.txt"); }).find("JSON object") !=
        std::string::npos);
}

TEST_CASE("find_default_bpe_file: XCLIP_BPE, then the installed data folder, then the source tree's data/") {
  namespace text = xclip::text;
  const fs::path dir = xclip::test::temp_dir("text_default_bpe");
  unsetenv("XCLIP_BPE");
  // Built from this checkout: its data/ is the fallback, whatever the executable.
  CHECK(text::source_data_dir() == xclip::test::source_root() / "data");
  const fs::path committed = xclip::test::source_root() / "data/clip/bpe_simple_vocab_16e6.txt.gz";
  CHECK(text::find_default_bpe_file("/nonexistent/bin/xclip-cli") == committed);

  // An installed layout, <prefix>/bin/xclip-cli + <prefix>/share/xclip/clip/, comes first.
  const fs::path prefix = dir / "prefix";
  fs::create_directories(prefix / "bin");
  fs::create_directories(prefix / "share/xclip/clip");
  const fs::path installed = prefix / "share/xclip/clip/bpe_simple_vocab_16e6.txt.gz";
  write_file(installed, "x");
  CHECK(text::installed_data_dir(prefix / "bin/xclip-cli") == prefix / "share/xclip");
  CHECK(text::find_default_bpe_file(prefix / "bin/xclip-cli") == installed);

  // XCLIP_BPE comes before both; set but missing, it is an error naming it (no silent fallback).
  const fs::path fake = dir / "vocab.txt.gz";
  write_file(fake, "x");
  setenv("XCLIP_BPE", fake.c_str(), 1);
  CHECK(text::find_default_bpe_file(prefix / "bin/xclip-cli") == fake);
  const fs::path missing = dir / "missing.txt.gz";
  setenv("XCLIP_BPE", missing.c_str(), 1);
  std::string msg = error_of([&] { text::find_default_bpe_file(prefix / "bin/xclip-cli"); });
  unsetenv("XCLIP_BPE");
  CHECK(msg.find("XCLIP_BPE=" + missing.string()) != std::string::npos);
  CHECK(msg.find("no such file") != std::string::npos);

  // Nothing found: every place tried is listed, and how to choose a file.
  msg = error_of([&] { text::find_default_bpe_file("/nonexistent/bin/xclip-cli", dir / "no_data"); });
  CHECK(msg.find("/nonexistent/share/xclip/clip/bpe_simple_vocab_16e6.txt.gz") != std::string::npos);
  CHECK(msg.find((dir / "no_data/clip/bpe_simple_vocab_16e6.txt.gz").string()) != std::string::npos);
  CHECK(msg.find("--bpe PATH") != std::string::npos);
  CHECK(msg.find("XCLIP_BPE") != std::string::npos);
  // No ../shared anywhere in the search.
  CHECK(msg.find("shared") == std::string::npos);
}
