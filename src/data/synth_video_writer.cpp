// write_video: packed RGB24 frames -> a video file through libavformat / libavcodec / libswscale.
// Output is byte-identical for identical input (bitexact flags, one encoder thread), so a
// synthetic dataset made twice with one seed is the same dataset.
#include <cstdlib>
#include <mutex>

#include "xclip/core/error.hpp"
#include "xclip/data/synth.hpp"
#include "xclip/io/file_bytes.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}

namespace fs = std::filesystem;

namespace xclip::data {
namespace {

std::string av_error_text(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, buf, sizeof buf);
  return buf;
}

// libx264 prints several informational lines per file at FFmpeg's default log level, which
// would bury the progress line of a dataset of a thousand videos. Keep warnings and errors
// unless the user asked for FFmpeg's log (the decoder honours the same variable).
void quiet_encoder_logs() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (!std::getenv("XCLIP_FFMPEG_LOG") && av_log_get_level() > AV_LOG_WARNING) av_log_set_level(AV_LOG_WARNING);
  });
}

const AVCodec* find_video_encoder(const std::string& name) {
  const AVCodec* c = avcodec_find_encoder_by_name(name.c_str());
  return c && c->type == AVMEDIA_TYPE_VIDEO ? c : nullptr;
}

// yuv420p when the encoder takes it (every common one does), else its first format.
AVPixelFormat choose_pixel_format(const AVCodec* codec) {
  if (!codec->pix_fmts) return AV_PIX_FMT_YUV420P;
  for (const AVPixelFormat* p = codec->pix_fmts; *p != AV_PIX_FMT_NONE; ++p)
    if (*p == AV_PIX_FMT_YUV420P) return *p;
  return codec->pix_fmts[0];
}

// Quality settings: visually clean at tiny sizes; the files stay a few kB. Returns an FFmpeg
// error code (< 0) when the encoder rejects an option.
int set_quality(AVCodecContext* ctx, const std::string& codec_name) {
  if (codec_name == "libx264") {
    int r = av_opt_set(ctx->priv_data, "crf", "18", 0);
    return r < 0 ? r : av_opt_set(ctx->priv_data, "preset", "medium", 0);
  }
  ctx->flags |= AV_CODEC_FLAG_QSCALE;  // constant quantiser instead of the 200 kb/s default
  ctx->global_quality = FF_QP2LAMBDA * 3;
  return 0;
}

// One encode into `tmp`; every resource freed on every path. The caller commits or drops the file.
class Encoder {
 public:
  Encoder(const fs::path& final_path, const fs::path& tmp, int width, int height, int fps, const VideoEncoding& enc)
      : name_(final_path.string()), tmp_(tmp.string()), width_(width), height_(height) {
    const AVOutputFormat* ofmt = av_guess_format(nullptr, name_.c_str(), nullptr);
    if (!ofmt) fail("no FFmpeg container for this file extension", 0);
    int r = avformat_alloc_output_context2(&fmt_, ofmt, nullptr, tmp_.c_str());
    if (r < 0 || !fmt_) fail("cannot create the output container", r);
    fmt_->flags |= AVFMT_FLAG_BITEXACT;  // no version strings or times in the file

    const std::string codec_name = resolve_video_encoder(enc.codec);
    const AVCodec* codec = find_video_encoder(codec_name);
    stream_ = avformat_new_stream(fmt_, nullptr);
    if (!stream_) fail("cannot add a video stream", 0);
    ctx_ = avcodec_alloc_context3(codec);
    if (!ctx_) fail("out of memory allocating the encoder", 0);
    ctx_->width = width;
    ctx_->height = height;
    ctx_->time_base = AVRational{1, fps};
    ctx_->framerate = AVRational{fps, 1};
    ctx_->pix_fmt = choose_pixel_format(codec);
    ctx_->gop_size = enc.gop > 0 ? enc.gop : fps;
    ctx_->max_b_frames = 0;  // presentation order = decoding order: simple, exact per-frame seeks
    ctx_->thread_count = enc.threads;
    ctx_->flags |= AV_CODEC_FLAG_BITEXACT;
    if (fmt_->oformat->flags & AVFMT_GLOBALHEADER) ctx_->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    r = set_quality(ctx_, codec_name);
    if (r < 0) fail(format("the ", codec_name, " encoder rejected the quality options"), r);
    r = avcodec_open2(ctx_, codec, nullptr);
    if (r < 0) fail(format("cannot open the ", codec_name, " encoder at ", width, "x", height), r);
    r = avcodec_parameters_from_context(stream_->codecpar, ctx_);
    if (r < 0) fail("cannot copy the encoder parameters to the stream", r);
    stream_->time_base = ctx_->time_base;
    stream_->avg_frame_rate = ctx_->framerate;

    frame_ = av_frame_alloc();
    packet_ = av_packet_alloc();
    if (!frame_ || !packet_) fail("out of memory", 0);
    frame_->format = ctx_->pix_fmt;
    frame_->width = width;
    frame_->height = height;
    r = av_frame_get_buffer(frame_, 0);
    if (r < 0) fail("cannot allocate a frame", r);
    sws_ = sws_getContext(width, height, AV_PIX_FMT_RGB24, width, height, ctx_->pix_fmt,
                          SWS_BICUBIC | SWS_BITEXACT | SWS_ACCURATE_RND, nullptr, nullptr, nullptr);
    if (!sws_) fail("cannot create the RGB to YUV converter", 0);

    r = avio_open(&fmt_->pb, tmp_.c_str(), AVIO_FLAG_WRITE);
    if (r < 0) fail(format("cannot create the temporary file ", tmp_), r);
    r = avformat_write_header(fmt_, nullptr);
    if (r < 0) fail("cannot write the container header", r);
  }

  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  void add_frame(const uint8_t* rgb, int64_t index) {
    int r = av_frame_make_writable(frame_);
    if (r < 0) fail("cannot make the frame writable", r);
    const uint8_t* src[1] = {rgb};
    const int src_stride[1] = {3 * width_};
    r = sws_scale(sws_, src, src_stride, 0, height_, frame_->data, frame_->linesize);
    if (r != height_) fail(format("RGB to YUV conversion of frame ", index, " failed"), r < 0 ? r : 0);
    frame_->pts = index;
    r = avcodec_send_frame(ctx_, frame_);
    if (r < 0) fail(format("encoder refused frame ", index), r);
    drain();
  }

  void finish() {
    int r = avcodec_send_frame(ctx_, nullptr);
    if (r < 0) fail("cannot flush the encoder", r);
    drain();
    r = av_write_trailer(fmt_);
    if (r < 0) fail("cannot write the container trailer", r);
    r = avio_closep(&fmt_->pb);
    if (r < 0) fail(format("cannot close the temporary file ", tmp_), r);
  }

 private:
  [[noreturn]] void fail(const std::string& what, int code) const {
    std::string msg = format(name_, ": ", what);
    if (code < 0) msg += format(" (", av_error_text(code), ")");
    throw Error(msg);
  }

  // Moves every packet the encoder has ready into the container.
  void drain() {
    for (;;) {
      int r = avcodec_receive_packet(ctx_, packet_);
      if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return;
      if (r < 0) fail("encoding failed", r);
      if (packet_->duration == 0) packet_->duration = 1;  // one frame, in the encoder's time base
      av_packet_rescale_ts(packet_, ctx_->time_base, stream_->time_base);
      packet_->stream_index = stream_->index;
      r = av_interleaved_write_frame(fmt_, packet_);  // takes the packet's reference
      if (r < 0) fail("cannot write a packet", r);
    }
  }

  // The FFmpeg objects, freed by a member's destructor: that also runs when the constructor
  // throws halfway (an encoder that refuses the size), where ~Encoder would not.
  struct Handles {
    AVFormatContext* fmt = nullptr;
    AVStream* stream = nullptr;  // owned by fmt
    AVCodecContext* ctx = nullptr;
    AVFrame* frame = nullptr;
    AVPacket* packet = nullptr;
    SwsContext* sws = nullptr;
    Handles() = default;
    Handles(const Handles&) = delete;
    Handles& operator=(const Handles&) = delete;
    ~Handles() {
      sws_freeContext(sws);
      av_packet_free(&packet);
      av_frame_free(&frame);
      avcodec_free_context(&ctx);
      if (fmt && fmt->pb) avio_closep(&fmt->pb);
      avformat_free_context(fmt);
    }
  };

  std::string name_, tmp_;
  int width_, height_;
  Handles h_;
  AVFormatContext*& fmt_ = h_.fmt;
  AVStream*& stream_ = h_.stream;
  AVCodecContext*& ctx_ = h_.ctx;
  AVFrame*& frame_ = h_.frame;
  AVPacket*& packet_ = h_.packet;
  SwsContext*& sws_ = h_.sws;
};

}  // namespace

std::string resolve_video_encoder(const std::string& requested) {
  if (requested == "auto") {
    if (find_video_encoder("libx264")) return "libx264";
    if (find_video_encoder("mpeg4")) return "mpeg4";
    throw Error("video encoder: this FFmpeg has neither libx264 nor mpeg4; pass an encoder name that it has");
  }
  XCLIP_CHECK(find_video_encoder(requested), "video encoder '", requested,
              "' is not in this FFmpeg build (try 'mpeg4', 'libx264' or 'auto')");
  return requested;
}

void write_video(const fs::path& path, const uint8_t* rgb, int frames, int width, int height, int fps,
                 const VideoEncoding& encoding) {
  XCLIP_CHECK(frames > 0, path.string(), ": write_video needs at least one frame");
  XCLIP_CHECK(width >= 2 && height >= 2 && width % 2 == 0 && height % 2 == 0, path.string(),
              ": width and height must be even and positive for yuv420p, got ", width, "x", height);
  XCLIP_CHECK(fps > 0, path.string(), ": fps must be positive, got ", fps);
  XCLIP_CHECK(encoding.threads >= 0, path.string(), ": encoder threads must be >= 0");
  quiet_encoder_logs();
  io::PendingFile file(path);  // FFmpeg writes the temporary file by name; removed unless committed
  {
    Encoder encoder(path, file.temporary(), width, height, fps, encoding);
    const size_t frame_bytes = size_t(width) * size_t(height) * 3;
    for (int i = 0; i < frames; ++i) encoder.add_frame(rgb + size_t(i) * frame_bytes, i);
    encoder.finish();
  }  // the encoder has closed the file
  file.commit();
}

void write_video(const fs::path& path, const std::vector<uint8_t>& rgb, int width, int height, int fps,
                 const VideoEncoding& encoding) {
  XCLIP_CHECK(width > 0 && height > 0, path.string(), ": bad frame size ", width, "x", height);
  const size_t frame_bytes = size_t(width) * size_t(height) * 3;
  XCLIP_CHECK(!rgb.empty() && rgb.size() % frame_bytes == 0, path.string(), ": ", rgb.size(),
              " bytes are not a whole number of ", width, "x", height, " RGB frames");
  write_video(path, rgb.data(), int(rgb.size() / frame_bytes), width, height, fps, encoding);
}

}  // namespace xclip::data
