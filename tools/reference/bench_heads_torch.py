"""Times the X-CLIP heads of xclip_reference.py (forward + backward) for bench/bench_heads.cpp.

Called by bench_heads (never by a test); can also be run by hand:
    /usr/bin/python3 tools/reference/bench_heads_torch.py --threads 2 --reps 5 --batch 64

The heads are XCLIP.features + XCLIP.similarity of xclip_reference.py (seqTransf temporal encoder,
normalisations, the four contrasts with AOSM as the official code computes them) and the symmetric
CrossEn, in float32 (the reference runs in float64 for its bundles; here its DTYPE is set to
float32), from random CLIP features that require grad, as in training. The CLIP towers of the
reference model are built tiny and never run: only clip.logit_scale is used.

Prints one JSON object: versions, threads, per repetition forward / backward / total ms, and the
memory of the first step (growth of VmHWM above the RSS before it) and the process's peak RSS in MiB.
"""
import argparse
import ctypes
import json
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xclip_reference as ref  # noqa: E402


def set_openblas_threads(n):
    # torch.set_num_threads sets OpenMP threads only; OpenBLAS (pthread build) keeps its own count.
    try:
        ctypes.CDLL("libopenblas.so.0").openblas_set_num_threads(ctypes.c_int(n))
    except (OSError, AttributeError):
        pass


def status_mib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def reset_peak_rss():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def build(a):
    ref.DTYPE = torch.float32  # real() converts to this: the whole head in f32
    clip_cfg = dict(ref.CLIP_CFG, embed_dim=a.dim, context=77)
    opt = dict(ref.DEFAULT_OPTIONS, max_words=a.words, max_frames=a.frames, cross_num_hidden_layers=a.layers,
               temporal_heads=a.dim // 64)
    model = ref.XCLIP(clip_cfg, opt, fp16=False).float()
    with torch.no_grad():
        model.clip.logit_scale.fill_(math.log(100.0))
    model.train()
    return model


def make_batch(a):
    g = torch.Generator().manual_seed(3)
    B, L, N, D = a.batch, a.words, a.frames, a.dim
    sentence = torch.randn(B, D, generator=g).requires_grad_()
    words = torch.randn(B, L, D, generator=g).requires_grad_()
    frames = torch.randn(B, N, D, generator=g).requires_grad_()
    word_mask = torch.zeros(B, L, dtype=torch.int64)
    video_mask = torch.zeros(B, N, dtype=torch.int64)
    for i in range(B):  # the same lengths as bench_heads.cpp
        word_mask[i, : 3 + (i * 7) % (L - 2)] = 1
        video_mask[i, : max(1, N - i % 4)] = 1
    return sentence, words, frames, word_mask, video_mask


def step(model, batch):
    sentence, words, frames, word_mask, video_mask = batch
    t0 = time.perf_counter()
    f = model.features(sentence, words, frames, video_mask)
    logits, _ = model.similarity(f, word_mask, video_mask)
    loss = (ref.cross_en(logits) + ref.cross_en(logits.t())) / 2
    t1 = time.perf_counter()
    loss.backward()
    t2 = time.perf_counter()
    return (t1 - t0) * 1e3, (t2 - t1) * 1e3


def zero_grads(model, batch):
    model.zero_grad(set_to_none=True)
    for t in batch[:3]:
        t.grad = None


def main():
    p = argparse.ArgumentParser()
    for name, default in (("threads", 2), ("reps", 5), ("batch", 64), ("words", 32), ("frames", 12), ("dim", 512),
                          ("layers", 4)):
        p.add_argument("--" + name, type=int, default=default)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    set_openblas_threads(a.threads)
    model, batch = build(a), make_batch(a)
    # Memory of the first step (as bench_heads measures its own in a fresh process).
    baseline = status_mib("VmRSS")
    peak_before = status_mib("VmHWM")
    reset_peak_rss()
    step(model, batch)
    step_peak = status_mib("VmHWM") - baseline
    for _ in range(2):  # warm-up
        zero_grads(model, batch)
        step(model, batch)
    fwd, bwd = [], []
    for _ in range(a.reps):
        zero_grads(model, batch)
        f, b = step(model, batch)
        fwd.append(f)
        bwd.append(b)
    out = dict(torch=torch.__version__, threads=torch.get_num_threads(), forward_ms=fwd, backward_ms=bwd,
               total_ms=[f + b for f, b in zip(fwd, bwd)], step_peak_mib=step_peak, rss_before_mib=baseline,
               process_peak_mib=max(peak_before, status_mib("VmHWM")),
               heads="xclip_reference.XCLIP.features + similarity + CrossEn, seqTransf "
                     f"{a.layers} layers x {a.dim // 64} heads, f32")
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
