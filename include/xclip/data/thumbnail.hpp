// Small JPEG pictures of a decoded video for the search index (data/image.hpp encode_jpeg): a thumbnail of
// its middle sampled frame and a strip of all its sampled frames side by side (the HTML page's
// frame axis). The frames are the model's centre crops (VideoFrames::rgb), box-filtered down.
#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

#include "xclip/data/video.hpp"

namespace xclip::data {

// A square RGB frame of side `size` box-filtered to side `target` (copied when target >= size).
std::vector<uint8_t> shrink_square(const uint8_t* rgb, int size, int target);

// Writes thumb (the middle real frame, side <= thumb_px) and strip (every real frame, each of
// side <= strip_px, left to right), each atomically. Throws for a video without frames.
void write_video_thumbnails(const VideoFrames& v, const std::filesystem::path& thumb,
                            const std::filesystem::path& strip, int thumb_px = 128, int strip_px = 64);

}  // namespace xclip::data
