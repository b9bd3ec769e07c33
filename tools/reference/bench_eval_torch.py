"""The X-CLIP evaluation from cached CLIP features through our PyTorch reference, for
bench/bench_eval.cpp.

Called by bench_eval (never by a test); can also be run by hand:
    python3 tools/reference/bench_eval_torch.py --device cuda --texts 1000 --videos 1000
    python3 tools/reference/bench_eval_torch.py --device cpu --texts 60 --videos 60 --dim 64

The heads are xclip_reference.XCLIP.features + .similarity (seqTransf temporal encoder with
--layers 4 layers and D / 64 heads, the four contrasts with AOSM as the official code computes
them) in float32, under torch.no_grad() in eval mode; the CLIP towers are built tiny and never run.
Random cached features: sentence [T, D], words [T, L, D], frames [V, N, D], masks (captions of
7..31 words, every frame valid), on the device before timing. Two schedules of the full [T, V]
matrix in blocks of batch_size_val:
  original: main_xclip.py's _run_on_single_gpu: features (temporal encoder included) recomputed
            for every (text block, video block) pair;
  hoisted:  the temporal encoder and the video normalisations once per video block, the text
            normalisations once (what XClipHead::similarity_matrix does).
Timing: --warmup runs, then up to --reps runs (stopping once --budget seconds are spent), each ended
by torch.cuda.synchronize() and timed with time.perf_counter; medians. Memory:
torch.cuda.max_memory_allocated() per schedule (reset before it); on the CPU VmHWM.

Prints one JSON object on its last stdout line ({"error": ...} when it cannot run).
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def status_mib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda", choices=["cpu", "cuda"])
    for name, default in (("texts", 1000), ("videos", 1000), ("words", 32), ("frames", 12), ("dim", 512),
                          ("layers", 4), ("batch_size_val", 40), ("warmup", 2), ("reps", 5), ("threads", 0)):
        p.add_argument("--" + name, type=int, default=default)
    p.add_argument("--budget", type=float, default=60.0)
    p.add_argument("--tf32", action="store_true")
    p.add_argument("--schedules", default="hoisted,original")
    a = p.parse_args()
    try:
        import torch
    except ImportError as e:
        print(json.dumps({"error": f"cannot import torch: {e}"}))
        return 0
    cuda = a.device == "cuda"
    if cuda and not torch.cuda.is_available():
        print(json.dumps({"error": f"torch {torch.__version__}: torch.cuda.is_available() is False"}))
        return 0
    sys.path.insert(0, HERE)
    import xclip_reference as ref  # noqa: E402

    if a.threads > 0:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = a.tf32
        if hasattr(torch, "set_default_device"):  # the reference makes positions / masks without a device
            torch.set_default_device("cuda")
        else:
            torch.set_default_tensor_type(torch.cuda.FloatTensor)

    def sync():
        if cuda:
            torch.cuda.synchronize()

    T, V, L, N, D, bs = a.texts, a.videos, a.words, a.frames, a.dim, a.batch_size_val
    ref.DTYPE = torch.float32
    clip_cfg = dict(ref.CLIP_CFG, embed_dim=D, context=77)
    opt = dict(ref.DEFAULT_OPTIONS, max_words=L, max_frames=N, cross_num_hidden_layers=a.layers,
               temporal_heads=D // 64, batch_size_val=bs)
    torch.manual_seed(42)
    model = ref.XCLIP(clip_cfg, opt, fp16=False).to(device)
    with torch.no_grad():
        for name, t in model.named_parameters():
            if name.startswith("clip."):
                continue
            if name in ref.MATRICES:
                t.copy_(torch.eye(t.shape[0]) + 0.01 * torch.randn(t.shape))
            elif name.endswith("in_proj_weight"):
                torch.nn.init.xavier_uniform_(t)
            elif name.endswith("bias"):
                t.zero_()
            elif "ln_" in name:
                t.fill_(1.0)
            else:
                t.normal_(0, 0.02)
        model.clip.logit_scale.fill_(math.log(100.0))
    model.eval()

    g = torch.Generator(device="cpu").manual_seed(3)
    sentence = torch.randn(T, D, generator=g, device="cpu").to(device)
    words = torch.randn(T, L, D, generator=g, device="cpu").to(device)
    frames = torch.randn(V, N, D, generator=g, device="cpu").to(device)
    att = torch.zeros(T, L, dtype=torch.int64, device="cpu")
    for t in range(T):
        n = 7 + int(torch.randint(0, max(1, L - 7), (1,), generator=g, device="cpu"))
        att[t, :min(n, L)] = 1
    att = att.to(device)
    video_mask = torch.ones(V, N, dtype=torch.int64, device=device)
    tb = [slice(s, min(s + bs, T)) for s in range(0, T, bs)]
    vb = [slice(s, min(s + bs, V)) for s in range(0, V, bs)]

    def original():
        rows = []
        for ts in tb:
            cols = []
            for vs in vb:
                f = model.features(sentence[ts], words[ts], frames[vs], video_mask[vs])
                cols.append(model.similarity(f, att[ts], video_mask[vs])[0])
            rows.append(torch.cat(cols, dim=1))
        return torch.cat(rows, dim=0)

    def hoisted():
        sent = sentence / sentence.norm(dim=-1, keepdim=True)
        wrd = words / words.norm(dim=-1, keepdim=True)
        video = []
        for vs in vb:  # features() also normalises one text, whose outputs are replaced below
            f = model.features(sentence[:1], words[:1], frames[vs], video_mask[vs])
            video.append((vs, f))
        rows = []
        for ts in tb:
            cols = []
            for vs, f in video:
                f = dict(f, sentence_output=sent[ts], word_features=wrd[ts])
                cols.append(model.similarity(f, att[ts], video_mask[vs])[0])
            rows.append(torch.cat(cols, dim=1))
        return torch.cat(rows, dim=0)

    out = dict(torch=torch.__version__, cuda=torch.version.cuda,
               device_name=torch.cuda.get_device_name() if cuda else "CPU, %d thread(s)" % torch.get_num_threads(),
               tf32=bool(cuda and a.tf32))
    results = {}
    with torch.no_grad():
        for name in [s for s in a.schedules.split(",") if s]:
            fn = dict(original=original, hoisted=hoisted)[name]
            for _ in range(a.warmup):
                sim = fn()
            sync()
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            ms, t_start = [], time.perf_counter()
            for _ in range(a.reps):
                t0 = time.perf_counter()
                sim = fn()
                sync()
                ms.append((time.perf_counter() - t0) * 1e3)
                if time.perf_counter() - t_start > a.budget:
                    break
            assert tuple(sim.shape) == (T, V), sim.shape
            out[name] = dict(ms_median=statistics.median(ms), ms=ms, finite=bool(torch.isfinite(sim).all()),
                             peak_memory_mib=torch.cuda.max_memory_allocated() / 2**20 if cuda else status_mib("VmHWM"))
            results[name] = sim
    if "original" in results and "hoisted" in results:  # the two schedules compute the same matrix
        out["max_abs_difference_between_schedules"] = float((results["original"] - results["hoisted"]).abs().max())
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # reported to the C++ side, which prints it
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        sys.exit(1)
