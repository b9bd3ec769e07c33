// FFmpeg wrapper: demux the first video stream, decode in presentation order, convert to RGB.
// Robustness rules (a corrupt file must end in a clean error, never a hang): every loop here either
// consumes input (av_read_frame advances through a finite file) or is bounded by an error count.
#include "xclip/data/video_decoder.hpp"

#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <mutex>
#include <set>

#include "xclip/core/error.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libswscale/swscale.h>
}

namespace xclip::data {
namespace {

// Decoder or demuxer errors in a row after which the stream is treated as ended.
constexpr int kMaxConsecutiveErrors = 256;
constexpr int kMaxReadRetries = 4096;

thread_local std::string t_last_log;

// FFmpeg logs from our threads go to a per-thread "last message" (quoted in our errors) and are
// printed only when XCLIP_FFMPEG_LOG is set: a dataset with a few damaged files stays readable.
void log_callback(void* avcl, int level, const char* fmt, va_list args) {
  static const bool print = std::getenv("XCLIP_FFMPEG_LOG") != nullptr;
  if (level > AV_LOG_ERROR && !print) return;
  char line[1024];
  int prefix = 1;
  va_list copy;
  va_copy(copy, args);
  av_log_format_line(avcl, level, fmt, copy, line, sizeof line, &prefix);
  va_end(copy);
  if (level <= AV_LOG_ERROR) {
    t_last_log = line;
    while (!t_last_log.empty() && (t_last_log.back() == '\n' || t_last_log.back() == '\r')) t_last_log.pop_back();
  }
  if (print) std::fputs(line, stderr);
}

void install_log_callback() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_callback(log_callback); });
}

std::string av_error_text(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, buf, sizeof buf);
  return buf;
}

double rational_to_double(AVRational r) { return r.den == 0 ? 0.0 : double(r.num) / double(r.den); }

int first_video_stream(const AVFormatContext* fmt) {
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    const AVStream* st = fmt->streams[i];
    if (st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO && !(st->disposition & AV_DISPOSITION_ATTACHED_PIC))
      return int(i);
  }
  return -1;
}

// Only the video stream's packets are wanted: the demuxer skips the others cheaply.
void discard_other_streams(AVFormatContext* fmt, int video_stream) {
  for (unsigned i = 0; i < fmt->nb_streams; ++i)
    if (int(i) != video_stream) fmt->streams[i]->discard = AVDISCARD_ALL;
}

// OpenCV's auto-orientation angle: -round(display matrix rotation), in [0, 360).
int display_rotation(const AVStream* st) {
  const uint8_t* matrix = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, nullptr);
  if (!matrix) return 0;
  const double degrees = av_display_rotation_get(reinterpret_cast<const int32_t*>(matrix));
  if (std::isnan(degrees)) return 0;
  int angle = -int(std::lround(degrees));
  angle %= 360;
  if (angle < 0) angle += 360;
  return angle;
}

}  // namespace

struct VideoDecoder::Impl {
  std::string path;
  StreamFacts facts;
  AVFormatContext* fmt = nullptr;
  AVFormatContext* probe = nullptr;  // second demuxer for landing_of(); opened on first use
  bool probe_failed = false;
  AVCodecContext* codec = nullptr;
  AVPacket* packet = nullptr;
  AVFrame* frame = nullptr;
  SwsContext* sws = nullptr;
  int video_stream = -1;
  bool held = false;
  bool draining = false;
  bool capture_key = true;
  PacketKey key;
  int64_t last_dts = kNoTimestamp;
  int64_t decoded = 0;
  // Lost-frame accounting since open or the last seek/flush (see lost_frames()).
  std::multiset<int64_t> pending_pts;  // pts of video packets sent whose frame has not come out
  int64_t first_pts = kNoTimestamp;    // the first packet sent since the seek (its key frame)
  bool sequence_started = false;       // a frame came out since the seek
  bool errors_seen = false;            // a packet or frame failed to decode since the seek
  int64_t lost = 0;
  int64_t lost_since_key = 0;          // lost before the held frame and after the last key frame
  int64_t last_lost = kNoTimestamp;
  bool damage_seen = false;            // errors_seen of any sequence so far

  ~Impl() {
    sws_freeContext(sws);
    av_frame_free(&frame);
    av_packet_free(&packet);
    avcodec_free_context(&codec);
    avformat_close_input(&probe);
    avformat_close_input(&fmt);
  }

  [[noreturn]] void fail(const std::string& what, int code) const {
    std::string msg = format(path, ": ", what);
    if (code < 0) msg += format(" (", av_error_text(code), ")");
    throw Error(msg);
  }

  void open(int threads) {
    int r = avformat_open_input(&fmt, path.c_str(), nullptr, nullptr);
    if (r < 0) fail("cannot open as a video", r);
    r = avformat_find_stream_info(fmt, nullptr);
    if (r < 0) fail("cannot read the stream information", r);
    video_stream = first_video_stream(fmt);
    if (video_stream < 0) fail("no video stream", 0);
    discard_other_streams(fmt, video_stream);
    AVStream* st = fmt->streams[video_stream];
    const AVCodec* decoder = avcodec_find_decoder(st->codecpar->codec_id);
    if (!decoder) fail(format("no decoder for codec '", avcodec_get_name(st->codecpar->codec_id), "'"), 0);
    codec = avcodec_alloc_context3(decoder);
    if (!codec) fail("out of memory allocating the decoder", 0);
    r = avcodec_parameters_to_context(codec, st->codecpar);
    if (r < 0) fail("bad codec parameters", r);
    codec->thread_count = threads;
    codec->pkt_timebase = st->time_base;
    r = avcodec_open2(codec, decoder, nullptr);
    if (r < 0) fail(format("cannot open the ", decoder->name, " decoder"), r);
    if (codec->width <= 0 || codec->height <= 0) fail("video stream has no frame size", 0);
    packet = av_packet_alloc();
    frame = av_frame_alloc();
    if (!packet || !frame) fail("out of memory", 0);
    fill_facts(st);
  }

  void fill_facts(AVStream* st) {
    facts.width = codec->width;
    facts.height = codec->height;
    facts.tb_num = st->time_base.num;
    facts.tb_den = st->time_base.den;
    facts.start_time = st->start_time == AV_NOPTS_VALUE ? kNoTimestamp : st->start_time;
    facts.avg_fps = rational_to_double(st->avg_frame_rate);
    facts.r_fps = rational_to_double(st->r_frame_rate);
    facts.nb_frames = st->nb_frames;
    facts.container_duration_sec = fmt->duration == AV_NOPTS_VALUE ? 0.0 : double(fmt->duration) / AV_TIME_BASE;
    facts.stream_duration_sec =
        st->duration == AV_NOPTS_VALUE ? 0.0 : double(st->duration) * rational_to_double(st->time_base);
    facts.guessed_fps = rational_to_double(av_guess_frame_rate(fmt, const_cast<AVStream*>(st), nullptr));
    facts.rotation = display_rotation(st);
    facts.truncated = index_past_end(st);
    facts.codec = avcodec_get_name(st->codecpar->codec_id);
    facts.container = fmt->iformat ? fmt->iformat->name : "";
  }

  // The last entry of the stream's index (mp4's sample table lists every frame) ends past the
  // file's last byte.
  bool index_past_end(AVStream* st) const {
    const int entries = avformat_index_get_entries_count(st);
    const int64_t file_bytes = fmt->pb ? avio_size(fmt->pb) : -1;
    if (entries <= 0 || file_bytes <= 0) return false;
    const AVIndexEntry* last = avformat_index_get_entry(st, entries - 1);
    return last && last->pos >= 0 && last->pos + int64_t(last->size) > file_bytes;
  }

  bool next_frame() {
    held = false;
    int errors = 0, retries = 0;
    for (;;) {
      int r = avcodec_receive_frame(codec, frame);
      if (r == 0) {
        held = true;
        ++decoded;
        account_frame();
        return true;
      }
      if (r == AVERROR_EOF) return false;
      if (r != AVERROR(EAGAIN)) errors_seen = true;
      if (r != AVERROR(EAGAIN) && ++errors > kMaxConsecutiveErrors) return false;
      if (draining) return false;
      r = av_read_frame(fmt, packet);
      if (r == AVERROR(EAGAIN)) {
        if (++retries > kMaxReadRetries) return false;
        continue;
      }
      if (r < 0) {  // end of file or a read error: flush the frames still inside the decoder
        avcodec_send_packet(codec, nullptr);
        draining = true;
        continue;
      }
      if (packet->stream_index != video_stream) {
        av_packet_unref(packet);
        continue;
      }
      if (capture_key) {
        key = PacketKey{packet->pos, packet->dts, packet->pts, true};
        capture_key = false;
      }
      last_dts = packet->dts;
      track_packet();
      r = avcodec_send_packet(codec, packet);
      av_packet_unref(packet);
      if (r < 0 && r != AVERROR(EAGAIN)) errors_seen = true;
      if (r < 0 && r != AVERROR(EAGAIN) && ++errors > kMaxConsecutiveErrors) return false;
    }
  }

  // A packet that should come out as a frame: one with a timestamp that the demuxer does not
  // mark for discarding (edit lists) and that holds data.
  void track_packet() {
    if (packet->pts == AV_NOPTS_VALUE || packet->size <= 0 || (packet->flags & AV_PKT_FLAG_DISCARD)) return;
    if (first_pts == kNoTimestamp) first_pts = packet->pts;
    pending_pts.insert(packet->pts);
  }

  // A frame came out: the packets sent before it with an earlier pts will never come out (frames
  // come out in presentation order), so after a decoding error they are lost frames. Before the
  // first frame since the seek only pictures from the first packet on count (the key frame the
  // seek landed on; its packet's key flag is no help, a parser clears it on damaged data): the
  // pictures before it, an open GOP's leading pictures, have no reference and the decoder drops
  // them on purpose. A frame whose pts was not sent in this sequence (none, or a stale one)
  // proves nothing.
  void account_frame() {
    if (frame->decode_error_flags != 0 || (frame->flags & AV_FRAME_FLAG_CORRUPT)) errors_seen = true;
    damage_seen = damage_seen || errors_seen;
    if (frame->pts == AV_NOPTS_VALUE) return;
    auto it = pending_pts.find(frame->pts);
    if (it == pending_pts.end()) return;
    int64_t earlier = 0;
    if (sequence_started) earlier = int64_t(std::distance(pending_pts.begin(), it));
    else if (first_pts <= *it)
      earlier = int64_t(std::distance(pending_pts.lower_bound(first_pts), it));
    if (earlier > 0 && errors_seen) {
      lost += earlier;
      lost_since_key += earlier;
      last_lost = *std::prev(it);
    }
    // A key frame refers to no other: the pictures after it are whole again.
    if (frame->key_frame) lost_since_key = 0;
    pending_pts.erase(pending_pts.begin(), std::next(it));
    sequence_started = true;
  }

  void reset_sequence() {
    damage_seen = damage_seen || errors_seen;
    pending_pts.clear();
    first_pts = kNoTimestamp;
    sequence_started = false;
    errors_seen = false;
    lost = 0;
    lost_since_key = 0;
    last_lost = kNoTimestamp;
  }

  bool seek(int64_t ts) {
    int r = av_seek_frame(fmt, video_stream, ts, AVSEEK_FLAG_BACKWARD);
    avcodec_flush_buffers(codec);
    held = false;
    draining = false;
    capture_key = true;
    last_dts = kNoTimestamp;
    reset_sequence();
    return r >= 0;
  }

  void flush() {
    avcodec_flush_buffers(codec);
    held = false;
    draining = false;
    capture_key = true;
    reset_sequence();
  }

  bool open_probe() {
    if (probe) return true;
    if (probe_failed) return false;
    if (avformat_open_input(&probe, path.c_str(), nullptr, nullptr) < 0 ||
        int(probe->nb_streams) <= video_stream) {
      avformat_close_input(&probe);
      probe_failed = true;
      return false;
    }
    discard_other_streams(probe, video_stream);
    return true;
  }

  PacketKey landing_of(int64_t ts) {
    if (!open_probe()) return {};
    if (av_seek_frame(probe, video_stream, ts, AVSEEK_FLAG_BACKWARD) < 0) return {};
    AVPacket* p = av_packet_alloc();
    PacketKey k;
    for (int i = 0; i < kMaxReadRetries; ++i) {
      int r = av_read_frame(probe, p);
      if (r == AVERROR(EAGAIN)) continue;
      if (r < 0) break;
      bool video = p->stream_index == video_stream;
      if (video) k = PacketKey{p->pos, p->dts, p->pts, true};
      av_packet_unref(p);
      if (video) break;
    }
    av_packet_free(&p);
    return k;
  }

  size_t frame_to_rgb(std::vector<uint8_t>& out) {
    XCLIP_CHECK(held, path, ": internal: no decoded frame to convert");
    const int w = frame->width, h = frame->height;
    if (w <= 0 || h <= 0 || frame->format < 0) fail("decoded frame has no size or pixel format", 0);
    sws = sws_getCachedContext(sws, w, h, AVPixelFormat(frame->format), w, h, AV_PIX_FMT_RGB24, SWS_BICUBIC,
                               nullptr, nullptr, nullptr);
    if (!sws) fail(format("cannot convert pixel format '", av_get_pix_fmt_name(AVPixelFormat(frame->format)),
                          "' to RGB"), 0);
    const size_t stride = size_t(w) * 3;
    // swscale's SIMD converters write whole vectors, past the last pixel of a row when the width
    // is odd (found by fuzzing: heap corruption after the last row). Convert into a buffer with a
    // row and a vector of slack, then drop the slack (capacity stays, the size is exact).
    out.resize(stride * size_t(h) + stride + 64);
    uint8_t* dst[4] = {out.data(), nullptr, nullptr, nullptr};
    int dst_stride[4] = {int(stride), 0, 0, 0};
    int rows = sws_scale(sws, frame->data, frame->linesize, 0, h, dst, dst_stride);
    out.resize(stride * size_t(h));
    if (rows != h) fail("RGB conversion failed", rows < 0 ? rows : 0);
    return stride;
  }
};

VideoDecoder::VideoDecoder(const std::string& path, int threads) : impl_(std::make_unique<Impl>()) {
  install_log_callback();
  impl_->path = path;
  impl_->open(threads);
}
VideoDecoder::~VideoDecoder() = default;

const std::string& VideoDecoder::path() const { return impl_->path; }
const StreamFacts& VideoDecoder::facts() const { return impl_->facts; }
bool VideoDecoder::seek(int64_t ts) { return impl_->seek(ts); }
void VideoDecoder::flush() { impl_->flush(); }
bool VideoDecoder::next_frame() { return impl_->next_frame(); }
int64_t VideoDecoder::frames_decoded() const { return impl_->decoded; }
bool VideoDecoder::has_frame() const { return impl_->held; }
int64_t VideoDecoder::frame_pts() const { return impl_->held ? impl_->frame->pts : kNoTimestamp; }
int64_t VideoDecoder::frame_pkt_dts() const { return impl_->held ? impl_->frame->pkt_dts : kNoTimestamp; }
int64_t VideoDecoder::frame_best_effort() const {
  return impl_->held ? impl_->frame->best_effort_timestamp : kNoTimestamp;
}
int64_t VideoDecoder::lost_frames() const { return impl_->lost; }
bool VideoDecoder::damage_seen() const { return impl_->damage_seen || impl_->errors_seen; }
int64_t VideoDecoder::last_lost_pts() const { return impl_->last_lost; }
bool VideoDecoder::frame_damaged() const {
  const AVFrame* f = impl_->frame;
  return impl_->held && (f->decode_error_flags != 0 || (f->flags & AV_FRAME_FLAG_CORRUPT) || impl_->lost_since_key > 0);
}
const PacketKey& VideoDecoder::sequence_key() const { return impl_->key; }
int64_t VideoDecoder::last_packet_dts() const { return impl_->last_dts; }
PacketKey VideoDecoder::landing_of(int64_t ts) { return impl_->landing_of(ts); }
size_t VideoDecoder::frame_to_rgb(std::vector<uint8_t>& out) { return impl_->frame_to_rgb(out); }
std::string VideoDecoder::last_log_message() { return t_last_log; }

}  // namespace xclip::data
