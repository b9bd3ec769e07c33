"""One X-CLIP training step through our PyTorch reference, for bench/bench_train_step.cpp.

Called by bench_train_step (never by a test); can also be run by hand:
    python3 tools/reference/bench_train_step_torch.py --device cuda --batches 128 [--tf32] [--bf16]
    python3 tools/reference/bench_train_step_torch.py --device cpu --batches 2 --small --steps 2

The model is xclip_reference.XCLIP (f32: its DTYPE set to float32; OpenAI CLIP's 64-wide heads) at
ViT-B/32 shapes (--small: the tiny CLIP of bench_train_step --small), 32 words, 12 frames, the
official heads (seqTransf with 4 layers, the four contrasts with AOSM). The step is the training
loop's: forward, symmetric CrossEn, loss.item(), backward, clip_grad_norm_(1.0), BertAdam
(optimizer_reference.BertAdam, written from the spec: per-parameter clipping, no bias correction)
over the four prep_optimizer groups (lr 1e-4, coef_lr 1e-3, weight decay 0.2, warmup_cosine over
1000 steps), logit_scale clamped to ln 100. CLIP layers frozen as --freeze_layer_num (the rule of
train::freeze_clip_layers). Random weights and inputs (8 distinct clips repeated, every frame
valid; captions of 5..25 words), made on the device before timing.

--bf16: torch.autocast(dtype=torch.bfloat16) around the two CLIP towers and the temporal encoder
(their outputs .float()), the head, loss and optimizer in f32 with f32 parameters: the region
bench_train_step --bf16 autocasts (ClipPrecision::bf16_autocast).

Timing: --warmup steps, then up to --steps steps (stopping once --budget seconds are spent), each
ended by torch.cuda.synchronize() and timed with time.perf_counter; the median is reported.
Memory: torch.cuda.max_memory_allocated() over the timed steps (reset after the warm-up); on the
CPU the process's VmHWM. --batches 300,256,...: the first batch whose first step fits (CUDA out of
memory caught, empty_cache between tries).

Prints one JSON object on its last stdout line ({"error": ...} when it cannot run).
"""
import argparse
import gc
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


def clip_config(small):
    if small:  # bench_train_step --small: widths 64, 2 layers, 32 px frames with patch 8, heads 32 wide
        return dict(embed_dim=64, vision_width=64, vision_layers=2, patch=8, resolution=32, text_width=64,
                    text_layers=2, vocab=49408, context=77), 32
    return dict(embed_dim=512, vision_width=768, vision_layers=12, patch=32, resolution=224, text_width=512,
                text_layers=12, vocab=49408, context=77), 64


def freeze(model, layer_num):
    """train::freeze_clip_layers: every CLIP parameter but the top ones and resblocks >= layer_num."""
    if layer_num < 0:
        return
    keep = ("ln_final.", "text_projection", "logit_scale", "visual.ln_post.", "visual.proj")
    for name, p in model.clip.named_parameters():
        if name.startswith(keep):
            continue
        if name.startswith("visual.transformer.resblocks.") or name.startswith("transformer.resblocks."):
            if int(name.split(".resblocks.")[1].split(".")[0]) >= layer_num:
                continue
        p.requires_grad_(False)


def param_groups(model, lr=1e-4, coef_lr=1e-3, weight_decay=0.2):
    """main_xclip.py prep_optimizer: decay/no-decay × clip/other."""
    no_decay = ("bias", "LayerNorm.bias", "LayerNorm.weight")
    named = list(model.named_parameters())
    nd = lambda n: any(k in n for k in no_decay)  # noqa: E731
    cl = lambda n: "clip." in n  # noqa: E731
    return [
        dict(params=[p for n, p in named if not nd(n) and cl(n)], lr=lr * coef_lr, weight_decay=weight_decay),
        dict(params=[p for n, p in named if not nd(n) and not cl(n)], lr=lr, weight_decay=weight_decay),
        dict(params=[p for n, p in named if nd(n) and cl(n)], lr=lr * coef_lr, weight_decay=0.0),
        dict(params=[p for n, p in named if nd(n) and not cl(n)], lr=lr, weight_decay=0.0),
    ]


def randomize(torch, model, matrices):
    """CLIP-like random weights (the values do not change the work)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in matrices:
                p.copy_(torch.eye(p.shape[0]))
            elif name.endswith("logit_scale"):
                p.fill_(math.log(1 / 0.07))
            elif name.endswith("bias"):
                p.zero_()
            elif p.dim() == 1 and ("ln" in name or "LayerNorm" in name):
                p.fill_(1.0)
            else:
                p.normal_(0, max(p.shape[-1], 1) ** -0.5 if p.dim() > 1 else 0.02)


def make_inputs(torch, B, L, N, R, vocab, device):
    g = torch.Generator(device="cpu").manual_seed(1234)
    ids = torch.zeros(B, L, dtype=torch.int64, device="cpu")
    att = torch.zeros(B, L, dtype=torch.int64, device="cpu")
    for b in range(B):
        n = 5 + int(torch.randint(0, max(1, L - 7), (1,), generator=g, device="cpu"))
        ids[b, 0] = vocab - 2
        ids[b, 1:n + 1] = torch.randint(1, vocab - 2, (n,), generator=g, device="cpu")
        ids[b, n + 1] = vocab - 1
        att[b, :n + 2] = 1
    distinct = min(B, 8)
    clips = torch.randn(distinct, N, 3, R, R, generator=g, device="cpu").to(device)
    video = clips.repeat((B + distinct - 1) // distinct, 1, 1, 1, 1)[:B].contiguous()
    return dict(input_ids=ids.to(device), attention_mask=att.to(device), video=video,
                video_mask=torch.ones(B, N, dtype=torch.int64, device=device))


def is_oom(torch, e):
    return isinstance(e, getattr(torch.cuda, "OutOfMemoryError", ())) or "out of memory" in str(e)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", choices=["cpu", "cuda"])
    parser.add_argument("--batches", default="128", help="comma-separated; the first that fits is timed")
    parser.add_argument("--tf32", action="store_true")
    parser.add_argument("--bf16", action="store_true", help="autocast the encoders to bfloat16")
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--budget", type=float, default=120.0)
    parser.add_argument("--freeze_layer_num", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    a = parser.parse_args()
    try:
        import torch
    except ImportError as e:
        print(json.dumps({"error": f"cannot import torch: {e}"}))
        return 0
    if a.device == "cuda" and not torch.cuda.is_available():
        print(json.dumps({"error": f"torch {torch.__version__}: torch.cuda.is_available() is False"}))
        return 0
    sys.path.insert(0, HERE)
    import xclip_reference as ref  # noqa: E402
    from optimizer_reference import BertAdam  # noqa: E402

    if a.threads > 0:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    cuda = a.device == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = a.tf32
        torch.backends.cudnn.allow_tf32 = a.tf32
        # The reference makes helper tensors (class-token zeros, masks, positions) without a device.
        if hasattr(torch, "set_default_device"):
            torch.set_default_device("cuda")
        else:
            torch.set_default_tensor_type(torch.cuda.FloatTensor)

    def sync():
        if cuda:
            torch.cuda.synchronize()

    clip_cfg, head_width = clip_config(a.small)
    ref.DTYPE = torch.float32
    ref.HEAD_WIDTH = head_width
    D = clip_cfg["embed_dim"]
    L, N = 32, 12
    opt = dict(ref.DEFAULT_OPTIONS, max_words=L, max_frames=N, cross_num_hidden_layers=4,
               temporal_heads=max(1, D // 64), batch_size_val=40)
    torch.manual_seed(42)
    model = ref.XCLIP(clip_cfg, opt, fp16=False).to(device)
    randomize(torch, model, ref.MATRICES)
    freeze(model, a.freeze_layer_num)
    model.train()
    optimizer = BertAdam(param_groups(model), lr=1e-4, warmup=0.1, t_total=1000.0, schedule="warmup_cosine",
                         b1=0.9, b2=0.98, e=1e-6, weight_decay=0.2, max_grad_norm=1.0)
    params = list(model.parameters())

    def encoders_autocast():
        return torch.autocast(device_type=a.device, dtype=torch.bfloat16, enabled=a.bf16)

    temporal_f32 = model.temporal

    def temporal(visual_output, video_mask):
        with encoders_autocast():
            return temporal_f32(visual_output, video_mask).float()

    model.temporal = temporal

    def step(inp):
        optimizer.zero_grad(set_to_none=True)
        with encoders_autocast():
            sequence_output, seq_features = model.get_sequence_output(inp["input_ids"])
            visual_output = model.get_visual_output(inp["video"])
        sequence_output, seq_features, visual_output = sequence_output.float(), seq_features.float(), visual_output.float()
        f = model.features(sequence_output, seq_features, visual_output, inp["video_mask"])
        logits, _ = model.similarity(f, inp["attention_mask"], inp["video_mask"])
        loss = (ref.cross_en(logits) + ref.cross_en(logits.t())) / 2
        value = loss.item()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        model.clip.logit_scale.data.clamp_(max=math.log(100.0))
        return value

    tries, losses, inp, B = [], [], None, 0
    for b in [int(x) for x in a.batches.split(",") if x]:
        try:
            inp = make_inputs(torch, b, L, N, clip_cfg["resolution"], clip_cfg["vocab"], device)
            losses.append(step(inp))
            B = b
            tries.append(dict(batch=b, fits=True))
            break
        except RuntimeError as e:  # torch.cuda.OutOfMemoryError is a RuntimeError
            if not is_oom(torch, e):
                raise
            tries.append(dict(batch=b, fits=False, error=str(e).splitlines()[0]))
        inp, losses = None, []
        optimizer.zero_grad(set_to_none=True)
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
    if B == 0:
        print(json.dumps({"error": "PyTorch: no batch size fits in device memory", "batch_tries": tries}))
        return 0
    for _ in range(a.warmup - 1):
        losses.append(step(inp))
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    ms, t_start = [], time.perf_counter()
    for _ in range(a.steps):
        t0 = time.perf_counter()
        losses.append(step(inp))
        sync()
        ms.append((time.perf_counter() - t0) * 1e3)
        if time.perf_counter() - t_start > a.budget:
            break
    med = statistics.median(ms)
    print(json.dumps(dict(
        torch=torch.__version__, cuda=torch.version.cuda,
        device_name=torch.cuda.get_device_name() if cuda else "CPU, %d thread(s)" % torch.get_num_threads(),
        tf32=bool(cuda and a.tf32), bf16_autocast=a.bf16, batch=B, batch_tries=tries, warmup_steps=a.warmup, timed_steps=len(ms),
        ms_per_step_median=med, ms_per_step_mean=sum(ms) / len(ms), ms_per_step=ms, clips_per_s=B / (med * 1e-3),
        peak_memory_mib=torch.cuda.max_memory_allocated() / 2**20 if cuda else status_mib("VmHWM"),
        memory="torch.cuda.max_memory_allocated()" if cuda else "process peak RSS (VmHWM)",
        losses=losses)))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # reported to the C++ side, which prints it
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        sys.exit(1)
