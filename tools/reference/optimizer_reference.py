"""Reference trajectories for BertAdam (as modules/optimization.py of the original) and
torch.optim.AdamW, 20 steps in float64 on random tensors, with the training loop's global
grad-norm clipping before each step.

Run offline with Debian's PyTorch (never at test time):
    /usr/bin/python3 tools/reference/optimizer_reference.py tests/fixtures/reference/optimizer.safetensors

Writes: init.<param>, grad.<step>.<param> (grads fed at each step, before any clipping),
and for each variant V in {bert_warmup_cosine, bert_warmup_linear, bert_warmup_constant,
bert_constant_lr, adamw_warmup_cosine}: V.step1.<param> and V.final.<param>.
The BertAdam below is written from the spec (xclip-spec.md §6) and follows the original's op
order: per-parameter clip, m/v update, u = m/(sqrt(v)+e), u += wd*p, lr_t from step/t_total
before the increment, p -= lr_t*u.
"""
import math
import sys

import numpy as np
import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import safetensors_np  # noqa: E402

STEPS = 20
T_TOTAL = 20.0
WARMUP = 0.1


def warmup_cosine(x, warmup):
    return x / warmup if x < warmup else 0.5 * (1.0 + math.cos(math.pi * x))


def warmup_constant(x, warmup):
    return x / warmup if x < warmup else 1.0


def warmup_linear(x, warmup):
    return x / warmup if x < warmup else max((x - 1.0) / (warmup - 1.0), 0)


SCHEDULES = {"warmup_cosine": warmup_cosine, "warmup_linear": warmup_linear, "warmup_constant": warmup_constant}


class BertAdam(torch.optim.Optimizer):
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
                grad = p.grad
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = 0
                    state["next_m"] = torch.zeros_like(p)
                    state["next_v"] = torch.zeros_like(p)
                next_m, next_v = state["next_m"], state["next_v"]
                if group["max_grad_norm"] > 0:
                    torch.nn.utils.clip_grad_norm_(p, group["max_grad_norm"])
                next_m.mul_(group["b1"]).add_(grad, alpha=1 - group["b1"])
                next_v.mul_(group["b2"]).addcmul_(grad, grad, value=1 - group["b2"])
                update = next_m / (next_v.sqrt() + group["e"])
                if group["weight_decay"] > 0.0:
                    update += group["weight_decay"] * p
                if group["t_total"] != -1:
                    progress = state["step"] / group["t_total"]
                    lr_scheduled = group["lr"] * SCHEDULES[group["schedule"]](progress, group["warmup"])
                else:
                    lr_scheduled = group["lr"]
                p.add_(-(lr_scheduled * update))
                state["step"] += 1


def make_problem(seed=7):
    g = torch.Generator().manual_seed(seed)
    shapes = {"clip.w": (4, 3), "clip.bias": (5,), "head.w": (2, 2, 3), "head.bias": (3,), "frozen.w": (2, 2)}
    init = {k: torch.randn(*s, generator=g, dtype=torch.float64) * 0.5 for k, s in shapes.items()}
    grads = []
    for step in range(STEPS):
        gs = {}
        for k, s in shapes.items():
            if k == "frozen.w":
                continue  # never gets a gradient: skipped by the optimizer (as frozen CLIP params)
            # Mix of scales so per-parameter and global clipping both act on some steps.
            scale = [3.0, 0.05, 1e-3, 0.4][(step + len(k)) % 4]
            gs[k] = torch.randn(*s, generator=g, dtype=torch.float64) * scale
        grads.append(gs)
    return init, grads


def groups_for(params, lr_clip, lr_head):
    decay = lambda n: "bias" not in n  # noqa: E731  (the original's no_decay substring rule)
    return [
        {"params": [params[n] for n in params if n.startswith("clip.") and decay(n)], "lr": lr_clip, "weight_decay": 0.2},
        {"params": [params[n] for n in params if not n.startswith("clip.") and decay(n)], "lr": lr_head, "weight_decay": 0.2},
        {"params": [params[n] for n in params if n.startswith("clip.") and not decay(n)], "lr": lr_clip, "weight_decay": 0.0},
        {"params": [params[n] for n in params if not n.startswith("clip.") and not decay(n)], "lr": lr_head, "weight_decay": 0.0},
    ]


def run(variant, init, grads):
    params = {k: v.clone().requires_grad_(True) for k, v in init.items()}
    groups = groups_for(params, lr_clip=1e-2, lr_head=5e-2)
    if variant.startswith("bert"):
        sched = variant[len("bert_"):]
        if sched == "constant_lr":
            opt = BertAdam(groups, lr=1e-2, warmup=WARMUP, t_total=-1, weight_decay=0.2)
        else:
            opt = BertAdam(groups, lr=1e-2, warmup=WARMUP, t_total=T_TOTAL, schedule=sched, weight_decay=0.2)
    else:
        opt = torch.optim.AdamW(groups, lr=1e-2, betas=(0.9, 0.999), eps=1e-8)
        base_lrs = [g["lr"] for g in opt.param_groups]
    out = {}
    for step in range(STEPS):
        for k, p in params.items():
            p.grad = grads[step][k].clone() if k in grads[step] else None
        # The training loop's global clip before the optimizer (main_xclip.py).
        torch.nn.utils.clip_grad_norm_([p for p in params.values() if p.grad is not None], 1.0)
        if variant.startswith("adamw"):
            for g, base in zip(opt.param_groups, base_lrs):
                g["lr"] = base * warmup_cosine(step / T_TOTAL, WARMUP)
        opt.step()
        if step == 0:
            out.update({f"{variant}.step1.{k}": v.detach().numpy().copy() for k, v in params.items()})
    out.update({f"{variant}.final.{k}": v.detach().numpy().copy() for k, v in params.items()})
    return out


def main(path):
    torch.set_num_threads(1)
    init, grads = make_problem()
    tensors = {f"init.{k}": v.numpy() for k, v in init.items()}
    for step, gs in enumerate(grads):
        tensors.update({f"grad.{step}.{k}": v.numpy() for k, v in gs.items()})
    for variant in ["bert_warmup_cosine", "bert_warmup_linear", "bert_warmup_constant", "bert_constant_lr",
                    "adamw_warmup_cosine"]:
        tensors.update(run(variant, init, grads))
    safetensors_np.save(path, tensors, {"made_by": "tools/reference/optimizer_reference.py",
                                        "torch": torch.__version__, "steps": STEPS, "t_total": T_TOTAL,
                                        "warmup": WARMUP})
    print(f"wrote {len(tensors)} tensors to {path}")


if __name__ == "__main__":
    main(sys.argv[1])
