// xclip-cli index / search / export through the built binary: a small X-CLIP trained on synthetic
// videos indexes the held-out videos, and every caption's ranking of its video equals the
// evaluation's (the similarity matrix `eval --save_sim` writes); zero-shot search from a plain
// CLIP safetensors file; the incremental update; the HTML page (rendered when a browser is here).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "test_cli_util.hpp"
#include "test_util.hpp"
#include "xclip/io/json_file.hpp"
#include "xclip/io/npy.hpp"
#include "xclip/io/safetensors.hpp"
#include "xclip/models/build.hpp"

using namespace xclip;
namespace fs = std::filesystem;

namespace {

using Run = test::CliRun;
using test::bpe_flag;
using test::run_cli;

struct TestSplit {
  std::vector<std::string> videos, captions;  // row i: video i's id (no extension) and its caption
};

// MSRVTT_JSFUSION_test.csv: key,vid_key,video_id,sentence.
TestSplit read_test_split(const fs::path& csv) {
  std::ifstream in(csv);
  TestSplit s;
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    size_t a = line.find(','), b = line.find(',', a + 1), c = line.find(',', b + 1);
    s.videos.push_back(line.substr(b + 1, c - b - 1));
    s.captions.push_back(line.substr(c + 1));
  }
  return s;
}

void write_lines(const fs::path& file, const std::vector<std::string>& lines, const std::string& suffix = "") {
  std::ofstream out(file);
  for (const std::string& l : lines) out << l << suffix << "\n";
}

// Synthetic videos, a small X-CLIP trained for one epoch on them, the test split's files.
fs::path trained() {
  static const fs::path dir = [] {
    const fs::path d = test::temp_dir("search_data");
    Run s = run_cli(d, "synth --out data --train 40 --test 12 --size 32 --captions 1 --threads 2");
    INFO(s.err);
    REQUIRE(s.status == 0);
    Run t = run_cli(d, "train --init random --data_path data --features_path data/videos --output_dir out --epochs 1"
                       " --batch_size 8 --batch_size_val 5 --max_words 16 --max_frames 4 --slice_framepos 2"
                       " --expand_msrvtt_sentences --lr 2e-3 --coef_lr 1 --freeze_layer_num -1"
                       " --cross_num_hidden_layers 1 --vision_width 32 --text_width 32 --embed_dim 32 --head_width 16"
                       " --n_display 0" + bpe_flag());
    INFO(t.out << t.err);
    REQUIRE(t.status == 0);
    const TestSplit split = read_test_split(d / "data/MSRVTT_JSFUSION_test.csv");
    write_lines(d / "test_ids.txt", split.videos, ".mp4");
    write_lines(d / "captions.txt", split.captions);
    return d;
  }();
  return dir;
}

// The rank (1 = first) of `id` in one query's results, 0 when absent.
int64_t rank_of(const nlohmann::json& results, const std::string& id) {
  for (const auto& r : results)
    if (r.at("id") == id) return r.at("rank").get<int64_t>();
  return 0;
}

// Every caption ranks its video where the evaluation's similarity row ranks it, and the scores agree.
void check_against_eval(const fs::path& search_json, const fs::path& sim_npy, const TestSplit& split) {
  const nlohmann::json r = io::read_json_file(search_json, "search results");
  const Tensor sim = io::load_npy(sim_npy.string()).to(DType::f32);
  const int64_t n = int64_t(split.videos.size());
  REQUIRE(sim.dim(0) == n);
  REQUIRE(r.at("queries").size() == size_t(n));
  const float* S = sim.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    const nlohmann::json& results = r.at("queries")[size_t(i)].at("results");
    REQUIRE(results.size() == size_t(n));
    int64_t eval_rank = 1;
    for (int64_t j = 0; j < n; ++j) eval_rank += S[i * n + j] > S[i * n + i];
    INFO("caption " << i << ": " << split.captions[size_t(i)]);
    CHECK(rank_of(results, split.videos[size_t(i)] + ".mp4") == eval_rank);
    for (const auto& res : results) {
      const std::string id = res.at("id").get<std::string>();
      const auto it = std::find(split.videos.begin(), split.videos.end(), id.substr(0, id.size() - 4));
      REQUIRE(it != split.videos.end());
      CHECK(res.at("score").get<double>() == Approx(S[i * n + (it - split.videos.begin())]).margin(1e-4));
    }
  }
}

// Searches every test caption in dir/idx (stdin, --top 0, --json) and checks it against dir/sim.npy.
Run search_captions_against_eval(const fs::path& d, const fs::path& dir) {
  Run s = run_cli(dir, "search --index idx --top 0 --json" + bpe_flag() + " - < '" + (d / "captions.txt").string() +
                           "'");
  INFO(s.err);
  REQUIRE(s.status == 0);
  { std::ofstream(dir / "results.json") << s.out; }
  check_against_eval(dir / "results.json", dir / "sim.npy", read_test_split(d / "data/MSRVTT_JSFUSION_test.csv"));
  return s;
}

}  // namespace

TEST_CASE("search: every caption's rank of its video equals the evaluation's", "[e2e][search]") {
  const fs::path d = trained();
  const fs::path dir = test::temp_dir("search_rank");
  const std::string data = "'" + (d / "data").string() + "'";
  Run ix = run_cli(dir, "index --model '" + (d / "out/checkpoint.0").string() + "' --videos " + data +
                            "/videos --ids '" + (d / "test_ids.txt").string() + "' --out idx --threads 2 --batch 5");
  INFO(ix.out << ix.err);
  REQUIRE(ix.status == 0);
  Run ev = run_cli(dir, "eval --init_model '" + (d / "out/checkpoint.0/model.safetensors").string() +
                            "' --data_path " + data + " --features_path " + data +
                            "/videos --slice_framepos 2 --batch_size_val 7 --save_sim sim.npy" + bpe_flag());
  INFO(ev.err);
  REQUIRE(ev.status == 0);
  const Run s = search_captions_against_eval(d, dir);
  // The four terms are there and average to the score.
  const nlohmann::json first = nlohmann::json::parse(s.out).at("queries")[0].at("results")[0];
  const nlohmann::json& t = first.at("terms");
  REQUIRE(t.size() == 4);
  const double mean = (t.at("video_sentence").get<double>() + t.at("video_word").get<double>() +
                       t.at("sentence_frame").get<double>() + t.at("frame_word").get<double>()) / 4;
  CHECK(first.at("score").get<double>() == Approx(mean).margin(1e-5));

  // --shortlist 6: the 6 best videos by the video-sentence term, each with its full score.
  Run sl = run_cli(dir, "search --index idx --top 0 --json --shortlist 6" + bpe_flag() + " - < '" +
                            (d / "captions.txt").string() + "'");
  REQUIRE(sl.status == 0);
  const nlohmann::json full = nlohmann::json::parse(s.out).at("queries"), shortl = nlohmann::json::parse(sl.out).at("queries");
  for (size_t q = 0; q < full.size(); ++q) {
    std::vector<std::pair<double, std::string>> by_vs;
    std::map<std::string, double> score;
    for (const auto& r : full[q].at("results")) {
      by_vs.emplace_back(-r.at("terms").at("video_sentence").get<double>(), r.at("id"));
      score[r.at("id")] = r.at("score");
    }
    std::sort(by_vs.begin(), by_vs.end());
    std::set<std::string> expected;
    for (size_t k = 0; k < 6; ++k) expected.insert(by_vs[k].second);
    const auto& results = shortl[q].at("results");
    REQUIRE(results.size() == 6);
    std::set<std::string> got;
    for (const auto& r : results) {
      got.insert(r.at("id"));
      CHECK(r.at("score").get<double>() == Approx(score.at(r.at("id"))).margin(1e-5));
    }
    CHECK(got == expected);
  }

  // The table, and the page with its heat maps.
  Run table = run_cli(dir, "search --index idx --top 3 --html page.html" + bpe_flag() + " 'a red circle moves up'");
  INFO(table.err);
  REQUIRE(table.status == 0);
  CHECK_THAT(table.out, Catch::Contains("fr-word") && Catch::Contains("a red circle moves up"));
  std::ifstream in(dir / "page.html");
  const std::string page((std::istreambuf_iterator<char>(in)), {});
  CHECK_THAT(page, Catch::Contains("data:image/jpeg;base64,") && Catch::Contains("AOSM weights over words") &&
                       Catch::Contains("[SOT]") && Catch::Contains("word × frame similarity"));
}

TEST_CASE("search: index adds new and changed files, drops deleted ones, lists failures", "[e2e][search]") {
  const fs::path d = trained();
  const fs::path dir = test::temp_dir("search_incremental");
  fs::create_directories(dir / "videos");
  for (const char* v : {"video40.mp4", "video41.mp4", "video42.mp4"})
    fs::copy_file(d / "data/videos" / v, dir / "videos" / v);
  { std::ofstream(dir / "videos/broken.mp4") << "not a video"; }
  const std::string cmd = "index --model '" + (d / "out/checkpoint.0").string() + "' --videos videos --out idx --half";
  Run a = run_cli(dir, cmd);
  INFO(a.out << a.err);
  REQUIRE(a.status == 0);
  CHECK_THAT(a.err, Catch::Contains("4 to decode"));
  nlohmann::json v = io::read_json_file(dir / "idx/videos.json", "videos");
  CHECK(v.at("videos").size() == 3);
  REQUIRE(v.at("failed").size() == 1);
  CHECK(v.at("failed")[0].at("id") == "broken.mp4");
  CHECK_THAT(v.at("failed")[0].at("reason").get<std::string>(), Catch::Contains("broken.mp4"));
  CHECK(v.at("videos")[0].at("times").size() == 4);
  CHECK(fs::exists(dir / "idx" / v.at("videos")[0].at("thumbnail").get<std::string>()));

  // Nothing changed: nothing decoded. Then one added, one deleted.
  Run b = run_cli(dir, cmd);
  REQUIRE(b.status == 0);
  CHECK_THAT(b.err, Catch::Contains("0 to decode"));
  fs::remove(dir / "videos/video41.mp4");
  fs::copy_file(d / "data/videos/video43.mp4", dir / "videos/video43.mp4");
  Run c = run_cli(dir, cmd);
  INFO(c.err);
  REQUIRE(c.status == 0);
  CHECK_THAT(c.err, Catch::Contains("1 to decode") && Catch::Contains("1 dropped"));
  v = io::read_json_file(dir / "idx/videos.json", "videos");
  std::set<std::string> ids;
  for (const auto& r : v.at("videos")) ids.insert(r.at("id"));
  CHECK(ids == std::set<std::string>{"video40.mp4", "video42.mp4", "video43.mp4"});
  CHECK(test::files_besides_output(dir) == std::set<std::string>{"idx", "videos"});  // no staging left (checked before the other indexes)

  // The same scores as a fresh index of the same files (f16 storage both times).
  Run fresh = run_cli(dir, "index --model '" + (d / "out/checkpoint.0").string() + "' --videos videos --out fresh --half");
  REQUIRE(fresh.status == 0);
  Run s1 = run_cli(dir, "search --index idx --json --top 0" + bpe_flag() + " 'a shape'");
  const std::string out1 = s1.out;
  Run s2 = run_cli(dir, "search --index fresh --json --top 0" + bpe_flag() + " 'a shape'");
  REQUIRE((s1.status == 0 && s2.status == 0));
  const auto r1 = nlohmann::json::parse(out1).at("queries")[0].at("results");
  const auto r2 = nlohmann::json::parse(s2.out).at("queries")[0].at("results");
  REQUIRE(r1.size() == r2.size());
  for (size_t i = 0; i < r1.size(); ++i) {
    CHECK(r1[i].at("id") == r2[i].at("id"));
    CHECK(r1[i].at("score").get<double>() == Approx(r2[i].at("score").get<double>()).margin(1e-6));
  }

  // A weights file away from its model_config.json takes it from --config.
  fs::create_directories(dir / "weights");
  fs::copy_file(d / "out/checkpoint.0/model.safetensors", dir / "weights/xclip.safetensors");
  Run cfg = run_cli(dir, "index --model weights/xclip.safetensors --config '" +
                             (d / "out/checkpoint.0/model_config.json").string() + "' --videos videos --out by_config");
  INFO(cfg.err);
  REQUIRE(cfg.status == 0);
  const nlohmann::json m = io::read_json_file(dir / "by_config/index.json", "index").at("model");
  CHECK(m.at("kind") == "model");
  CHECK(m.at("config").at("xclip").at("head") == "xclip");
  Run no_cfg = run_cli(dir, "index --model weights/xclip.safetensors --config missing.json --videos videos --out x");
  CHECK(no_cfg.status != 0);
  CHECK_THAT(no_cfg.err, Catch::Contains("missing.json"));

  // A folder that is not an index is never replaced.
  fs::create_directories(dir / "mine");
  { std::ofstream(dir / "mine/notes.txt") << "keep"; }
  Run bad = run_cli(dir, "index --model '" + (d / "out/checkpoint.0").string() + "' --videos videos --out mine");
  CHECK(bad.status != 0);
  CHECK_THAT(bad.err, Catch::Contains("not a search index"));
  CHECK(fs::exists(dir / "mine/notes.txt"));
}

TEST_CASE("search: zero-shot retrieval from a plain CLIP safetensors file equals eval's meanP", "[e2e][search]") {
  const fs::path d = trained();
  const fs::path dir = test::temp_dir("search_zero_shot");
  // A tiny random CLIP (OpenAI names, head width 64 as every OpenAI CLIP) saved alone.
  models::ScratchClipOptions o;
  o.vision_width = 64, o.vision_layers = 1, o.text_width = 64, o.text_layers = 1, o.embed_dim = 32, o.head_width = 64;
  auto model = models::from_scratch(models::scratch_clip_config(o), models::HeadConfig::clip4clip("meanP"), 7);
  io::NamedTensors clip("tiny clip");
  for (const auto& [name, t] : model->clip.state_dict()) clip.add(name, t);
  fs::create_directories(dir / "clip");
  io::save_safetensors((dir / "clip/tiny_clip.safetensors").string(), clip);

  const std::string data = "'" + (d / "data").string() + "'";
  Run ix = run_cli(dir, "index --model clip/tiny_clip.safetensors --videos " + data + "/videos --ids '" +
                            (d / "test_ids.txt").string() + "' --out idx --max_frames 4 --max_words 16");
  INFO(ix.out << ix.err);
  REQUIRE(ix.status == 0);
  CHECK_THAT(ix.err, Catch::Contains("zero-shot"));
  CHECK(io::read_json_file(dir / "idx/index.json", "index").at("model").at("kind") == "clip_zero_shot");
  const fs::path meanp = test::source_root() / "data/configs/clip4clip_meanP.json";
  Run ev = run_cli(dir, "eval --pretrained_clip_name clip/tiny_clip.safetensors --model_config '" + meanp.string() +
                            "' --max_words 16 --max_frames 4 --data_path " + data + " --features_path " + data +
                            "/videos --slice_framepos 2 --save_sim sim.npy" + bpe_flag());
  INFO(ev.err);
  REQUIRE(ev.status == 0);
  const Run s = search_captions_against_eval(d, dir);
  CHECK(nlohmann::json::parse(s.out).at("queries")[0].at("results")[0].at("terms").size() == 1);

  // export: the video-sentence embeddings as .npy, with the ids beside.
  Run e = run_cli(dir, "export --index idx --out vectors.npy");
  INFO(e.err);
  REQUIRE(e.status == 0);
  const Tensor v = io::load_npy((dir / "vectors.npy").string());
  CHECK(v.shape() == Shape{12, 32});
  CHECK(io::read_json_file(dir / "vectors.ids.json", "ids").size() == 12);
}

TEST_CASE("search: the HTML page renders in a headless browser", "[e2e][search][html]") {
  const char* browsers[] = {"chromium", "chromium-browser", "google-chrome"};
  std::string browser;
  for (const char* b : browsers)
    if (std::system(("command -v " + std::string(b) + " > /dev/null 2>&1").c_str()) == 0) {
      browser = b;
      break;
    }
  if (browser.empty()) {
    std::printf("XCLIP_SKIP: no headless browser (chromium) installed\n");
    return;
  }
  const fs::path d = trained();
  const fs::path dir = test::temp_dir("search_html");
  Run ix = run_cli(dir, "index --model '" + (d / "out/checkpoint.0").string() + "' --videos '" +
                            (d / "data/videos").string() + "' --ids '" + (d / "test_ids.txt").string() + "' --out idx");
  REQUIRE(ix.status == 0);
  Run s = run_cli(dir, "search --index idx --top 5 --explain 2 --html page.html" + bpe_flag() + " 'a green square'");
  REQUIRE(s.status == 0);
  // The DOM after the browser parsed the page, and a screenshot of it.
  const std::string flags = " --headless --no-sandbox --disable-gpu --window-size=1200,1600 ";
  const std::string url = "file://" + (dir / "page.html").string();
  std::system(("cd '" + dir.string() + "' && " + browser + flags + "--dump-dom '" + url + "' > dom.html 2> browser.log")
                  .c_str());
  std::system(("cd '" + dir.string() + "' && " + browser + flags + "--screenshot=page.png '" + url +
               "' > /dev/null 2>> browser.log").c_str());
  std::ifstream in(dir / "dom.html");
  const std::string dom((std::istreambuf_iterator<char>(in)), {});
  size_t rows = 0;
  for (size_t p = 0; (p = dom.find("class=\"result\"", p)) != std::string::npos; ++p) ++rows;
  CHECK(rows == 5);
  CHECK_THAT(dom, Catch::Contains("a green square") && Catch::Contains("AOSM weights over frames, per word"));
  REQUIRE(fs::exists(dir / "page.png"));
  CHECK(fs::file_size(dir / "page.png") > 10000);  // a drawn page, not a blank one
}
