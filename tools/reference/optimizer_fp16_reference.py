"""Reference trajectories for the original's BertAdam running on fp16 CLIP parameters (the
"official fp16" precision of xclip-spec-detailed.md §3.2): fp16 weights, fp16 gradients, fp16
moments (zeros_like of an fp16 parameter), every elementwise op producing an fp16 tensor.

Run offline with Debian's PyTorch (never at test time):
    /usr/bin/python3 tools/reference/optimizer_fp16_reference.py tests/fixtures/reference/optimizer_fp16.safetensors

Which kernels: the published numbers were trained with PyTorch 1.7 on CUDA. Its fp16 kernels do
all arithmetic in at::Half: a Python-float operand or Scalar (b1, 1-b1, e, wd, lr_t, alpha/value)
is converted to Half first (TensorIterator casts CPU scalars only on CPU, but the 1.7 CUDA
kernels read them with scalar_value<scalar_t> / Scalar::to<scalar_t>()), and every Half binary
operator computes in f32 and rounds to Half. Debian's torch 1.13 CPU kernels do the same for the
ops below (checked bit for bit on 200k random fp16 operands: mul by a Python float rounds the
float to fp16 and the product once; add_(x, alpha) rounds alpha, alpha*x, then the sum; div and
add of two fp16 tensors round once). Three ops differ or are missing on the 1.13 CPU and are
written here as the 1.7 CUDA kernel computes them, with 1.13 CPU Half ops:
  * addcmul_(g, g, value) has no CPU Half kernel; CUDA 1.7 computes `a + alpha*b*c` in Half:
    v.add_(g.mul(value).mul(g))  (alpha*g rounded, *g rounded, v+ rounded).
  * sqrt has no CPU Half kernel; CUDA: ::sqrt(float(a)) rounded:  v.float().sqrt().half().
  * torch.norm of an fp16 tensor accumulates in Half on the 1.13 CPU (checked: it equals a
    sequential Half sum of Half squares), CUDA accumulates in f32 and rounds the result; we take
    the exact (float64) norm rounded to fp16 -- equal to CUDA's unless its f32 sum lands within
    one f32 ulp of an fp16 rounding boundary. The rest of clip_grad_norm_ (1.7 code: total+1e-6,
    max_norm/total = reciprocal*max_norm, `if clip_coef < 1: grad.mul_(clip_coef)`) runs as Half ops.
fp32 parameters run the original code unchanged.

Writes: init.<p>, grad.<step>.<p> (fp16 for fp16 parameters, fed before the step), and for each
variant V: V.step<k>.<p> after k = 1..STEPS steps, V.final_m.<p>, V.final_v.<p>.
"""
import math
import sys

import numpy as np
import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import safetensors_np  # noqa: E402
from optimizer_reference import SCHEDULES  # noqa: E402

STEPS = 20
T_TOTAL = 20.0
WARMUP = 0.1
COMMAND = ("/usr/bin/python3 tools/reference/optimizer_fp16_reference.py "
           "tests/fixtures/reference/optimizer_fp16.safetensors")


def clip_grad_norm_fp16_(p, max_norm):
    """torch 1.7's clip_grad_norm_([p], max_norm) on an fp16 grad, with CUDA's norm (see above)."""
    g = p.grad
    total = torch.linalg.vector_norm(g.double()).float().half()  # norm(stack([n])) == n exactly
    clip_coef = max_norm / (total + 1e-6)  # Half: n + fp16(1e-6), then reciprocal * max_norm
    if clip_coef < 1:
        g.mul_(clip_coef)


class BertAdam(torch.optim.Optimizer):
    """modules/optimization.py's BertAdam (xclip-spec.md §6), op for op."""

    def __init__(self, params, lr, warmup=-1, t_total=-1, schedule="warmup_cosine", b1=0.9, b2=0.98, e=1e-6,
                 weight_decay=0.01, max_grad_norm=1.0):
        defaults = dict(lr=lr, schedule=schedule, warmup=warmup, t_total=t_total, b1=b1, b2=b2, e=e,
                        weight_decay=weight_decay, max_grad_norm=max_grad_norm)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                half = p.dtype == torch.half
                grad = p.grad
                assert grad.dtype == p.dtype
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = 0
                    state["next_m"] = torch.zeros_like(p)  # fp16 for an fp16 parameter
                    state["next_v"] = torch.zeros_like(p)
                next_m, next_v = state["next_m"], state["next_v"]
                if group["max_grad_norm"] > 0:
                    if half:
                        clip_grad_norm_fp16_(p, group["max_grad_norm"])
                    else:
                        torch.nn.utils.clip_grad_norm_(p, group["max_grad_norm"])
                next_m.mul_(group["b1"]).add_(grad, alpha=1 - group["b1"])
                if half:
                    next_v.mul_(group["b2"]).add_(grad.mul(1 - group["b2"]).mul(grad))  # CUDA addcmul_
                    update = next_m / (next_v.float().sqrt().half() + group["e"])  # CUDA sqrt
                else:
                    next_v.mul_(group["b2"]).addcmul_(grad, grad, value=1 - group["b2"])
                    update = next_m / (next_v.sqrt() + group["e"])
                if group["weight_decay"] > 0.0:
                    update += group["weight_decay"] * p.data
                if group["t_total"] != -1:
                    progress = state["step"] / group["t_total"]
                    lr_scheduled = group["lr"] * SCHEDULES[group["schedule"]](progress, group["warmup"])
                else:
                    lr_scheduled = group["lr"]
                update_with_lr = lr_scheduled * update
                p.data.add_(-update_with_lr)
                state["step"] += 1


def log_uniform(g, shape, lo, hi):
    """Random signs, magnitudes 10**U(lo, hi): mixes the two fp16 regimes within one tensor."""
    mag = 10.0 ** (lo + (hi - lo) * torch.rand(*shape, generator=g, dtype=torch.float64))
    sign = torch.randint(0, 2, shape, generator=g).double() * 2 - 1
    return mag * sign


def make_problem(seed=11):
    g = torch.Generator().manual_seed(seed)
    init = {
        "clip.small.w": torch.randn(8, 8, generator=g, dtype=torch.float64) * 0.02,
        "clip.large.w": torch.randn(6, 8, generator=g, dtype=torch.float64) * 0.02,
        "clip.mixed.w": torch.randn(5, 7, generator=g, dtype=torch.float64) * 0.02,
        "clip.mixed.bias": torch.randn(9, generator=g, dtype=torch.float64) * 0.01,
        "clip.frozen.w": torch.randn(3, generator=g, dtype=torch.float64) * 0.02,
        "head.w": torch.randn(4, 3, generator=g, dtype=torch.float64) * 0.5,
    }
    init["clip.large.w"][0] *= 0.005  # |w| < 2.4e-4: steps of ~1e-7 survive fp16 rounding there
    init = {k: v.half() if k.startswith("clip.") else v.float() for k, v in init.items()}
    grads = []
    for step in range(STEPS):
        gs = {
            # |g| ~ 1e-4: 0.02 g^2 < 2^-25, v stays 0 (regime 2 of §3.2)
            "clip.small.w": torch.randn(8, 8, generator=g, dtype=torch.float64) * 1e-4,
            # |g| ~ 0.05, every fourth step ~2 per element: the per-parameter clip acts
            "clip.large.w": torch.randn(6, 8, generator=g, dtype=torch.float64) * (2.0 if step % 4 == 3 else 0.05),
            "clip.mixed.w": log_uniform(g, (5, 7), -6.5, -0.5),
            "clip.mixed.bias": log_uniform(g, (9,), -5.0, -1.0),
            "head.w": torch.randn(4, 3, generator=g, dtype=torch.float64) * 0.1,
        }
        gs["clip.mixed.w"][0, :2] = 0.0  # exact zero gradients
        grads.append({k: v.half() if k.startswith("clip.") else v.float() for k, v in gs.items()})
    return init, grads


VARIANTS = {
    # The scripts' setting: CLIP lr 1e-4 * coef_lr 1e-3, warmup_cosine, wd 0.2 on non-bias names.
    "official": dict(lr_clip=1e-7, lr_head=1e-4, t_total=T_TOTAL, schedule="warmup_cosine"),
    # Large enough that the steps of weights with representable v are visible in fp16.
    "lr1e-3": dict(lr_clip=1e-3, lr_head=1e-2, t_total=T_TOTAL, schedule="warmup_linear"),
    "constant": dict(lr_clip=1e-5, lr_head=1e-3, t_total=-1, schedule="warmup_cosine"),
}


def groups_for(params, lr_clip, lr_head):
    decay = lambda n: "bias" not in n  # noqa: E731  (the original's no_decay substring rule)
    clip = lambda n: "clip." in n  # noqa: E731
    return [
        {"params": [params[n] for n in params if clip(n) and decay(n)], "lr": lr_clip, "weight_decay": 0.2},
        {"params": [params[n] for n in params if not clip(n) and decay(n)], "lr": lr_head, "weight_decay": 0.2},
        {"params": [params[n] for n in params if clip(n) and not decay(n)], "lr": lr_clip, "weight_decay": 0.0},
        {"params": [params[n] for n in params if not clip(n) and not decay(n)], "lr": lr_head, "weight_decay": 0.0},
    ]


def run(variant, init, grads):
    cfg = VARIANTS[variant]
    params = {k: v.clone().requires_grad_(True) for k, v in init.items()}
    groups = [g for g in groups_for(params, cfg["lr_clip"], cfg["lr_head"]) if g["params"]]
    opt = BertAdam(groups, lr=cfg["lr_clip"], warmup=WARMUP, t_total=cfg["t_total"], schedule=cfg["schedule"],
                   weight_decay=0.2)
    out = {}
    for step in range(STEPS):
        for k, p in params.items():
            p.grad = grads[step][k].clone() if k in grads[step] else None
        opt.step()
        out.update({f"{variant}.step{step + 1}.{k}": v.detach().numpy().copy() for k, v in params.items()})
    for k, p in params.items():
        if p in opt.state and opt.state[p]:
            assert opt.state[p]["next_m"].dtype == p.dtype
            out[f"{variant}.final_m.{k}"] = opt.state[p]["next_m"].numpy().copy()
            out[f"{variant}.final_v.{k}"] = opt.state[p]["next_v"].numpy().copy()
    return out


def main(path):
    torch.set_num_threads(1)
    init, grads = make_problem()
    tensors = {f"init.{k}": v.numpy() for k, v in init.items()}
    for step, gs in enumerate(grads):
        tensors.update({f"grad.{step}.{k}": v.numpy() for k, v in gs.items()})
    for variant in VARIANTS:
        tensors.update(run(variant, init, grads))
    small_v = tensors["official.final_v.clip.small.w"]
    print(f"official: clip.small.w v == 0 for {np.mean(small_v == 0) * 100:.0f}% of entries")
    safetensors_np.save(path, tensors, {"made_by": COMMAND, "torch": torch.__version__, "steps": STEPS,
                                        "t_total": T_TOTAL, "warmup": WARMUP,
                                        "variants": ";".join(f"{k}={v}" for k, v in VARIANTS.items())})
    print(f"wrote {len(tensors)} tensors to {path}")


if __name__ == "__main__":
    main(sys.argv[1])
