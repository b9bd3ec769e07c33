"""Our PyTorch reference of EA-CLIP4Clip (Jing et al., Neurocomputing 2024: excitation and
aggregation blocks in CLIP4Clip's loose type, excitation before CLIP4Clip's cross encoder in the
tight type), written from ../shared/design/followups-spec.md Part B (§B1-§B4, §B6) and, for the
tight type, from the facts of CLIP4Clip's modules/module_cross.py (CrossModel: position
embeddings only, the token-type embeddings and the embedding LayerNorm being commented out;
dropout; the CLIP blocks with the TF LayerNorm; the pooler LayerNorm → dense → QuickGELU on the
first token) and modeling.py (_cross_similarity: the EOT feature as one always-attended token
before the frames, similarity_dense on the pooled output, no logit scale), and the writer of its
`verify` bundles. CLIP and the temporal transformer are those of xclip_reference.py (same tiny
CLIP, same bundle format).

Run offline with Debian's PyTorch 1.13 (never at test time), from the repository root:
    /usr/bin/python3 tools/reference/ea_clip4clip_reference.py tests/fixtures/bundles
It writes tests/fixtures/bundles/ea_*/ (one folder per entry of BUNDLES below), each with:
  weights.safetensors   f32 state_dict, official names: clip.*, se_block.fc.{0,2}.* (or
                        se_block.scale.fc.* / se_block.aggregate.fc.*, se_block_excitation.fc.*),
                        frame_position_embeddings.weight and transformerClip.* (seqTransf),
                        frame_position_embeddings.weight (unused) and lstm_visual.* (seqLSTM),
                        intra_mlp.{0,2}.* (ea_intra_attn), cross.* and similarity_dense.*
                        (tightTransf; with init_from_clip the cross transformer and its
                        position table are left out: the model copies them from CLIP's text tower)
  inputs.safetensors    video f32 [B,N,3,H,W] (padded frames zero images), video_mask i64 [B,N],
                        input_ids i64 [B,L], attention_mask i64 [B,L]
  expected.safetensors  sim_train [B,B], loss [1], sim_eval [B,B] (block by block with
                        batch_size_val; for seqLSTM it differs from sim_train, as in the original:
                        a padded frame's value depends on the longest video of its block), sequence_output, visual_output, sentence_output,
                        visual_output_temporal, weight_exc / weight_agg (the blocks' per-frame
                        weights), video_output, logits.video_sentence, grad.<name> of every parameter
  config.json           "model": "ea_clip4clip", the options under the official flag names
                        (se_block, se_type, reduction_ratio, excitation_aggregation_type) and ours
                        (ea_intra_attn, ea_mask_frames), hidden_dropout_prob (cross_config.json's name;
                        0 in the bundles: dropout is random), plus kind, precision, clip_head_width,
                        tolerance, grad_tolerance, init_from_clip, description

Everything is computed in float64 on values rounded to f32 first (as xclip_reference.py).
N = 8 frames here (not 4), so that the ratio-4 blocks have 2 hidden units.
"""
import math
import os
import sys
from collections import OrderedDict

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xclip_reference as xr  # noqa: E402

BATCH, MAX_WORDS, MAX_FRAMES = 4, 8, 8
FRAMES_PER_VIDEO = [MAX_FRAMES, 2, 1, 5]


# ---- the blocks (spec §B1) ---------------------------------------------------------------------------
class FrameBlock(nn.Module):
    """squeeze z = mean over D per frame; s = fc.2(act(fc.0(z))); excitation: x·sigmoid(s) per
    frame; aggregation: Σ_n softmax(s)_n x_n. Hidden width int(N // ratio). With `mask` (our
    ea_mask_frames), padded frames enter z as 0 and the softmax with weight 0."""

    def __init__(self, kind, frames, ratio, act):
        super().__init__()
        hidden = int(frames // ratio)
        assert hidden >= 1, (frames, ratio)
        self.kind = kind
        # fc.1 is the activation and fc.3 the sigmoid / softmax in the original: no parameters.
        self.fc = nn.Sequential(nn.Linear(frames, hidden), act, nn.Linear(hidden, frames))

    def weights(self, x, mask):
        z = x.mean(dim=-1)
        if mask is not None:
            z = z * mask
        s = self.fc(z)
        if self.kind == "excitation":
            return torch.sigmoid(s)
        if mask is not None:
            s = s.masked_fill(mask == 0, float("-inf"))
        return torch.softmax(s, dim=-1)

    def apply(self, x, w):
        if self.kind == "excitation":
            return x * w.unsqueeze(-1)
        return torch.einsum("bnd,bn->bd", x, w)


class PairBlock(nn.Module):
    """se_type excitation_aggregation: `scale` (excitation) then `aggregate` (aggregation)."""

    def __init__(self, frames, ratio, kind):
        super().__init__()
        relu, relu6 = nn.ReLU(), nn.ReLU6()
        if kind == "unity":  # ReLU in both blocks whatever the ratio (spec §B1)
            self.scale = FrameBlock("excitation", frames, ratio, relu)
            self.aggregate = FrameBlock("aggregation", frames, ratio, relu)
        elif kind == "squeeze_expand":
            assert ratio > 1
            self.scale = FrameBlock("excitation", frames, ratio, relu)
            self.aggregate = FrameBlock("aggregation", frames, 1 / ratio, relu6)
        else:
            assert kind == "expand_squeeze" and ratio < 1
            self.scale = FrameBlock("excitation", frames, ratio, relu6)
            self.aggregate = FrameBlock("aggregation", frames, 1 / ratio, relu)


DEFAULT_OPTIONS = OrderedDict(model="ea_clip4clip", sim_header="meanP", max_words=MAX_WORDS, max_frames=MAX_FRAMES,
                              cross_num_hidden_layers=2, temporal_heads=2, batch_size_val=3, se_block=True,
                              se_type="excitation", reduction_ratio=4.0, excitation_aggregation_type="unity",
                              ea_intra_attn=False, ea_mask_frames=False)


# ---- the tight type's cross encoder (CLIP4Clip module_cross.py, modeling.py _cross_similarity) ------------
class CrossPooler(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.ln_pool = xr.TFLayerNorm(d)
        self.dense = nn.Linear(d, d)

    def forward(self, hidden):  # [P, L, D] -> [P, D]: the first token, after the LayerNorm of all
        return xr.QuickGELU()(self.dense(self.ln_pool(hidden)[:, 0]))


class CrossModel(nn.Module):
    """cross.*: position embeddings (context rows), dropout, module_cross.Transformer, pooler."""

    def __init__(self, d, context, layers, heads, dropout):
        super().__init__()
        self.embeddings = nn.Module()
        self.embeddings.position_embeddings = nn.Embedding(context, d)
        self.dropout = nn.Dropout(dropout)
        self.transformer = xr.TransformerClip(d, layers, heads)
        self.pooler = CrossPooler(d)

    def forward(self, concat, concat_mask):  # [P, L, D], [P, L] (1 attended) -> pooled [P, D]
        L = concat.shape[1]
        x = self.dropout(concat + self.embeddings.position_embeddings(torch.arange(L)).unsqueeze(0))
        ext = ((1.0 - xr.real(concat_mask).unsqueeze(1)) * -1000000.0).expand(-1, L, -1)
        x = self.transformer(x.permute(1, 0, 2), ext).permute(1, 0, 2)
        return self.pooler(x)


class EACLIP4Clip(nn.Module):
    def __init__(self, opt):
        super().__init__()
        self.opt = opt
        D, N, r = xr.CLIP_CFG["embed_dim"], opt["max_frames"], opt["reduction_ratio"]
        self.clip = xr.CLIP(xr.CLIP_CFG, False)
        single_act = nn.ReLU() if r > 1 else nn.ReLU6()  # the single blocks: by the ratio (spec §B1)
        t = opt["se_type"] if opt["se_block"] else None
        if t in ("excitation", "aggregation"):
            self.se_block = FrameBlock(t, N, r, single_act)
        elif t == "excitation_aggregation":
            self.se_block = PairBlock(N, r, opt["excitation_aggregation_type"])
        elif t == "excitation_seq":
            self.se_block_excitation = FrameBlock("excitation", N, r, single_act)
        if opt["sim_header"] in ("seqTransf", "seqLSTM"):  # built for both, read by seqTransf only
            self.frame_position_embeddings = nn.Embedding(xr.CLIP_CFG["context"], D)
        if opt["sim_header"] == "seqTransf":
            self.transformerClip = xr.TransformerClip(D, opt["cross_num_hidden_layers"], opt["temporal_heads"])
        if opt["sim_header"] == "seqLSTM":
            self.lstm_visual = nn.LSTM(input_size=D, hidden_size=D, batch_first=True, bidirectional=False,
                                       num_layers=1)
        if opt["ea_intra_attn"]:
            self.intra_mlp = nn.Sequential(nn.Linear(2 * D, D), nn.ReLU(), nn.Linear(D, 1))
        if opt["sim_header"] == "tightTransf":
            self.cross = CrossModel(D, xr.CLIP_CFG["context"], opt["cross_num_hidden_layers"], opt["temporal_heads"],
                                    opt["hidden_dropout_prob"])
            self.similarity_dense = nn.Linear(D, 1)

    def init_cross_from_clip(self):
        """from_pretrained without cross weights: the position table is CLIP's text
        positional_embedding, cross block n a copy of CLIP text block n (n < layers)."""
        with torch.no_grad():
            self.cross.embeddings.position_embeddings.weight.copy_(self.clip.positional_embedding)
            for n, block in enumerate(self.cross.transformer.resblocks):
                block.load_state_dict(self.clip.transformer.resblocks[n].state_dict())

    def get_sequence_output(self, input_ids):
        return xr.real(self.clip.encode_text(input_ids)[0])

    def get_visual_output(self, video):
        B, Fr = video.shape[:2]
        return xr.real(self.clip.encode_image(xr.real(video.reshape(B * Fr, *video.shape[2:])))).reshape(B, Fr, -1)

    def frame_mask(self, video_mask):
        return xr.real(video_mask) if self.opt["ea_mask_frames"] else None

    def temporal(self, x, video_mask):
        """seqTransf: CLIP4Clip's temporal transformer with the residual (spec §B2); seqLSTM: the
        LSTM over each video's valid frames, zero-padded to the batch's longest video, the input
        frames beyond it, plus the residual; meanP: none."""
        if self.opt["sim_header"] == "meanP":
            return x
        if self.opt["sim_header"] == "seqLSTM":
            packed = pack_padded_sequence(x, video_mask.sum(dim=-1).cpu(), batch_first=True, enforce_sorted=False)
            out, _ = pad_packed_sequence(self.lstm_visual(packed)[0], batch_first=True)
            return torch.cat([out, x[:, out.shape[1]:]], dim=1) + x
        N = x.shape[1]
        h = x + self.frame_position_embeddings(torch.arange(N)).unsqueeze(0)
        ext = ((1.0 - xr.real(video_mask).unsqueeze(1)) * -1000000.0).expand(-1, N, -1)
        return self.transformerClip(h.permute(1, 0, 2), ext).permute(1, 0, 2) + x

    def intra_attn(self, x, mask):
        """ω_n = intra_mlp([x_n ; mean x]) (spec §B4); the mean over valid frames when masked."""
        if mask is None:
            mean = x.mean(dim=1)
        else:
            mean = (x * mask.unsqueeze(-1)).sum(dim=1) / mask.sum(dim=1, keepdim=True).clamp(min=1)
        both = torch.cat([x, mean.unsqueeze(1).expand_as(x)], dim=-1)
        return x * self.intra_mlp(both)

    def video_feature(self, visual_output, video_mask):
        mask = self.frame_mask(video_mask)
        steps = OrderedDict()
        x = visual_output
        if hasattr(self, "se_block_excitation"):  # excitation_seq: before the temporal module
            x = self.se_block_excitation.apply(x, self.se_block_excitation.weights(x, mask))
        x = self.temporal(x, video_mask)
        steps["visual_output_temporal"] = x
        if self.opt["ea_intra_attn"]:
            x = self.intra_attn(x, mask)
        exc = agg = None
        if hasattr(self, "se_block"):
            if isinstance(self.se_block, PairBlock):
                exc, agg = self.se_block.scale, self.se_block.aggregate
            elif self.se_block.kind == "excitation":
                exc = self.se_block
            else:
                agg = self.se_block
        if exc is not None:
            steps["weight_exc"] = exc.weights(x, mask)
            x = exc.apply(x, steps["weight_exc"])
        if agg is not None:
            steps["weight_agg"] = agg.weights(x, mask)
            video = agg.apply(x, steps["weight_agg"])
        else:  # _mean_pooling_for_similarity_visual on the raw (not normalised) frames
            m = xr.real(video_mask).unsqueeze(-1)
            m_sum = m.sum(dim=1)
            m_sum[m_sum == 0.0] = 1.0
            video = (x * m).sum(dim=1) / m_sum
        steps["video_output"] = video / video.norm(dim=-1, keepdim=True)
        return steps

    def cross_similarity(self, sequence_output, visual_output, video_mask):
        """The tight type: excitation on the frames (se_type excitation), then for every (text,
        video) pair, text-major, the sequence [EOT feature ; frames] with the mask [1 ; video_mask]
        through the cross model, and similarity_dense of the pooled token."""
        T, V, N = sequence_output.shape[0], visual_output.shape[0], visual_output.shape[1]
        inter = OrderedDict()
        x = visual_output
        if hasattr(self, "se_block"):
            inter["weight_exc"] = self.se_block.weights(x, self.frame_mask(video_mask))
            x = self.se_block.apply(x, inter["weight_exc"])
        text = sequence_output.unsqueeze(1).unsqueeze(1).expand(T, V, 1, -1)
        frames = x.unsqueeze(0).expand(T, V, N, -1)
        concat = torch.cat([text, frames], dim=2).reshape(T * V, N + 1, -1)
        mask = torch.cat([torch.ones(V, 1, dtype=video_mask.dtype), video_mask], dim=1)
        concat_mask = mask.unsqueeze(0).expand(T, V, N + 1).reshape(T * V, N + 1)
        logits = self.similarity_dense(self.cross(concat, concat_mask)).reshape(T, V)
        inter["logits.cross"] = logits
        return logits, inter

    def similarity(self, sequence_output, visual_output, video_mask):
        if self.opt["sim_header"] == "tightTransf":
            return self.cross_similarity(sequence_output, visual_output, video_mask)
        steps = self.video_feature(visual_output, video_mask)
        sentence = sequence_output / sequence_output.norm(dim=-1, keepdim=True)
        logits = self.clip.logit_scale.exp() * sentence @ steps["video_output"].t()
        inter = OrderedDict(sentence_output=sentence)
        inter.update(steps)
        inter["logits.video_sentence"] = logits
        return logits, inter


# ---- inputs, weights, one bundle ----------------------------------------------------------------------
def make_inputs(gen):
    vocab = xr.CLIP_CFG["vocab"]
    sot, eot = vocab - 2, vocab - 1
    ids = torch.zeros(BATCH, MAX_WORDS, dtype=torch.int64)
    attention = torch.zeros(BATCH, MAX_WORDS, dtype=torch.int64)
    for b, n_words in enumerate([3, MAX_WORDS - 2, 1, 4]):
        words = torch.randint(1, sot, (n_words,), generator=gen)
        ids[b, : n_words + 2] = torch.cat([torch.tensor([sot]), words, torch.tensor([eot])])
        attention[b, : n_words + 2] = 1
    R = xr.CLIP_CFG["resolution"]
    video = torch.zeros(BATCH, MAX_FRAMES, 3, R, R)
    video_mask = torch.zeros(BATCH, MAX_FRAMES, dtype=torch.int64)
    for b, n_frames in enumerate(FRAMES_PER_VIDEO):
        video[b, :n_frames] = torch.randn(n_frames, 3, R, R, generator=gen)
        video_mask[b, :n_frames] = 1
    return dict(video=video, video_mask=video_mask, input_ids=ids, attention_mask=attention)


def randomize_blocks(model, gen, spread):
    """The blocks' first layers wide enough that some ReLU units are off and some ReLU6 units clip
    at 6 (the squeezed frame means are small); the pooler's LayerNorm gains near 1, like the blocks'."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("fc.0.weight"):
                p.normal_(0, spread, generator=gen)
            elif name.endswith("ln_pool.weight"):
                p.normal_(1.0, 0.2, generator=gen)


def build_bundle(out_dir, name, description, options, seed, spread, init_from_clip=False):
    opt = OrderedDict(DEFAULT_OPTIONS)
    opt.update(options)
    if opt["sim_header"] == "tightTransf":
        opt["hidden_dropout_prob"] = 0.0
    gen = torch.Generator().manual_seed(20241200 + seed)
    model = EACLIP4Clip(opt)
    xr.randomize_clip(model.clip, gen)
    with torch.no_grad():
        model.clip.logit_scale.fill_(math.log(20.0))  # a softer scale than 100, so the loss has gradients
    xr.randomize_head(model, gen)
    randomize_blocks(model, gen, spread)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.float())
    if init_from_clip:
        model.init_cross_from_clip()
    inp = make_inputs(gen)
    inp["video"] = inp["video"].float().to(xr.DTYPE)

    # The blocks' hidden pre-activations of the training forward: how much of ReLU's / ReLU6's
    # non-linear range the fixture reaches (printed, for the record).
    pre_activations = OrderedDict()
    for mod_name, mod in model.named_modules():
        if isinstance(mod, FrameBlock):
            def keep_first(module, inputs, output, key=mod_name):
                if key not in pre_activations:
                    pre_activations[key] = output.detach()
            mod.fc[0].register_forward_hook(keep_first)
    model.train()
    model.zero_grad()
    sequence_output = model.get_sequence_output(inp["input_ids"])
    visual_output = model.get_visual_output(inp["video"])
    sim_train, inter = model.similarity(sequence_output, visual_output, inp["video_mask"])
    loss = (xr.cross_en(sim_train) + xr.cross_en(sim_train.t())) / 2
    loss.backward()

    model.eval()  # eval_epoch: encoders in batches, then the similarity block by block
    bs = opt["batch_size_val"]
    with torch.no_grad():
        texts = [model.get_sequence_output(inp["input_ids"][s:s + bs]) for s in range(0, BATCH, bs)]
        videos = [(model.get_visual_output(inp["video"][s:s + bs]), inp["video_mask"][s:s + bs])
                  for s in range(0, BATCH, bs)]
        sim_eval = torch.cat([torch.cat([model.similarity(t, v, m)[0] for v, m in videos], dim=1) for t in texts])

    expected = OrderedDict(sim_train=sim_train.detach(), loss=loss.detach().reshape(1), sim_eval=sim_eval,
                           sequence_output=sequence_output.detach(), visual_output=visual_output.detach())
    expected.update((k, v.detach()) for k, v in inter.items())
    expected.update(xr.parameter_grads(model))
    config = OrderedDict(kind="full", description=description, precision="f32", clip_head_width=xr.HEAD_WIDTH,
                         tolerance=1e-5, grad_tolerance=1e-5, init_from_clip=init_from_clip)
    if opt["sim_header"] == "tightTransf":
        # similarity_dense.bias adds one constant to every logit, which both softmaxes of the loss
        # cancel: its gradient is 0 (here ~1e-17), and f32 leaves ~1e-8 of rounding in its sum.
        config["absolute_tolerance"] = 1e-7
    config.update(opt)
    copied = ("cross.embeddings.", "cross.transformer.") if init_from_clip else ()
    weights = OrderedDict((k, p) for k, p in model.named_parameters() if not k.startswith(copied))
    xr.write_bundle(os.path.join(out_dir, name), weights, inp, expected, config,
                    "tools/reference/ea_clip4clip_reference.py")
    ranges = " ".join(f"{k} [{float(t.min()):.2f},{float(t.max()):.2f}]" for k, t in pre_activations.items())
    gap = float((sim_train.detach() - sim_eval).abs().max())
    print(f"{name:40s} loss {float(loss):.6f}  |train-eval| {gap:.1e}  fc.0 ranges {ranges}")


BUNDLES = [
    # name, description, options, spread of the blocks' first layers
    ("ea_meanp_exc_agg_r4", "README 'Squeeze Excitation-and-Aggregation vs meanP': meanP, "
     "excitation_aggregation unity, r 4", {"se_type": "excitation_aggregation"}, 2.0),
    ("ea_seqtransf_agg_r0.25", "README 'Expansion Aggregation vs seqTransf' (the sequential cascade): "
     "temporal transformer, then aggregation r 0.25 (ReLU6)",
     {"sim_header": "seqTransf", "se_type": "aggregation", "reduction_ratio": 0.25}, 12.0),
    ("ea_meanp_excitation", "loose excitation r 4 (ReLU), then the masked mean of the raw frames",
     {"se_type": "excitation"}, 6.0),
    ("ea_seqtransf_excitation_seq", "excitation_seq r 4: excitation before the temporal transformer, then the "
     "masked mean", {"sim_header": "seqTransf", "se_type": "excitation_seq"}, 3.0),
    ("ea_meanp_squeeze_expand", "excitation_aggregation squeeze_expand r 4 (ReLU, then ReLU6 with 1/r)",
     {"se_type": "excitation_aggregation", "excitation_aggregation_type": "squeeze_expand"}, 12.0),
    ("ea_seqtransf_expand_squeeze_masked", "excitation_aggregation expand_squeeze r 0.5 (ReLU6, then ReLU), "
     "intra_attn on, padded frames masked (ea_mask_frames)",
     {"sim_header": "seqTransf", "se_type": "excitation_aggregation", "reduction_ratio": 0.5,
      "excitation_aggregation_type": "expand_squeeze", "ea_intra_attn": True, "ea_mask_frames": True}, 16.0),
    ("ea_meanp_exc_agg_r4_intra", "README meanP excitation_aggregation unity r 4 with intra_attn on: the released code as it runs",
     {"se_type": "excitation_aggregation", "ea_intra_attn": True}, 6.0),
    ("ea_seqlstm_agg_r0.25", "README 'Expansion Aggregation vs seqLSTM': CLIP4Clip's LSTM (+ residual), then "
     "aggregation r 0.25 (ReLU6)", {"sim_header": "seqLSTM", "se_type": "aggregation", "reduction_ratio": 0.25}, 12.0),
    ("ea_tighttransf_excitation_r4", "README 'Squeeze Excitation vs tightTransf': excitation r 4 (ReLU) on the frames, "
     "then CLIP4Clip's cross encoder over every pair and similarity_dense",
     {"sim_header": "tightTransf", "se_type": "excitation"}, 6.0),
    ("ea_tighttransf_plain", "CLIP4Clip's own tight type (se_block off): the cross encoder alone over the raw frames",
     {"sim_header": "tightTransf", "se_block": False}, 1.0),
]
TIGHT_FROM_CLIP = ("ea_tighttransf_init_from_clip", "tightTransf excitation r 0.5 (ReLU6) with masked squeeze, the "
                   "cross transformer and its position table copied from CLIP's text tower (from_pretrained)",
                   {"sim_header": "tightTransf", "se_type": "excitation", "reduction_ratio": 0.5, "ea_mask_frames": True},
                   12.0)


def main(out_dir):
    torch.set_num_threads(1)
    torch.set_default_dtype(xr.DTYPE)
    for i, (name, description, options, spread) in enumerate(BUNDLES):
        build_bundle(out_dir, name, description, options, i, spread)
    name, description, options, spread = TIGHT_FROM_CLIP
    build_bundle(out_dir, name, description, options, len(BUNDLES), spread, init_from_clip=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/bundles")
