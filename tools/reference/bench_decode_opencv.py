"""The original X-CLIP video pipeline, timed: the baseline of bench/data/bench_decode.cpp.

Called by bench_decode (never by a test), pinned to one CPU with taskset; can be run by hand:
    taskset -c 0 /usr/bin/python3 tools/reference/bench_decode_opencv.py --max-frames 12 --reps 3 \
        ../shared/media/h264_30fps_320x240.mp4

Per video, exactly what the original dataloaders do (dataloaders/rawvideo_util.py
RawVideoExtractorCV2.video_to_tensor at feature_framerate 1, then _get_rawvideo's slice_framepos 2
selection into a zero [max_frames, 3, 224, 224] array):
  cv2.VideoCapture; for every second: cap.set(CAP_PROP_POS_FRAMES, sec * fps); cap.read();
  cv2.cvtColor(BGR2RGB); Image.fromarray(...).convert("RGB"); Resize(224, BICUBIC); CenterCrop(224);
  ToTensor; Normalize(CLIP mean, std); np.stack; np.linspace selection; copy into the padded array.
torchvision is not installed here, so Resize / CenterCrop / ToTensor / Normalize are written with PIL
and numpy as torchvision 0.14 computes them (same size rule, same crop rounding, float32 maths).

OpenCV 4.6's FFmpeg backend has no decoder-thread setting (CAP_PROP_N_THREADS came later), so the
caller pins the process to one CPU; cv2.setNumThreads(1) covers OpenCV's own parallel loops.

Prints one JSON object on stdout: versions, the CPUs this process may run on, and per file the
frames delivered, the frames sampled, a checksum of the tensor and the seconds of every repetition.
"""
import argparse
import json
import os
import sys
import time

import cv2
import numpy as np
from PIL import Image

MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


def resize_short_side(img, size):
    """torchvision.transforms.Resize(size, BICUBIC) on a PIL image (0.14: _compute_resized_output_size,
    unchanged when the size already matches)."""
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    out = (new_short, new_long) if w <= h else (new_long, new_short)
    if out == (w, h):
        return img
    return img.resize(out, Image.BICUBIC)


def center_crop(img, size):
    w, h = img.size
    top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
    return img.crop((left, top, left + size, top + size))


def to_normalised_tensor(img):
    """ToTensor (uint8 HWC -> float32 CHW / 255) then Normalize ((x - mean) / std), in float32."""
    x = np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).astype(np.float32) / np.float32(255)
    return (x - MEAN[:, None, None]) / STD[:, None, None]


def preprocess(img, size):
    return to_normalised_tensor(center_crop(resize_short_side(img, size), size).convert("RGB"))


def video_to_tensor(path, size, sample_fp=1):
    """RawVideoExtractorCV2.video_to_tensor without start/end times."""
    cap = cv2.VideoCapture(path)
    frame_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    fps = int(cap.get(cv2.CAP_PROP_FPS))
    total_duration = (frame_count + fps - 1) // fps
    start_sec, end_sec = 0, total_duration
    interval = fps // sample_fp if sample_fp > 0 else 1
    interval = max(interval, 1)
    inds = list(np.arange(0, fps, interval))[:sample_fp]
    images, ret = [], True
    for sec in np.arange(start_sec, end_sec + 1):
        if not ret:
            break
        sec_base = int(sec * fps)
        for ind in inds:
            cap.set(cv2.CAP_PROP_POS_FRAMES, sec_base + ind)
            ret, frame = cap.read()
            if not ret:
                break
            frame_rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            images.append(preprocess(Image.fromarray(frame_rgb).convert("RGB"), size))
    cap.release()
    return np.stack(images) if images else np.zeros((0, 3, size, size), dtype=np.float32)


def load_video(path, max_frames, size):
    """_get_rawvideo of the MSR-VTT loader: slice_framepos 2 (np.linspace), frame_order 0, zero padding."""
    frames = video_to_tensor(path, size)
    video = np.zeros((max_frames, 3, size, size), dtype=np.float32)
    n = frames.shape[0]
    if n > max_frames:
        frames = frames[np.linspace(0, n - 1, num=max_frames, dtype=int), ...]
    video[: frames.shape[0]] = frames
    return video, min(n, max_frames), n


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--max-frames", type=int, default=12)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("files", nargs="+")
    a = p.parse_args()
    cv2.setNumThreads(1)
    out = {"opencv": cv2.__version__, "numpy": np.__version__, "pillow": Image.__version__,
           "python": sys.version.split()[0], "cpus": sorted(os.sched_getaffinity(0)), "files": {}}
    for path in a.files:
        video, frames, sampled = load_video(path, a.max_frames, a.size)  # warm-up, not timed
        times = []
        for _ in range(a.reps):
            t = time.perf_counter()
            video, frames, sampled = load_video(path, a.max_frames, a.size)
            times.append(time.perf_counter() - t)
        out["files"][os.path.basename(path)] = {"frames": frames, "sampled": sampled,
                                                "checksum": float(video.astype(np.float64).sum()), "seconds": times}
    out["threads_seen"] = len(os.listdir("/proc/self/task"))
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
