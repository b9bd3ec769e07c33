"""Reference outputs of a small CLIP (OpenAI module layout and state_dict names) for the C++ encoders.

Run offline with Debian's PyTorch (never at test time), from the repository root:
    /usr/bin/python3 tools/reference/clip_parity.py tests/fixtures/models

Writes two safetensors files into the given folder:
  clip_tiny_weights.safetensors  the state_dict (f32, OpenAI names: visual.conv1.weight, ...,
                                 logit_scale); config and head width in the metadata.
  clip_tiny_io.safetensors       inputs  `images` f32 [N,3,32,32], `input_ids` i64 [B,L] (SOT, words,
                                 EOT, zero padding; L = 12 < context 16, so positional_embedding[:L]);
                                 outputs of the f32 model (`image_features`, `image_tokens`,
                                 `sentence`, `words`), the same four under `fp16.` from the fp16
                                 emulation below, and `logits_per_image`.

The f32 outputs come from torch.nn modules as OpenAI's model.py / X-CLIP's module_clip.py build
them (nn.Conv2d, nn.MultiheadAttention, nn.LayerNorm in fp32). PyTorch 1.13 has no fp16 matmul,
softmax, conv or LayerNorm on the CPU, so the `fp16.` outputs come from a functional forward that
rounds to fp16 (t.half().float()) after every op the original runs in half after convert_weights:
GEMMs with their bias, the q scaling, q·kᵀ, mask add, softmax, attention·v, residual adds,
QuickGELU's three ops, LayerNorm outputs (computed in f32), embedding casts; the converted
weights (conv1, in_proj, out_proj, c_fc, c_proj, text_projection, visual.proj) rounded to fp16.
Weights are random with large enough spread that every block changes the outputs (printed).
Heads are 16 wide here (OpenAI CLIPs use 64) so the small model has several heads.
"""
import math
import os
import sys
from collections import OrderedDict

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np  # noqa: E402

HEAD_WIDTH = 16
CFG = dict(embed_dim=24, vision_width=48, vision_layers=2, patch=8, resolution=32,
           text_width=32, text_layers=2, vocab=320, context=16)


# ---- OpenAI CLIP modules (ViT only), names as in the state_dict ----------------------------------
class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads)
        self.ln_1 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(d, 4 * d)), ("gelu", QuickGELU()),
                                              ("c_proj", nn.Linear(4 * d, d))]))
        self.ln_2 = nn.LayerNorm(d)

    def forward(self, x, mask=None):  # x [L, B, D] (sequence first, as the original)
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads):
        super().__init__()
        self.resblocks = nn.ModuleList([ResidualAttentionBlock(width, heads) for _ in range(layers)])

    def forward(self, x, mask=None):
        for block in self.resblocks:
            x = block(x, mask)
        return x


class VisualTransformer(nn.Module):
    def __init__(self, resolution, patch, width, layers, heads, output_dim):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(width))
        self.positional_embedding = nn.Parameter(torch.zeros((resolution // patch) ** 2 + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.zeros(width, output_dim))

    def hidden(self, x):
        x = self.conv1(x)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.class_embedding + torch.zeros(x.shape[0], 1, x.shape[-1])
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        x = self.ln_pre(x).permute(1, 0, 2)
        return self.transformer(x).permute(1, 0, 2)


class CLIP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.visual = VisualTransformer(c["resolution"], c["patch"], c["vision_width"], c["vision_layers"],
                                        c["vision_width"] // HEAD_WIDTH, c["embed_dim"])
        self.transformer = Transformer(c["text_width"], c["text_layers"], c["text_width"] // HEAD_WIDTH)
        self.token_embedding = nn.Embedding(c["vocab"], c["text_width"])
        self.positional_embedding = nn.Parameter(torch.zeros(c["context"], c["text_width"]))
        self.ln_final = nn.LayerNorm(c["text_width"])
        self.text_projection = nn.Parameter(torch.zeros(c["text_width"], c["embed_dim"]))
        self.logit_scale = nn.Parameter(torch.zeros([]))

    def encode_image(self, images):  # X-CLIP's encode_image with return_hidden
        tokens = self.visual.ln_post(self.visual.hidden(images)) @ self.visual.proj
        return tokens[:, 0, :], tokens

    def encode_text(self, ids):  # X-CLIP's encode_text with return_hidden
        L = ids.shape[1]
        x = self.token_embedding(ids) + self.positional_embedding[:L]
        mask = torch.full((L, L), float("-inf")).triu_(1)
        x = self.transformer(x.permute(1, 0, 2), mask).permute(1, 0, 2)
        words = self.ln_final(x) @ self.text_projection
        return words[torch.arange(words.shape[0]), ids.argmax(dim=-1)], words


def randomize(model, gen):
    """Spread chosen so that each block's update is the size of its input (every layer matters)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            fan_in = p.shape[-1] if p.dim() > 1 else 1
            if name.endswith("conv1.weight"):
                p.normal_(0, (3 * CFG["patch"] ** 2) ** -0.5, generator=gen)
            elif ("ln_" in name) and name.endswith("weight"):
                p.normal_(1.0, 0.2, generator=gen)
            elif name.endswith("bias"):
                p.normal_(0, 0.2, generator=gen)
            elif name in ("visual.proj", "text_projection"):
                p.normal_(0, p.shape[0] ** -0.5, generator=gen)
            elif name == "logit_scale":
                p.fill_(math.log(100.0))
            elif p.dim() == 2 and "resblocks" in name:
                p.normal_(0, fan_in ** -0.5, generator=gen)
            else:  # embeddings
                p.normal_(0, 0.5, generator=gen)


# ---- the fp16 emulation ----------------------------------------------------------------------------
def r(t):
    return t.half().float()


CONVERTED = (".attn.in_proj_weight", ".attn.in_proj_bias", ".attn.out_proj.weight", ".attn.out_proj.bias",
             ".mlp.c_fc.weight", ".mlp.c_fc.bias", ".mlp.c_proj.weight", ".mlp.c_proj.bias")


def converted_weights(sd):
    """convert_weights: the conv/linear/attention weights and the two projections as fp16 values."""
    out = {}
    for k, v in sd.items():
        conv = k in ("visual.conv1.weight", "visual.proj", "text_projection")
        block = "resblocks." in k and k.endswith(CONVERTED)
        out[k] = r(v) if (conv or block) else v
    return out


def ln16(x, sd, name):
    return r(F.layer_norm(x, x.shape[-1:], sd[name + ".weight"], sd[name + ".bias"], 1e-5))


def block16(x, sd, p, heads, mask):  # x [B, L, D] fp16 values
    B, L, D = x.shape
    dh = D // heads
    h = ln16(x, sd, p + "ln_1")
    qkv = r(F.linear(h, sd[p + "attn.in_proj_weight"], sd[p + "attn.in_proj_bias"]))
    q, k, v = qkv.split(D, dim=-1)
    q = r(q / math.sqrt(dh))
    q, k, v = [t.reshape(B, L, heads, dh).permute(0, 2, 1, 3) for t in (q, k, v)]
    s = r(q @ k.transpose(-1, -2))
    if mask is not None:
        s = r(s + r(mask))
    a = r(torch.softmax(s, dim=-1))
    o = r(a @ v).permute(0, 2, 1, 3).reshape(B, L, D)
    x = r(x + r(F.linear(o, sd[p + "attn.out_proj.weight"], sd[p + "attn.out_proj.bias"])))
    h = ln16(x, sd, p + "ln_2")
    f = r(F.linear(h, sd[p + "mlp.c_fc.weight"], sd[p + "mlp.c_fc.bias"]))
    f = r(f * r(torch.sigmoid(r(1.702 * f))))
    return r(x + r(F.linear(f, sd[p + "mlp.c_proj.weight"], sd[p + "mlp.c_proj.bias"])))


def encode_image16(sd, images):
    heads, layers = CFG["vision_width"] // HEAD_WIDTH, CFG["vision_layers"]
    x = r(F.conv2d(r(images), sd["visual.conv1.weight"], stride=CFG["patch"]))
    x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
    cls = r(sd["visual.class_embedding"]) + torch.zeros(x.shape[0], 1, x.shape[-1])
    x = r(torch.cat([cls, x], dim=1) + r(sd["visual.positional_embedding"]))
    x = ln16(x, sd, "visual.ln_pre")
    for i in range(layers):
        x = block16(x, sd, f"visual.transformer.resblocks.{i}.", heads, None)
    tokens = r(ln16(x, sd, "visual.ln_post") @ sd["visual.proj"])
    return tokens[:, 0, :], tokens


def encode_text16(sd, ids):
    heads, layers, L = CFG["text_width"] // HEAD_WIDTH, CFG["text_layers"], ids.shape[1]
    x = r(sd["token_embedding.weight"][ids])
    x = r(x + r(sd["positional_embedding"][:L]))
    mask = torch.full((L, L), float("-inf")).triu_(1)
    for i in range(layers):
        x = block16(x, sd, f"transformer.resblocks.{i}.", heads, mask)
    words = r(ln16(x, sd, "ln_final") @ sd["text_projection"])
    return words[torch.arange(words.shape[0]), ids.argmax(dim=-1)], words


# ---- inputs ------------------------------------------------------------------------------------
def make_ids(gen, batch=3, length=12):
    sot, eot = CFG["vocab"] - 2, CFG["vocab"] - 1  # EOT is the largest id, as 49407 in CLIP
    ids = torch.zeros(batch, length, dtype=torch.int64)
    for b, n_words in enumerate([4, length - 2, 7][:batch]):  # padded, full length, padded
        words = torch.randint(1, sot, (n_words,), generator=gen)
        ids[b, : n_words + 2] = torch.cat([torch.tensor([sot]), words, torch.tensor([eot])])
    return ids


def layer_effect(model, images, ids):
    """Relative change of the outputs when the last block of each tower is skipped."""
    with torch.no_grad():
        full_i, full_t = model.encode_image(images)[0], model.encode_text(ids)[0]
        vb, tb = model.visual.transformer.resblocks, model.transformer.resblocks
        model.visual.transformer.resblocks, model.transformer.resblocks = vb[:-1], tb[:-1]
        cut_i, cut_t = model.encode_image(images)[0], model.encode_text(ids)[0]
        model.visual.transformer.resblocks, model.transformer.resblocks = vb, tb
    return [float((a - b).abs().max() / a.abs().max()) for a, b in ((full_i, cut_i), (full_t, cut_t))]


def main(out_dir):
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(20240601)
    model = CLIP(CFG).float().eval()
    randomize(model, gen)
    sd = OrderedDict((k, v.detach().clone()) for k, v in model.state_dict().items())
    images = torch.randn(3, 3, CFG["resolution"], CFG["resolution"], generator=gen)
    ids = make_ids(gen)

    with torch.no_grad():
        img, tokens = model.encode_image(images)
        sent, words = model.encode_text(ids)
        logits = model.logit_scale.exp() * F.normalize(img, dim=-1) @ F.normalize(sent, dim=-1).t()
        sd16 = converted_weights(sd)
        img16, tokens16 = encode_image16(sd16, images)
        sent16, words16 = encode_text16(sd16, ids)

    io = {"images": images, "input_ids": ids, "image_features": img, "image_tokens": tokens, "sentence": sent,
          "words": words, "logits_per_image": logits, "fp16.image_features": img16, "fp16.image_tokens": tokens16,
          "fp16.sentence": sent16, "fp16.words": words16}
    meta = {"made_by": "tools/reference/clip_parity.py", "torch": torch.__version__, "head_width": HEAD_WIDTH,
            "state_dict_order": ",".join(sd.keys())}
    meta.update({k: v for k, v in CFG.items()})
    os.makedirs(out_dir, exist_ok=True)
    safetensors_np.save(os.path.join(out_dir, "clip_tiny_weights.safetensors"),
                        {k: v.numpy().astype(np.float32) for k, v in sd.items()}, meta)
    safetensors_np.save(os.path.join(out_dir, "clip_tiny_io.safetensors"),
                        {k: v.contiguous().numpy() for k, v in io.items()},
                        {k: v for k, v in meta.items() if k != "state_dict_order"})
    for name in ("image_features", "image_tokens", "sentence", "words"):
        a, b = io[name], io["fp16." + name]
        print(f"fp16 emulation vs f32, {name}: max relative difference {float((a - b).abs().max() / a.abs().max()):.2e}")
    print("relative change without the last block (image, text): %.2f %.2f" % tuple(layer_effect(model, images, ids)))
    print(f"wrote {len(sd)} weights and {len(io)} inputs/outputs to {out_dir}")


if __name__ == "__main__":
    main(sys.argv[1])
