// The batch loader: PyTorch's DistributedSampler order, batches identical for every thread count
// and prefetch depth, per-sample randomness tied to (seed, epoch, sample), batch contents (frames
// normalised as the decoder gives them, tokenised captions), and unreadable videos.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>

#include "test_util.hpp"
#include "test_video_util.hpp"
#include "xclip/core/error.hpp"
#include "xclip/data/loader.hpp"

using namespace xclip;
using namespace xclip::data;
namespace fs = std::filesystem;

namespace {

// A stand-in tokenizer: SOT, the caption's bytes (cut to max_words - 2), EOT, zero padding.
EncodedText byte_encoder(const std::string& caption, int max_words) {
  EncodedText e;
  e.input_ids.push_back(49406);
  for (unsigned char c : caption) {
    if (int(e.input_ids.size()) >= max_words - 1) break;
    e.input_ids.push_back(c);
  }
  e.input_ids.push_back(49407);
  e.attention_mask.assign(e.input_ids.size(), 1);
  e.input_ids.resize(size_t(max_words), 0);
  e.attention_mask.resize(size_t(max_words), 0);
  return e;
}

// Text-only dataset: clips need no files when the loader does not decode.
Dataset text_dataset(int samples, int captions_per_sample = 1) {
  Dataset d;
  d.split = "train";
  for (int i = 0; i < samples; ++i) {
    d.clips.push_back({"v" + std::to_string(i), "/nonexistent/v.mp4", std::nullopt, std::nullopt});
    Sample s{i, {}};
    for (int k = 0; k < captions_per_sample; ++k) s.captions.push_back(format("caption ", i, " ", k));
    d.samples.push_back(s);
  }
  return d;
}

std::vector<Batch> all_batches(Loader& loader, int64_t epoch) {
  loader.start_epoch(epoch);
  std::vector<Batch> out;
  while (auto b = loader.next()) out.push_back(std::move(*b));
  return out;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) return a.defined() == b.defined();
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

bool same_batches(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].items != b[i].items || a[i].captions != b[i].captions) return false;
    if (!same_bytes(a[i].video, b[i].video) || !same_bytes(a[i].video_mask, b[i].video_mask)) return false;
    if (!same_bytes(a[i].input_ids, b[i].input_ids) || !same_bytes(a[i].attention_mask, b[i].attention_mask))
      return false;
  }
  return true;
}

// A small MSR-VTT-style test set of zoo videos (one caption each); nullopt without ../shared.
const char* kZoo[] = {"h264_30fps_320x240.mp4", "short_1s_h264_320x240.mp4", "vp9_24fps_320x180.webm",
                      "h264_25fps_640x360.mp4", "mjpeg_15fps_320x240.avi", "portrait_h264_240x426.mp4",
                      "h264_29.97fps_176x144.mp4"};

std::optional<Dataset> zoo_dataset(const std::string& name, bool with_bad_video = false) {
  auto shared = xclip::test::shared_dir();
  if (!shared) return std::nullopt;
  fs::path root = xclip::test::temp_dir(name);
  fs::create_directories(root / "videos");
  std::string csv = "key,vid_key,video_id,sentence\n";
  int i = 0;
  for (const char* file : kZoo) {
    fs::path src = *shared / "media" / file;
    fs::create_symlink(src, root / "videos" / ("zoo" + std::to_string(i) + src.extension().string()));
    csv += format("ret", i, ",msr", i, ",zoo", i, ",\"caption of ", file, ", number ", i, "\"\n");
    ++i;
  }
  if (with_bad_video) {
    fs::create_symlink(*shared / "media/bad_text.mp4", root / "videos/broken.mp4");
    csv += "retb,msrb,broken,this video cannot be decoded\n";
  }
  std::ofstream(root / "MSRVTT_JSFUSION_test.csv") << csv;
  DatasetOptions o;
  o.kind = DatasetKind::msrvtt;
  o.split = "test";
  o.data_path = root;
  o.features_path = root / "videos";
  return read_dataset(o);
}

LoaderOptions video_options(int threads) {
  LoaderOptions o;
  o.batch_size = 3;
  o.threads = threads;
  o.max_words = 16;
  o.sampling.max_frames = 4;
  o.sampling.slice_framepos = 2;
  o.sampling.size = 48;  // small crops keep the test fast; the pipeline is the same as at 224
  return o;
}

}  // namespace

TEST_CASE("sampler: torch.randperm and DistributedSampler orders as PyTorch 1.13 gives them", "[loader][sampler]") {
  // Values printed by torch 1.13: torch.randperm(n, generator=torch.Generator().manual_seed(s)).
  CHECK(torch_randperm(10, 0) == std::vector<int64_t>{4, 1, 7, 5, 3, 9, 0, 8, 6, 2});
  CHECK(torch_randperm(10, 1) == std::vector<int64_t>{5, 6, 1, 2, 0, 8, 9, 3, 7, 4});
  CHECK(torch_randperm(7, 3) == std::vector<int64_t>{5, 3, 4, 6, 0, 2, 1});
  CHECK(torch_randperm(25, 42) == std::vector<int64_t>{17, 12, 2, 0, 22, 20, 21, 6, 8, 18, 23, 10, 3,
                                                       19, 16, 1, 9, 24, 5, 11, 15, 7, 13, 14, 4});
  // DistributedSampler(range(11), shuffle=True, seed=0).set_epoch(2): one rank, then rank 1 of 4
  // (padded to 12 by repeating the first index).
  CHECK(distributed_sampler_order(11, true, 0, 2, 1, 0) == std::vector<int64_t>{3, 8, 10, 0, 1, 4, 5, 2, 7, 6, 9});
  CHECK(distributed_sampler_order(11, true, 0, 2, 4, 1) == std::vector<int64_t>{8, 4, 6});
  CHECK(distributed_sampler_order(5, false, 0, 0, 2, 1) == std::vector<int64_t>{1, 3, 0});
  CHECK(distributed_sampler_order(0, true, 0, 0, 1, 0).empty());
  CHECK_THROWS_WITH(distributed_sampler_order(5, true, 0, 0, 2, 2), Catch::Contains("rank 2"));
}

TEST_CASE("loader: epoch order, drop_last and batch count (text only)", "[loader]") {
  Dataset d = text_dataset(23);
  LoaderOptions o;
  o.with_video = false;
  o.batch_size = 5;
  o.shuffle = true;
  o.drop_last = true;
  o.seed = 0;
  o.max_words = 8;
  Loader loader(d, o, byte_encoder);
  CHECK(loader.batches_per_epoch() == 4);
  for (int64_t epoch : {0, 1, 7}) {
    auto batches = all_batches(loader, epoch);
    REQUIRE(batches.size() == 4);
    std::vector<int64_t> expected = distributed_sampler_order(23, true, 0, epoch, 1, 0);
    for (size_t b = 0; b < batches.size(); ++b) {
      CHECK(batches[b].index == int64_t(b));
      CHECK(batches[b].items == std::vector<int64_t>(expected.begin() + 5 * b, expected.begin() + 5 * (b + 1)));
      CHECK(batches[b].input_ids.shape() == Shape{5, 8});
      CHECK_FALSE(batches[b].video.defined());
    }
  }
  CHECK(all_batches(loader, 0)[0].items != all_batches(loader, 1)[0].items);
  o.drop_last = false;
  o.shuffle = false;
  Loader eval(d, o, byte_encoder);
  auto batches = all_batches(eval, 0);
  REQUIRE(batches.size() == 5);
  CHECK(batches.back().items == std::vector<int64_t>{20, 21, 22});
  CHECK(batches.back().input_ids.shape() == Shape{3, 8});
  // The caption is tokenised into its row: SOT, bytes, EOT, zero padding.
  auto ids = batches.back().input_ids.to_vector<int64_t>();
  CHECK(std::vector<int64_t>(ids.begin(), ids.begin() + 8) == byte_encoder("caption 20 0", 8).input_ids);
}

TEST_CASE("loader: a random caption per sample per epoch, the same for any thread count", "[loader]") {
  Dataset d = text_dataset(40, 5);
  LoaderOptions o;
  o.with_video = false;
  o.batch_size = 8;
  o.shuffle = true;
  o.max_words = 12;
  std::vector<std::vector<std::string>> per_epoch;
  for (int threads : {1, 3}) {
    o.threads = threads;
    o.prefetch_batches = threads == 1 ? 1 : 4;
    Loader loader(d, o, byte_encoder);
    for (int64_t epoch : {0, 1}) {
      std::vector<std::string> captions(40);
      for (const auto& b : all_batches(loader, epoch))
        for (size_t r = 0; r < b.items.size(); ++r) captions[size_t(b.items[r])] = b.captions[r];
      per_epoch.push_back(captions);
    }
  }
  CHECK(per_epoch[0] == per_epoch[2]);  // epoch 0, 1 thread vs 3 threads
  CHECK(per_epoch[1] == per_epoch[3]);
  CHECK(per_epoch[0] != per_epoch[1]);  // a new draw each epoch
  std::set<std::string> used(per_epoch[0].begin(), per_epoch[0].end());
  CHECK(used.size() == 40);
  size_t not_first = 0;
  for (const auto& c : per_epoch[0]) not_first += c.substr(c.size() - 2) != " 0";
  CHECK(not_first > 20);  // draws are spread over the candidates (about 32 of 40 expected)
}

TEST_CASE("loader: batches with video are identical for 1, 2 and 4 threads", "[loader][video]") {
  auto d = zoo_dataset("loader_threads");
  if (!d) XCLIP_SKIP("../shared is absent: the zoo videos are needed for this test");
  REQUIRE(d->samples.size() == 7);
  std::vector<std::vector<Batch>> runs;
  for (int threads : {1, 2, 4}) {
    LoaderOptions o = video_options(threads);
    o.shuffle = true;
    o.seed = 5;
    o.prefetch_batches = threads;
    o.sampling.frame_order = 2;  // per-sample shuffles must not depend on the thread either
    Loader loader(*d, o, byte_encoder);
    runs.push_back(all_batches(loader, 3));
  }
  REQUIRE(runs[0].size() == 3);
  CHECK(runs[0].back().items.size() == 1);
  CHECK(runs[0][0].video.shape() == Shape{3, 4, 3, 48, 48});
  CHECK(runs[0][0].video_mask.shape() == Shape{3, 4});
  CHECK(same_batches(runs[0], runs[1]));
  CHECK(same_batches(runs[0], runs[2]));
}

TEST_CASE("loader: each row holds its clip's normalised frames, mask and caption", "[loader][video]") {
  auto d = zoo_dataset("loader_rows");
  if (!d) XCLIP_SKIP("../shared is absent: the zoo videos are needed for this test");
  for (bool raw : {false, true}) {
    LoaderOptions o = video_options(2);
    o.raw_frames = raw;
    Loader loader(*d, o, byte_encoder);
    auto batches = all_batches(loader, 0);
    REQUIRE(batches.size() == 3);
    const int F = 4, S = 48;
    const size_t frame = size_t(S) * S * 3;
    for (const auto& b : batches) {
      for (size_t r = 0; r < b.items.size(); ++r) {
        const Sample& s = d->samples[size_t(b.items[r])];
        VideoFrames v = decode_clip(d->clips[size_t(s.clip)], o.sampling);
        REQUIRE(v.frames >= 1);
        auto mask = b.video_mask.to_vector<int64_t>();
        for (int f = 0; f < F; ++f) CHECK(mask[r * F + size_t(f)] == (f < v.frames ? 1 : 0));
        if (raw) {
          const uint8_t* row = b.video.data<uint8_t>() + r * F * frame;
          CHECK(std::memcmp(row, v.rgb.data(), size_t(v.frames) * frame) == 0);
        } else {
          std::vector<float> expected(size_t(F) * frame, 0.0f);
          normalize_frames(v.rgb.data(), v.frames, S, expected.data());
          const float* row = b.video.data<float>() + r * F * frame;
          CHECK(std::memcmp(row, expected.data(), expected.size() * sizeof(float)) == 0);
        }
        CHECK(b.captions[r] == s.captions[0]);
      }
    }
  }
}

TEST_CASE("loader: an undecodable video gives zeros and is reported, strict stops", "[loader][video][errors]") {
  auto d = zoo_dataset("loader_bad", true);
  if (!d) XCLIP_SKIP("../shared is absent: the zoo videos are needed for this test");
  REQUIRE(d->samples.size() == 8);  // the reader only checks that the file is there
  std::vector<VideoProblem> reported;
  LoaderOptions o = video_options(2);
  o.batch_size = 4;
  o.on_video_problem = [&](const VideoProblem& p) { reported.push_back(p); };
  Loader loader(*d, o, byte_encoder);
  for (int64_t epoch : {0, 1}) {
    auto batches = all_batches(loader, epoch);
    REQUIRE(batches.size() == 2);
    const Batch& last = batches[1];
    CHECK(last.failed_videos == 1);
    CHECK(batches[0].failed_videos == 0);
    auto mask = last.video_mask.to_vector<int64_t>();
    CHECK(std::vector<int64_t>(mask.end() - 4, mask.end()) == std::vector<int64_t>(4, 0));
    const float* row = last.video.data<float>() + 3 * 4 * 3 * 48 * 48;
    CHECK(std::all_of(row, row + 4 * 3 * 48 * 48, [](float x) { return x == 0.0f; }));
  }
  REQUIRE(reported.size() == 1);  // once per clip, not once per epoch
  CHECK(reported[0].video_id == "broken");
  CHECK_THAT(reported[0].file, Catch::Contains("broken.mp4"));
  CHECK_FALSE(reported[0].reason.empty());
  CHECK(loader.problems().size() == 1);

  o.strict = true;
  Loader strict(*d, o, byte_encoder);
  strict.start_epoch(0);
  CHECK(strict.next().has_value());
  CHECK_THROWS_WITH(strict.next(), Catch::Contains("strict") && Catch::Contains("broken.mp4"));

  // The failure of batch 1 comes first in time when batch 0's first row is slow: batch 0 is still
  // delivered whole, then the error (the order of events must not decide what the consumer sees).
  std::atomic<int> calls{0};
  auto slow_first = [&](const std::string& caption, int max_words) {
    if (calls++ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(400));
    return byte_encoder(caption, max_words);
  };
  Loader slow(*d, o, slow_first);
  slow.start_epoch(0);
  auto first = slow.next();
  REQUIRE(first.has_value());
  CHECK(first->failed_videos == 0);
  CHECK_THROWS_WITH(slow.next(), Catch::Contains("strict") && Catch::Contains("broken.mp4"));
}

TEST_CASE("loader: drop_failed leaves failed videos' rows out of their batch, the same for any thread count",
          "[loader][video][errors]") {
  auto d = zoo_dataset("loader_drop", true);
  auto media = xclip::test::media_dir();
  if (!d || !media) XCLIP_SKIP("../shared is absent: the zoo videos are needed for this test");
  // A clip that opens but has no frame at its sampled times (its first key frame zeroed) fails too:
  // an all-zero video would be a NaN feature.
  const fs::path start = xclip::test::zeroed_copy(*media / "h264_30fps_320x240.mp4",
                                                  xclip::test::temp_dir("loader_drop_files") / "zeroed_start.mp4", 100, 2900);
  d->clips.push_back({"zeroed_start", start, std::nullopt, std::nullopt});
  d->samples.push_back({int64_t(d->clips.size()) - 1, {"a video without a frame"}});
  // The two failing samples first: batch 0 is [broken, zeroed_start, zoo0], and zoo0 moves up.
  std::rotate(d->samples.begin(), d->samples.end() - 2, d->samples.end());
  LoaderOptions o = video_options(1);
  std::vector<std::string> reported;
  o.on_video_problem = [&](const VideoProblem& p) { reported.push_back(p.video_id); };
  Loader keep_rows(*d, o, byte_encoder);
  const std::vector<Batch> full = all_batches(keep_rows, 0);
  CHECK(reported == std::vector<std::string>{"broken", "zeroed_start"});
  CHECK(keep_rows.failed_clips().size() == 2);

  o.drop_failed = true;
  Loader one(*d, o, byte_encoder);
  const std::vector<Batch> dropped = all_batches(one, 0);
  REQUIRE(dropped.size() == 3);
  const Batch& b = dropped[0];
  CHECK(b.items == std::vector<int64_t>{2});
  CHECK(b.failed_videos == 2);
  CHECK(b.size() == 1);
  CHECK(b.captions == std::vector<std::string>{full[0].captions[2]});
  CHECK(b.video.shape() == Shape{1, 4, 3, 48, 48});
  CHECK(b.video_mask.shape() == Shape{1, 4});
  const size_t row = size_t(4) * 3 * 48 * 48;
  CHECK(std::memcmp(b.video.data<float>(), full[0].video.data<float>() + 2 * row, row * sizeof(float)) == 0);
  CHECK(std::memcmp(b.input_ids.data<int64_t>(), full[0].input_ids.data<int64_t>() + 2 * 16, 16 * sizeof(int64_t)) == 0);
  CHECK(b.video_mask.to_vector<int64_t>() == std::vector<int64_t>(4, 1));
  CHECK(same_batches(std::vector<Batch>(dropped.begin() + 1, dropped.end()),
                     std::vector<Batch>(full.begin() + 1, full.end())));
  o.threads = 3;
  Loader three(*d, o, byte_encoder);
  CHECK(same_batches(all_batches(three, 0), dropped));

  // A batch whose every video failed is not handed out: batches of 2 are [broken, zeroed_start], ...
  o.batch_size = 2;
  Loader pairs(*d, o, byte_encoder);
  const std::vector<Batch> two = all_batches(pairs, 0);
  REQUIRE(two.size() == 4);
  CHECK(two[0].items == std::vector<int64_t>{2, 3});
}

TEST_CASE("loader: clips mode visits every clip once, without text", "[loader][video]") {
  auto d = zoo_dataset("loader_clips");
  if (!d) XCLIP_SKIP("../shared is absent: the zoo videos are needed for this test");
  LoaderOptions o = video_options(2);
  o.items = LoaderOptions::clips;
  o.batch_size = 4;
  Loader loader(*d, o);
  auto batches = all_batches(loader, 0);
  REQUIRE(batches.size() == 2);
  CHECK(batches[0].items == std::vector<int64_t>{0, 1, 2, 3});
  CHECK(batches[1].items == std::vector<int64_t>{4, 5, 6});
  CHECK_FALSE(batches[0].input_ids.defined());
  CHECK(batches[1].video.shape() == Shape{3, 4, 3, 48, 48});
}

TEST_CASE("loader: options are checked", "[loader][errors]") {
  Dataset d = text_dataset(3);
  LoaderOptions o;
  CHECK_THROWS_WITH(Loader(d, o), Catch::Contains("text encoder"));
  o.batch_size = 0;
  CHECK_THROWS_WITH(Loader(d, o, byte_encoder), Catch::Contains("batch_size"));
  o.batch_size = 2;
  o.world_size = 2;
  o.rank = 3;
  CHECK_THROWS_WITH(Loader(d, o, byte_encoder), Catch::Contains("rank 3"));
  o.rank = 0;
  o.with_video = false;
  Loader loader(d, o, [](const std::string&, int) { return EncodedText{{1, 2}, {1, 1}}; });
  loader.start_epoch(0);
  CHECK_THROWS_WITH(loader.next(), Catch::Contains("text encoder returned 2 ids"));
  Loader unstarted(d, o, byte_encoder);
  CHECK_THROWS_WITH(unstarted.next(), Catch::Contains("start_epoch"));
}

TEST_CASE("loader: video buffers of dropped batches are reused, held ones never", "[loader][video]") {
  auto d = zoo_dataset("loader_reuse");
  if (!d) XCLIP_SKIP("../shared is absent: the zoo videos are needed for this test");
  LoaderOptions o = video_options(2);
  o.prefetch_batches = 1;
  Loader reference_loader(*d, o, byte_encoder);
  const std::vector<Batch> reference = all_batches(reference_loader, 0);  // every batch held
  REQUIRE(reference.size() == 3);

  Loader loader(*d, o, byte_encoder);
  std::set<const void*> seen;
  bool reused = false;
  std::optional<Batch> held;  // the first batch of epoch 1 stays with the consumer throughout
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    loader.start_epoch(epoch);
    int64_t i = 0;
    while (auto b = loader.next()) {
      INFO("epoch " << epoch << " batch " << i);
      CHECK(same_bytes(b->video, reference[size_t(i)].video));
      CHECK(same_bytes(b->video_mask, reference[size_t(i)].video_mask));
      reused = reused || seen.count(b->video.raw_data()) > 0;
      seen.insert(b->video.raw_data());
      if (epoch == 1 && i == 0) held = std::move(b);
      ++i;
    }
  }
  CHECK(reused);
  REQUIRE(held.has_value());
  CHECK(same_bytes(held->video, reference[0].video));  // not overwritten by later batches
}
