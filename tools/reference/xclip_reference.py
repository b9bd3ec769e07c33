"""Our PyTorch reference of X-CLIP (Ma et al., ACM MM 2022), written from
../shared/design/xclip-spec.md §1-§5 (the official code is the reference where it differs from the
paper; README.md beside this file lists every such place), and the writer of the reference bundles
that `xclip-cli verify` and the tests check.

Run offline with Debian's PyTorch 1.13 (never at test time), from the repository root:
    /usr/bin/python3 tools/reference/xclip_reference.py tests/fixtures/bundles

A bundle is a folder (format in ../shared/design/architecture.md, "Interfaces that others rely on"):
  weights.safetensors   f32 state_dict with the official names (clip.* for CLIP, then the eight
                        AOSM matrices, frame_position_embeddings.weight, transformerClip.*)
  inputs.safetensors    video f32 [B,F,3,H,W] (padded frames are zero images, as the
                        dataloaders leave them), video_mask i64 [B,F], input_ids i64 [B,L]
                        (SOT, words, EOT, zero padding), attention_mask i64 [B,L]
  expected.safetensors  sim_train [B,B] (training forward), loss [1], sim_eval [B,B] (the
                        evaluation path, block by block with batch_size_val), intermediates under
                        the official variable names, grad.<name> for every parameter (zeros where
                        PyTorch leaves None: a matrix of a contrast that is off)
  config.json           the X-CLIP options (XClipConfig keys), plus kind, precision,
                        clip_head_width, tolerance, description

Tiny CLIP (16 px frames, patch 8, widths 16, heads 8 wide) keeps every bundle near 150 KB.
"""
import json
import math
import os
import sys
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np  # noqa: E402

HEAD_WIDTH = 8  # OpenAI CLIPs use 64; the tiny model uses 8 so every attention has 2 heads
CLIP_CFG = dict(embed_dim=16, vision_width=16, vision_layers=1, patch=8, resolution=16,
                text_width=16, text_layers=2, vocab=50, context=12)
BATCH, MAX_WORDS, MAX_FRAMES = 4, 8, 4


# Every computation runs in float64 (the values are rounded to f32 first, so the stored f32 weights
# and inputs are exactly what was computed with): the expected tensors are then the exact results
# for those values, and `verify` in f32 measures only our own f32 rounding.
DTYPE = torch.float64


def rnd16(t):
    """One fp16 rounding (what storing a CUDA half result does), kept in the compute dtype."""
    return t.half().to(t.dtype)


def real(t):
    """.float() of the original: to the compute dtype (f64 here; values already f32-exact)."""
    return t.to(DTYPE)


# ---- CLIP (spec §1-§3), OpenAI module layout and names ------------------------------------------------
class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ClipLayerNorm(nn.LayerNorm):
    """CLIP's LayerNorm: computed in fp32, cast back to the input dtype (eps 1e-5)."""


class TFLayerNorm(nn.Module):
    """until_module.LayerNorm, TF style, eps 1e-12: (x - mean) / sqrt(biased var + eps) * w + b."""

    def __init__(self, d, eps=1e-12):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.bias = nn.Parameter(torch.zeros(d))
        self.eps = eps

    def forward(self, x):
        u = x.mean(-1, keepdim=True)
        s = (x - u).pow(2).mean(-1, keepdim=True)
        return self.weight * ((x - u) / torch.sqrt(s + self.eps)) + self.bias


class ResidualAttentionBlock(nn.Module):
    def __init__(self, d, heads, layer_norm=ClipLayerNorm):
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads)
        self.ln_1 = layer_norm(d)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(d, 4 * d)), ("gelu", QuickGELU()),
                                              ("c_proj", nn.Linear(4 * d, d))]))
        self.ln_2 = layer_norm(d)
        self.heads = heads

    def forward(self, x, mask=None):  # x [L, B, D], sequence first as the original
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))

    def forward_fp16(self, x, mask):
        """The same block as the original computes it after convert_weights (x [B, L, D] fp16
        values): one fp16 rounding after every op that runs in half, LayerNorm in fp32."""
        B, L, D = x.shape
        dh = D // self.heads

        def ln(m, t):
            return rnd16(F.layer_norm(t, (D,), m.weight, m.bias, 1e-5))

        def lin(t, w, b):
            return rnd16(F.linear(t, rnd16(w), rnd16(b)))

        h = ln(self.ln_1, x)
        q, k, v = lin(h, self.attn.in_proj_weight, self.attn.in_proj_bias).split(D, dim=-1)
        q = rnd16(q / math.sqrt(dh))
        q, k, v = [t.reshape(B, L, self.heads, dh).permute(0, 2, 1, 3) for t in (q, k, v)]
        s = rnd16(q @ k.transpose(-1, -2))
        if mask is not None:
            s = rnd16(s + rnd16(mask))
        o = rnd16(rnd16(torch.softmax(s, dim=-1)) @ v).permute(0, 2, 1, 3).reshape(B, L, D)
        x = rnd16(x + lin(o, self.attn.out_proj.weight, self.attn.out_proj.bias))
        f = lin(ln(self.ln_2, x), self.mlp.c_fc.weight, self.mlp.c_fc.bias)
        f = rnd16(f * rnd16(torch.sigmoid(rnd16(1.702 * f))))
        return rnd16(x + lin(f, self.mlp.c_proj.weight, self.mlp.c_proj.bias))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, layer_norm=ClipLayerNorm):
        super().__init__()
        self.resblocks = nn.ModuleList([ResidualAttentionBlock(width, heads, layer_norm) for _ in range(layers)])

    def forward(self, x, mask=None):  # [L, B, D]
        for block in self.resblocks:
            x = block(x, mask)
        return x


class VisualTransformer(nn.Module):
    def __init__(self, resolution, patch, width, layers, heads, output_dim):
        super().__init__()
        self.patch = patch
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(width))
        self.positional_embedding = nn.Parameter(torch.zeros((resolution // patch) ** 2 + 1, width))
        self.ln_pre = ClipLayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = ClipLayerNorm(width)
        self.proj = nn.Parameter(torch.zeros(width, output_dim))


class CLIP(nn.Module):
    def __init__(self, c, fp16):
        super().__init__()
        self.fp16 = fp16
        # Registration order = OpenAI's state_dict order: positional_embedding, text_projection,
        # logit_scale, visual.*, transformer.*, token_embedding, ln_final.
        self.positional_embedding = nn.Parameter(torch.zeros(c["context"], c["text_width"]))
        self.text_projection = nn.Parameter(torch.zeros(c["text_width"], c["embed_dim"]))
        self.logit_scale = nn.Parameter(torch.zeros([]))
        self.visual = VisualTransformer(c["resolution"], c["patch"], c["vision_width"], c["vision_layers"],
                                        c["vision_width"] // HEAD_WIDTH, c["embed_dim"])
        self.transformer = Transformer(c["text_width"], c["text_layers"], c["text_width"] // HEAD_WIDTH)
        self.token_embedding = nn.Embedding(c["vocab"], c["text_width"])
        self.ln_final = ClipLayerNorm(c["text_width"])

    # -- f32: torch modules ------------------------------------------------------------------------------
    def _image_f32(self, images):
        v = self.visual
        x = v.conv1(images)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = v.class_embedding + torch.zeros(x.shape[0], 1, x.shape[-1])
        x = v.ln_pre(torch.cat([cls, x], dim=1) + v.positional_embedding)
        x = v.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
        return (v.ln_post(x) @ v.proj)[:, 0, :]

    def _text_f32(self, ids):
        L = ids.shape[1]
        x = self.token_embedding(ids) + self.positional_embedding[:L]
        mask = torch.full((L, L), float("-inf")).triu_(1)
        x = self.transformer(x.permute(1, 0, 2), mask).permute(1, 0, 2)
        return self.ln_final(x) @ self.text_projection

    # -- official fp16 (convert_weights + half activations), emulated in f32 ------------------------------
    def _image_fp16(self, images):
        v = self.visual
        W = v.conv1.weight.shape[0]
        x = rnd16(F.conv2d(rnd16(images), rnd16(v.conv1.weight), stride=self.visual.patch))
        x = x.reshape(x.shape[0], W, -1).permute(0, 2, 1)
        cls = rnd16(v.class_embedding) + torch.zeros(x.shape[0], 1, W)
        x = rnd16(torch.cat([cls, x], dim=1) + rnd16(v.positional_embedding))
        x = rnd16(F.layer_norm(x, (W,), v.ln_pre.weight, v.ln_pre.bias, 1e-5))
        for block in v.transformer.resblocks:
            x = block.forward_fp16(x, None)
        x = rnd16(F.layer_norm(x, (W,), v.ln_post.weight, v.ln_post.bias, 1e-5))
        return rnd16(x @ rnd16(v.proj))[:, 0, :]

    def _text_fp16(self, ids):
        L, W = ids.shape[1], self.positional_embedding.shape[1]
        x = rnd16(rnd16(self.token_embedding.weight[ids]) + rnd16(self.positional_embedding[:L]))
        mask = torch.full((L, L), float("-inf")).triu_(1)
        for block in self.transformer.resblocks:
            x = block.forward_fp16(x, mask)
        x = rnd16(F.layer_norm(x, (W,), self.ln_final.weight, self.ln_final.bias, 1e-5))
        return rnd16(x @ rnd16(self.text_projection))

    def encode_image(self, images):  # -> [N, embed] (the CLS token), .float() of the original
        return self._image_fp16(images) if self.fp16 else self._image_f32(images)

    def encode_text(self, ids):  # -> sentence [B, embed] (EOT row), words [B, L, embed] (all rows)
        words = self._text_fp16(ids) if self.fp16 else self._text_f32(ids)
        return words[torch.arange(words.shape[0]), ids.argmax(dim=-1)], words


FP16_SUFFIXES = (".attn.in_proj_weight", ".attn.in_proj_bias", ".attn.out_proj.weight", ".attn.out_proj.bias",
                 ".mlp.c_fc.weight", ".mlp.c_fc.bias", ".mlp.c_proj.weight", ".mlp.c_proj.bias")


def converted_by_convert_weights(name):
    """The CLIP tensors convert_weights turns into fp16 (spec §3); name without 'clip.'."""
    return name in ("visual.conv1.weight", "visual.proj", "text_projection") or (
        "resblocks." in name and name.endswith(FP16_SUFFIXES))


# ---- X-CLIP (spec §5) --------------------------------------------------------------------------------
class TransformerClip(nn.Module):
    """module_cross.Transformer: CLIP blocks with the TF LayerNorm (eps 1e-12) and a padding mask
    [B, N, N] repeated per head (repeat_interleave, batch-major)."""

    def __init__(self, width, layers, heads):
        super().__init__()
        self.resblocks = nn.ModuleList([ResidualAttentionBlock(width, heads, TFLayerNorm) for _ in range(layers)])
        self.heads = heads

    def forward(self, x, attn_mask):  # x [N, B, D], attn_mask [B, N, N]
        mask = attn_mask.repeat_interleave(self.heads, dim=0)
        for block in self.resblocks:
            x = block(x, mask)
        return x


DEFAULT_OPTIONS = dict(sim_header="seqTransf", max_words=MAX_WORDS, max_frames=MAX_FRAMES, cross_num_hidden_layers=2,
                       temporal_heads=2, temperature=0.01,
                       contrasts=["video_sentence", "video_word", "sentence_frame", "frame_word"],
                       aggregation="attention", mask_padding=False, learnable_aosm=True,
                       use_original_clip_for_frame_features=True, batch_size_val=3)
MATRICES = ("global_mat_weight", "word_logit_weight", "frame_logit_weight", "local_mat_weight", "frame_mat_weight",
            "word_mat_weight", "frame_mat_weight2", "word_mat_weight2")


class XCLIP(nn.Module):
    def __init__(self, clip_cfg, opt, fp16):
        super().__init__()
        self.opt = opt
        D, L, N = clip_cfg["embed_dim"], opt["max_words"], opt["max_frames"]
        if opt["learnable_aosm"]:  # own parameters first, as in the official state_dict
            sizes = dict(global_mat_weight=D, word_logit_weight=L, frame_logit_weight=N, local_mat_weight=D,
                         frame_mat_weight=N, word_mat_weight=L, frame_mat_weight2=N, word_mat_weight2=L)
            for name in MATRICES:
                setattr(self, name, nn.Parameter(torch.eye(sizes[name])))
        self.clip = CLIP(clip_cfg, fp16)
        if opt["sim_header"] == "seqTransf":
            self.frame_position_embeddings = nn.Embedding(clip_cfg["context"], D)
            self.transformerClip = TransformerClip(D, opt["cross_num_hidden_layers"], opt["temporal_heads"])

    def matrix(self, name):
        return getattr(self, name) if self.opt["learnable_aosm"] else None

    def init_from_clip(self):
        """modeling.py from_pretrained without X-CLIP weights: the frame position embedding is CLIP's
        text positional_embedding, transformerClip block n a copy of CLIP text block n (n < layers);
        the eight matrices stay the identity (spec §5.1)."""
        with torch.no_grad():
            if self.opt["learnable_aosm"]:
                for name in MATRICES:
                    getattr(self, name).copy_(torch.eye(getattr(self, name).shape[0]))
            if self.opt["sim_header"] == "seqTransf":
                self.frame_position_embeddings.weight.copy_(self.clip.positional_embedding)
                src = dict(self.clip.transformer.named_parameters())
                for k, p in self.transformerClip.named_parameters():
                    p.copy_(src[k])

    # -- encoders --------------------------------------------------------------------------------------
    def get_sequence_output(self, input_ids):
        sentence, words = self.clip.encode_text(input_ids)
        return real(sentence), real(words)

    def get_visual_output(self, video):
        B, Fr = video.shape[:2]
        frames = self.clip.encode_image(real(video.reshape(B * Fr, *video.shape[2:])))
        return real(frames).reshape(B, Fr, -1)

    # -- _loose_similarity -------------------------------------------------------------------------------
    def temporal(self, visual_output, video_mask):
        if self.opt["sim_header"] == "meanP":
            return visual_output
        N = visual_output.shape[1]
        x = visual_output + self.frame_position_embeddings(torch.arange(N)).unsqueeze(0)
        ext = ((1.0 - real(video_mask).unsqueeze(1)) * -1000000.0).expand(-1, N, -1)
        x = self.transformerClip(x.permute(1, 0, 2), ext).permute(1, 0, 2)
        return x + visual_output

    def features(self, sequence_output, seq_features, visual_output, video_mask):
        temporal = self.temporal(visual_output, video_mask)
        video = temporal / temporal.norm(dim=-1, keepdim=True)
        m = real(video_mask).unsqueeze(-1)
        m_sum = m.sum(dim=1)
        m_sum[m_sum == 0.0] = 1.0
        video = (video * m).sum(dim=1) / m_sum
        video_output = video / video.norm(dim=-1, keepdim=True)
        src = visual_output if self.opt["use_original_clip_for_frame_features"] else temporal
        frame_features = src / src.norm(dim=-1, keepdim=True)
        sentence_output = sequence_output / sequence_output.norm(dim=-1, keepdim=True)
        word_features = seq_features / seq_features.norm(dim=-1, keepdim=True)
        return dict(visual_output_temporal=temporal, video_output=video_output, frame_features=frame_features,
                    sentence_output=sentence_output, word_features=word_features)

    def similarity(self, f, attention_mask, video_mask):
        o = self.opt
        scale = self.clip.logit_scale.exp()
        masked = o["mask_padding"]
        wm = real(attention_mask) if masked else None
        fm = real(video_mask) if masked else None
        first, second = parse_aggregation(o["aggregation"])
        official = first == second == "attention" and not masked
        S, U, Wd, Fr = f["sentence_output"], f["video_output"], f["word_features"], f["frame_features"]
        terms = OrderedDict()
        if "video_sentence" in o["contrasts"]:
            G = self.matrix("global_mat_weight")
            terms["video_sentence"] = scale * torch.matmul(S @ G if G is not None else S, U.t())
        if "video_word" in o["contrasts"]:
            a = torch.matmul(Wd, U.t())  # [T, L, V]
            if official:
                p = torch.softmax(a / o["temperature"], dim=1)
                M = self.matrix("word_logit_weight")
                if M is not None:
                    p = torch.matmul(p.permute(0, 2, 1), M).permute(0, 2, 1)
                terms["video_word"] = scale * torch.sum(a * p, dim=1)
            else:
                terms["video_word"] = scale * pool(a, 1, second, o["temperature"], self.matrix("word_logit_weight"),
                                                   None if wm is None else wm[:, :, None])
        if "sentence_frame" in o["contrasts"]:
            b = torch.matmul(S, Fr.permute(0, 2, 1))  # [V, T, N] as the original builds it
            if official:
                q = torch.softmax(b / o["temperature"], dim=-1)
                M = self.matrix("frame_logit_weight")
                if M is not None:
                    q = torch.matmul(q, M)
                terms["sentence_frame"] = scale * torch.sum(b * q, dim=-1).t()
            else:
                terms["sentence_frame"] = scale * pool(b, 2, second, o["temperature"],
                                                       self.matrix("frame_logit_weight"),
                                                       None if fm is None else fm[:, None, :]).t()
        if "frame_word" in o["contrasts"]:
            terms["frame_word"] = scale * self.fine_grained(Wd, Fr, first, second, wm, fm, official)
        logits = sum(terms.values()) / len(terms)
        return logits, terms

    def fine_grained(self, Wd, Fr, first, second, wm, fm, official):
        """_attenion_over_fine_grained_sim_matrix (official) or its pooled / masked variants."""
        tau = self.opt["temperature"]
        T, L, D = Wd.shape
        V, N, _ = Fr.shape
        Lm = self.matrix("local_mat_weight")
        w = Wd.reshape(-1, D)
        c = torch.matmul(w @ Lm if Lm is not None else w, Fr.reshape(-1, D).t()).view(T, L, V, N)
        if official:
            Awm, Afm = self.matrix("word_mat_weight"), self.matrix("frame_mat_weight")
            Afm2, Awm2 = self.matrix("frame_mat_weight2"), self.matrix("word_mat_weight2")
            p1 = torch.softmax(c / tau, dim=1)
            if Awm is not None:
                p1 = torch.matmul(p1.permute(0, 2, 3, 1), Awm).permute(0, 3, 1, 2)
            word_level = torch.sum(p1 * c, dim=1)  # [T, V, N]
            p2 = torch.softmax(c / tau, dim=-1)
            if Afm is not None:
                p2 = torch.matmul(p2, Afm)
            frame_level = torch.sum(p2 * c, dim=-1)  # [T, L, V]
            p3 = torch.softmax(word_level / tau, dim=-1)
            if Afm2 is not None:
                p3 = torch.matmul(p3, Afm2)
            sent2frame = torch.sum(p3 * word_level, dim=-1)
            p4 = torch.softmax(frame_level / tau, dim=1)
            if Awm2 is not None:
                p4 = torch.matmul(p4.permute(0, 2, 1), Awm2).permute(0, 2, 1)
            video2word = torch.sum(p4 * frame_level, dim=1)
            return (sent2frame + video2word) / 2
        word_level = pool(c, 1, first, tau, self.matrix("word_mat_weight"),
                          None if wm is None else wm[:, :, None, None])
        frame_level = pool(c, 3, first, tau, self.matrix("frame_mat_weight"),
                           None if fm is None else fm[None, None, :, :])
        sent2frame = pool(word_level, 2, second, tau, self.matrix("frame_mat_weight2"),
                          None if fm is None else fm[None, :, :])
        video2word = pool(frame_level, 1, second, tau, self.matrix("word_mat_weight2"),
                          None if wm is None else wm[:, :, None])
        return (sent2frame + video2word) / 2


def parse_aggregation(text):
    return ("attention", "attention") if text == "attention" else tuple(text.split("-"))


def pool(x, dim, kind, tau, mix, mask):
    """One AOSM stage along `dim` (see XClipConfig): attention = Σ x·(softmax(x/τ)·M), the softmax
    over valid positions only when masked, the mixed weights zeroed again on padding; mean; max."""
    valid = None if mask is None else (mask > 0.5).expand_as(x)
    if kind == "max":
        return (x if valid is None else x.masked_fill(~valid, float("-inf"))).max(dim=dim)[0]
    if kind == "mean":
        if valid is None:
            return x.mean(dim=dim)
        return (x * valid).sum(dim=dim) / valid.sum(dim=dim).clamp(min=1)
    assert kind == "attention", kind
    logits = x / tau if valid is None else (x / tau).masked_fill(~valid, float("-inf"))
    w = torch.softmax(logits, dim=dim)
    if mix is not None:
        w = torch.movedim(torch.matmul(torch.movedim(w, dim, -1), mix), -1, dim)
        if valid is not None:
            w = w * valid
    return torch.sum(x * w, dim=dim)


def cross_en(sim):
    """CrossEn: mean over rows of -log_softmax(row)[diagonal]."""
    return -torch.diag(F.log_softmax(sim, dim=-1)).mean()


# ---- weights and inputs ------------------------------------------------------------------------------
def randomize_clip(clip, gen):
    """Spread chosen so that every block changes the outputs (as for the CLIP fixtures)."""
    c = CLIP_CFG
    with torch.no_grad():
        for name, p in clip.named_parameters():
            fan_in = p.shape[-1] if p.dim() > 1 else 1
            if name == "visual.conv1.weight":
                p.normal_(0, (3 * c["patch"] ** 2) ** -0.5, generator=gen)
            elif "ln_" in name and name.endswith("weight"):
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


def randomize_head(model, gen):
    """Matrices I + 0.1·noise and a random temporal encoder, so that a transposed matrix, a wrong
    axis or a missing layer shows in the outputs and the gradients."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith("clip."):
                continue
            if name in MATRICES:
                p.add_(0.1 * torch.randn(p.shape, generator=gen))
            elif name.endswith("ln_1.weight") or name.endswith("ln_2.weight"):
                p.normal_(1.0, 0.2, generator=gen)
            elif name.endswith("bias"):
                p.normal_(0, 0.2, generator=gen)
            elif name == "frame_position_embeddings.weight":
                p.normal_(0, 0.5, generator=gen)
            else:
                p.normal_(0, p.shape[-1] ** -0.5, generator=gen)


def make_inputs(gen):
    """Captions with padding (and one full-length), videos with padded frames (zero images)."""
    vocab = CLIP_CFG["vocab"]
    sot, eot = vocab - 2, vocab - 1  # EOT is the largest id, as 49407 in CLIP
    ids = torch.zeros(BATCH, MAX_WORDS, dtype=torch.int64)
    attention = torch.zeros(BATCH, MAX_WORDS, dtype=torch.int64)
    for b, n_words in enumerate([3, MAX_WORDS - 2, 1, 4][:BATCH]):
        words = torch.randint(1, sot, (n_words,), generator=gen)
        ids[b, : n_words + 2] = torch.cat([torch.tensor([sot]), words, torch.tensor([eot])])
        attention[b, : n_words + 2] = 1
    R = CLIP_CFG["resolution"]
    video = torch.zeros(BATCH, MAX_FRAMES, 3, R, R)
    video_mask = torch.zeros(BATCH, MAX_FRAMES, dtype=torch.int64)
    for b, n_frames in enumerate([MAX_FRAMES, 2, 1, 3][:BATCH]):
        video[b, :n_frames] = torch.randn(n_frames, 3, R, R, generator=gen)
        video_mask[b, :n_frames] = 1
    return dict(video=video, video_mask=video_mask, input_ids=ids, attention_mask=attention)


# ---- one bundle ----------------------------------------------------------------------------------------
def training_step(model, inp):
    """X-CLIP forward in training mode on one device (the all-gather is the identity), loss, backward."""
    model.train()
    model.zero_grad()
    sequence_output, seq_features = model.get_sequence_output(inp["input_ids"])
    visual_output = model.get_visual_output(inp["video"])
    f = model.features(sequence_output, seq_features, visual_output, inp["video_mask"])
    logits, terms = model.similarity(f, inp["attention_mask"], inp["video_mask"])
    loss = (cross_en(logits) + cross_en(logits.t())) / 2
    loss.backward()
    inter = OrderedDict(sequence_output=sequence_output, seq_features=seq_features, visual_output=visual_output)
    inter.update(f)
    inter.update(("logits." + k, v) for k, v in terms.items())
    return logits, loss, inter


def evaluation(model, inp):
    """main_xclip.py eval_epoch: encode in batches of batch_size_val, then the [texts x videos]
    similarity block by block (_run_on_single_gpu), the temporal encoder re-run for every block."""
    model.eval()
    bs = model.opt["batch_size_val"]
    with torch.no_grad():
        text_batches, video_batches = [], []
        for s in range(0, BATCH, bs):
            sl = slice(s, s + bs)
            text_batches.append(model.get_sequence_output(inp["input_ids"][sl]) + (inp["attention_mask"][sl],))
            video_batches.append((model.get_visual_output(inp["video"][sl]), inp["video_mask"][sl]))
        rows = []
        for sequence_output, seq_features, attention_mask in text_batches:
            cols = []
            for visual_output, video_mask in video_batches:
                f = model.features(sequence_output, seq_features, visual_output, video_mask)
                cols.append(model.similarity(f, attention_mask, video_mask)[0])
            rows.append(torch.cat(cols, dim=1))
        return torch.cat(rows, dim=0)


def parameter_grads(model):
    """grad.<name> of every parameter (zeros where PyTorch leaves None)."""
    return OrderedDict(("grad." + k, p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p))
                       for k, p in model.named_parameters())


def write_bundle(folder, weights, inputs, expected, config, made_by):
    """The four files of a bundle (format above): weights and expected as f32, inputs as they are."""
    os.makedirs(folder, exist_ok=True)
    meta = {"made_by": made_by, "torch": torch.__version__}
    safetensors_np.save(os.path.join(folder, "weights.safetensors"),
                        {k: v.detach().numpy().astype(np.float32) for k, v in weights.items()}, meta)
    safetensors_np.save(os.path.join(folder, "inputs.safetensors"),
                        {k: (v.float() if v.is_floating_point() else v).contiguous().numpy() for k, v in inputs.items()},
                        meta)
    safetensors_np.save(os.path.join(folder, "expected.safetensors"),
                        {k: v.contiguous().numpy().astype(np.float32) for k, v in expected.items()}, meta)
    with open(os.path.join(folder, "config.json"), "w") as fh:
        json.dump(config, fh, indent=2)
        fh.write("\n")


def build_bundle(out_dir, name, description, options=None, precision="f32", init_from_clip=False, seed=0):
    opt = dict(DEFAULT_OPTIONS)
    opt.update(options or {})
    gen = torch.Generator().manual_seed(20240700 + seed)
    fp16 = precision == "official_fp16"
    model = XCLIP(CLIP_CFG, opt, fp16)
    randomize_clip(model.clip, gen)
    if fp16:  # the values the original model holds after convert_weights
        with torch.no_grad():
            for k, p in model.clip.named_parameters():
                if converted_by_convert_weights(k):
                    p.copy_(rnd16(p))
    if init_from_clip:
        model.init_from_clip()
    else:
        randomize_head(model, gen)
    with torch.no_grad():  # f32-exact values, so the stored f32 tensors are what was computed with
        for p in model.parameters():
            p.copy_(p.float())
    inp = make_inputs(gen)
    inp["video"] = inp["video"].float().to(DTYPE)
    sim_train, loss, inter = training_step(model, inp)
    sim_eval = evaluation(model, inp)

    params = OrderedDict((k, p.detach().clone()) for k, p in model.named_parameters())
    weights = {k: v for k, v in params.items() if k.startswith("clip.")} if init_from_clip else params
    expected = OrderedDict(sim_train=sim_train.detach(), loss=loss.detach().reshape(1), sim_eval=sim_eval)
    expected.update((k, v.detach()) for k, v in inter.items())
    expected.update(parameter_grads(model))
    config = OrderedDict(kind="full", description=description, precision=precision, clip_head_width=HEAD_WIDTH,
                         tolerance=1e-5, grad_tolerance=1e-5 if precision == "f32" else 1e-2,
                         init_from_clip=init_from_clip)
    config.update(opt)
    write_bundle(os.path.join(out_dir, name), weights, inp, expected, config, "tools/reference/xclip_reference.py")
    gap = float((sim_train.detach() - sim_eval).abs().max())
    print(f"{name:32s} loss {float(loss):.6f}  |train-eval| {gap:.1e}  {len(params)} parameters")


BUNDLES = [
    # name, description, options, precision, init_from_clip
    ("xclip_seqtransf", "official X-CLIP: seqTransf, four contrasts, attention AOSM, eight matrices", {}, "f32", False),
    ("xclip_meanp", "official heads without the temporal encoder (Table 8: temporal encoder off)",
     {"sim_header": "meanP"}, "f32", False),
    ("xclip_seqtransf_fp16", "official X-CLIP with CLIP in the official fp16 regime (convert_weights)", {},
     "official_fp16", False),
    ("xclip_init_from_clip", "CLIP-only weights: matrices identity, temporal encoder copied from CLIP text",
     {}, "f32", True),
    ("clip4clip_meanp", "CLIP4Clip meanP: video-sentence only, no learnable matrices",
     {"sim_header": "meanP", "contrasts": ["video_sentence"], "learnable_aosm": False}, "f32", False),
    ("clip4clip_seqtransf", "CLIP4Clip seqTransf: video-sentence only, no learnable matrices",
     {"contrasts": ["video_sentence"], "learnable_aosm": False}, "f32", False),
    ("agg_mean_mean", "Table 7 Mean-Mean", {"aggregation": "mean-mean"}, "f32", False),
    ("agg_max_max_masked", "Table 7 Max-Max with padded words/frames masked",
     {"aggregation": "max-max", "mask_padding": True}, "f32", False),
    ("agg_mean_max_tau0.1", "Table 7 Mean-Max, Table 9 tau 0.1", {"aggregation": "mean-max", "temperature": 0.1},
     "f32", False),
    ("agg_max_mean_paper", "Table 7 Max-Mean with the paper's matrix-free equations",
     {"aggregation": "max-mean", "learnable_aosm": False}, "f32", False),
    ("contrasts_vw_sf_paper_tau1", "Table 6: video-word + sentence-frame; the paper's matrix-free equations; "
     "Table 9 tau 1", {"contrasts": ["video_word", "sentence_frame"], "learnable_aosm": False, "temperature": 1.0},
     "f32", False),
    ("contrasts_vs_fw_masked_chunked", "Table 6: video-sentence + frame-word; padded words/frames masked; frame "
     "features from the temporal encoder (the paper's figure); frame-word built in chunks of one text",
     {"contrasts": ["video_sentence", "frame_word"], "mask_padding": True,
      "use_original_clip_for_frame_features": False, "frame_word_chunk_elements": MAX_WORDS * BATCH * MAX_FRAMES},
     "f32", False),
]


def main(out_dir):
    torch.set_num_threads(1)
    torch.set_default_dtype(DTYPE)
    for i, (name, description, options, precision, init) in enumerate(BUNDLES):
        build_bundle(out_dir, name, description, options, precision, init, seed=i)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/bundles")
