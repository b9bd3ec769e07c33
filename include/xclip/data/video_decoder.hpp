// A thin FFmpeg wrapper for the frame samplers: open a file, seek, decode the next frame in
// presentation order, convert the held frame to RGB. No FFmpeg type appears here; the samplers
// (src/data/video_sampling_*.cpp) reason with plain integers in the stream's time base.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace xclip::data {

inline constexpr int64_t kNoTimestamp = INT64_MIN;  // AV_NOPTS_VALUE

// Identifies where a seek landed: the first video packet the demuxer returns afterwards.
struct PacketKey {
  int64_t pos = -1, dts = kNoTimestamp, pts = kNoTimestamp;
  bool valid = false;
  // The byte position names a packet when the demuxer reports one; DTS may be guessed differently
  // by a demuxer that has not probed the codec, so it is compared only without positions.
  bool operator==(const PacketKey& o) const {
    if (!valid || !o.valid) return false;
    if (pos >= 0 && o.pos >= 0) return pos == o.pos && pts == o.pts;
    return pos == o.pos && dts == o.dts && pts == o.pts;
  }
};

struct StreamFacts {
  int width = 0, height = 0;
  int64_t tb_num = 0, tb_den = 1;     // stream time base
  int64_t start_time = kNoTimestamp;  // stream start, time base units
  double avg_fps = 0, r_fps = 0;      // avg_frame_rate, r_frame_rate
  int64_t nb_frames = 0;              // from the container (0 = unknown)
  double container_duration_sec = 0;  // format duration (AV_TIME_BASE units / 1e6)
  double stream_duration_sec = 0;     // stream duration * time base
  double guessed_fps = 0;             // av_guess_frame_rate (what OpenCV 4.6 reports as CAP_PROP_FPS)
  int rotation = 0;                   // display rotation to apply, degrees clockwise (0/90/180/270)
  // The container's index places video data past the end of the file: the file was cut short.
  bool truncated = false;
  std::string codec, container;
};

class VideoDecoder {
 public:
  // Opens `path` and its first video stream; `threads` FFmpeg decoder threads (0 = auto).
  // Throws xclip::Error naming the file when it cannot be opened or has no decodable video.
  VideoDecoder(const std::string& path, int threads);
  ~VideoDecoder();
  VideoDecoder(const VideoDecoder&) = delete;
  VideoDecoder& operator=(const VideoDecoder&) = delete;

  const std::string& path() const;
  const StreamFacts& facts() const;

  // av_seek_frame(stream, ts, BACKWARD) then flush the decoder; false when the demuxer refused
  // (the position is then unchanged, as with OpenCV, which ignores the result).
  bool seek(int64_t ts);
  // Flushes the decoder without moving the demuxer (OpenCV's "seek" when it does not seek).
  void flush();
  // Decodes the next frame; false at the end of the stream (or after too many errors in a row).
  bool next_frame();
  bool has_frame() const;
  int64_t frames_decoded() const;  // since open, for "no frame could be decoded" reports
  // Timestamps of the held frame (time base units).
  int64_t frame_pts() const;
  int64_t frame_pkt_dts() const;
  int64_t frame_best_effort() const;
  // Damaged data. libavcodec skips a packet it cannot decode and goes on with the next one, so the
  // frame that comes out after a damaged stretch is from a later time (and frames decoded from
  // references that were lost can even carry a stale timestamp of a lost one). Since open or the
  // last seek/flush, once a decoding error was seen, every packet whose timestamp never came out
  // before a later frame did is a lost frame. Counting frames from a seek (OpenCV's numbering) is
  // wrong after one; a time rule's answer may have been the lost frame.
  int64_t lost_frames() const;
  int64_t last_lost_pts() const;  // the latest lost frame's pts (kNoTimestamp when none)
  // The held frame may not show its time's picture: it was decoded with errors (corrupt flag,
  // error concealment), or a frame was lost since the last key frame, so it may have been
  // predicted from a picture that never came out (the decoder does not flag those).
  bool frame_damaged() const;
  // Any decoding error or lost frame since the file was opened (kept across seeks).
  bool damage_seen() const;
  // The first video packet read since open or the last seek (where the seek landed).
  const PacketKey& sequence_key() const;
  // DTS of the last video packet sent to the decoder (kNoTimestamp before any).
  int64_t last_packet_dts() const;

  // Where a seek to `ts` would land, found with a second demuxer so the decoder keeps its place.
  PacketKey landing_of(int64_t ts);

  // The held frame as packed RGB24 [height, width, 3] (swscale, SWS_BICUBIC like OpenCV).
  // `out` is resized as needed; returns the row stride in bytes.
  size_t frame_to_rgb(std::vector<uint8_t>& out);

  // The last FFmpeg error message logged on this thread (for error reports), may be empty.
  static std::string last_log_message();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xclip::data
