// A synthetic video-text retrieval dataset in the MSR-VTT layout, with real video files encoded
// through libavcodec: coloured shapes on a plain background that move left / right / up / down,
// grow or shrink, with captions such as "a red circle moves to the left on a black background".
//
// The split holds out whole attribute combinations: a test video's (colour, shape, motion,
// background) never occurs in training, while every single value does. Test combinations come
// in pairs that differ only in the direction of the motion (left/right, up/down, grow/shrink), so
// text-to-video retrieval on the test set is only solved by a model that uses frame order.
//
//   SynthOptions o;  o.out = "synth";  o.train = 800;  o.test = 100;
//   SynthSummary s = write_synth_dataset(o);
//
// Written (what read_dataset(kind msrvtt) and the original dataloader read):
//   out/MSRVTT_data.json          {"info", "videos": [{video_id, id, split, attributes, ...}],
//                                  "sentences": [{video_id, caption, sen_id}]}
//   out/MSRVTT_train.9k.csv       video_id
//   out/MSRVTT_JSFUSION_test.csv  key, vid_key, video_id, sentence (one caption per test video)
//   out/videos/{video_id}.mp4     video0 ... video{train+test-1}: training first, then test
// Every file is written under a temporary name and renamed; the annotation files are written
// after all videos, so a folder with MSRVTT_data.json holds a complete dataset.
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace xclip::data {

// ---- video encoding (reusable) ------------------------------------------------------------------

struct VideoEncoding {
  // FFmpeg encoder name, or "auto": libx264 when this FFmpeg has it, else mpeg4 (always built).
  std::string codec = "auto";
  int gop = 0;      // frames between keyframes; 0 = fps (one a second, cheap per-second seeks)
  int threads = 1;  // encoder threads; 1 keeps the output byte-identical from run to run
};

// The encoder write_video uses for `requested` ("auto" resolved). Throws xclip::Error when this
// FFmpeg build has no such video encoder.
std::string resolve_video_encoder(const std::string& requested);

// Encodes packed RGB24 frames [frames, height, width, 3] at `fps` frames per second into `path`
// (the container follows the extension: .mp4, .mkv, .avi, ...), as yuv420p with constant frame
// durations. Written to a temporary name in the same folder, then renamed. Width and height must
// be even. Throws xclip::Error naming the file and the FFmpeg error.
void write_video(const std::filesystem::path& path, const uint8_t* rgb, int frames, int width, int height, int fps,
                 const VideoEncoding& encoding = {});
// The same with frames = rgb.size() / (width * height * 3).
void write_video(const std::filesystem::path& path, const std::vector<uint8_t>& rgb, int width, int height, int fps,
                 const VideoEncoding& encoding = {});

// ---- the scenes ---------------------------------------------------------------------------------

enum class SynthMotion { left, right, up, down, grow, shrink };

// Indices into the name tables below.
struct SynthCombo {
  int colour = 0, shape = 0, motion = 0, background = 0;
  bool operator==(const SynthCombo&) const = default;
  auto operator<=>(const SynthCombo&) const = default;
};

const std::vector<std::string>& synth_colour_names();      // red, green, blue, yellow, purple, orange
const std::vector<std::string>& synth_shape_names();       // circle, square, triangle, diamond
const std::vector<std::string>& synth_motion_names();      // left, right, up, down, grow, shrink
const std::vector<std::string>& synth_background_names();  // black, grey, white
// RGB of a colour / background index.
std::array<uint8_t, 3> synth_colour_rgb(int colour);
std::array<uint8_t, 3> synth_background_rgb(int background);

// One video: what is shown and how it moves. Positions and sizes are fractions of the frame side;
// the shape's centre and size are interpolated linearly from the first to the last frame.
struct SynthVideo {
  std::string video_id;
  bool test = false;
  SynthCombo combo;
  double x0 = 0.5, y0 = 0.5, x1 = 0.5, y1 = 0.5;  // centre at the first / last frame
  double r0 = 0.1, r1 = 0.1;                      // half size at the first / last frame
  std::vector<std::string> captions;              // captions[0] is the canonical phrasing
};

// ---- the dataset --------------------------------------------------------------------------------

struct SynthProgress {
  int done = 0, total = 0;
  double elapsed_sec = 0;
};

struct SynthOptions {
  std::filesystem::path out;
  int train = 800;      // training videos
  int test = 100;       // test videos (held-out combinations, pairwise distinct captions)
  int size = 64;        // frame side in pixels (even)
  int fps = 4;          // frames per second; 1-frame-per-second sampling then takes frames 0, fps, 2 fps...
  int seconds = 8;      // video length
  uint64_t seed = 0;    // same seed and options -> byte-identical files
  int threads = 0;      // videos encoded at once; 0 = the machine's cores
  std::string codec = "auto";
  int captions_per_video = 5;  // phrasings per video in MSRVTT_data.json (1..5)
  // Called after each video is written (from worker threads, one call at a time).
  std::function<void(const SynthProgress&)> progress;
};

struct SynthSummary {
  int train = 0, test = 0;
  int64_t sentences = 0;
  int frames_per_video = 0;
  uint64_t bytes = 0;   // all files written
  double seconds = 0;   // wall time
  std::string codec;
};

// Checks the options (throws xclip::Error with the option's name) and decides every video: the
// split, the attributes, the motion and the captions. Deterministic in the options.
std::vector<SynthVideo> plan_synth_dataset(const SynthOptions& options);

// The frames of one video, packed RGB24 [fps * seconds, size, size, 3].
std::vector<uint8_t> render_synth_video(const SynthVideo& video, const SynthOptions& options);

// Plans, renders, encodes and writes the whole dataset into options.out (created if needed).
SynthSummary write_synth_dataset(const SynthOptions& options);

}  // namespace xclip::data
