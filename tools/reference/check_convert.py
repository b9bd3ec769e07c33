"""The PyTorch side of `xclip-cli convert IN pytorch_model.bin.N`: does the file load the way the
original X-CLIP code loads it? main_xclip.py does `torch.load(model_file, map_location='cpu')` and
hands the dict to XCLIP.from_pretrained, which load_state_dicts it into the XCLIP module by name.

Run from the repository root with Debian's PyTorch 1.13 (never at build, test or run time):

    # a tiny X-CLIP as our training saves it (the C++ test keeps its files in DIR)
    XCLIP_KEEP_CONVERT_DIR=/tmp/cv build/test_cli "convert: our X-CLIP safetensors*"
    /usr/bin/python3 tools/reference/check_convert.py check /tmp/cv/pytorch_model.bin.0 \\
        --source /tmp/cv/checkpoint.0/model.safetensors

    # a ViT-B/32-sized X-CLIP with random weights (CLIP's convert_weights tensors in fp16)
    /usr/bin/python3 tools/reference/check_convert.py make /tmp/b32 --size vit-b32 --fp16
    build/xclip-cli convert /tmp/b32/model.safetensors /tmp/b32/pytorch_model.bin.0
    /usr/bin/python3 tools/reference/check_convert.py check /tmp/b32/pytorch_model.bin.0 \\
        --source /tmp/b32/model.safetensors

make writes DIR/model.safetensors (the reference XCLIP module of xclip_reference.py with random
weights, official names) and DIR/model_config.json as our training writes it (tiny: the
reference's CLIP_CFG and DEFAULT_OPTIONS; vit-b32: OpenAI's ViT-B/32 and the official options,
max_words 32, max_frames 12, 4 temporal layers).

check
  1. torch.load(path, map_location='cpu'), as main_xclip.py;
  2. builds the reference XCLIP (tools/reference/xclip_reference.py) with the config read off the
     loaded shapes as the original's build_model does (CLIP), the X-CLIP options from the head
     tensors (the original takes them from its flags, which must match the weights), and compares
     that config with model_config.json beside --source when there is one;
  3. model.load_state_dict(state, strict=True): no missing, no unexpected, no mis-shaped tensor;
  4. requires the keys in the module's state_dict order (what torch.save(model.state_dict())
     lists), every tensor contiguous with exactly its parameter's shape (torch itself would also
     take [1] for a scalar, convert writes []), and the dtype and bytes of the --source
     safetensors (read with safetensors_np, independent of our C++ reader) and the loaded
     parameter's value;
  5. torch.save of the loaded dict under the same file name gives our file's bytes.
"""
import argparse
import collections
import json
import math
import os
import re
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np  # noqa: E402
import xclip_reference as ref  # noqa: E402
from check_torch_save_writer import torch_save_gives_the_same_bytes  # noqa: E402

VIT_B32 = dict(embed_dim=512, vision_width=768, vision_layers=12, patch=32, resolution=224, text_width=512,
               text_layers=12, vocab=49408, context=77)
OFFICIAL = dict(ref.DEFAULT_OPTIONS, max_words=32, max_frames=12, cross_num_hidden_layers=4, temporal_heads=8)


def count_blocks(state, prefix):
    blocks = {int(m.group(1)) for k in state for m in [re.match(re.escape(prefix) + r"(\d+)\.", k)] if m}
    return max(blocks) + 1 if blocks else 0


def config_from_shapes(state):
    """CLIP as the original's build_model reads it; the head options from the head's tensors."""
    grid = round(math.sqrt(state["clip.visual.positional_embedding"].shape[0] - 1))
    clip = dict(embed_dim=state["clip.text_projection"].shape[1],
                vision_width=state["clip.visual.conv1.weight"].shape[0],
                vision_layers=count_blocks(state, "clip.visual.transformer.resblocks."),
                patch=state["clip.visual.conv1.weight"].shape[-1],
                resolution=state["clip.visual.conv1.weight"].shape[-1] * grid,
                text_width=state["clip.ln_final.weight"].shape[0],
                text_layers=count_blocks(state, "clip.transformer.resblocks."),
                vocab=state["clip.token_embedding.weight"].shape[0],
                context=state["clip.positional_embedding"].shape[0])
    opt = dict(ref.DEFAULT_OPTIONS)
    opt["learnable_aosm"] = "global_mat_weight" in state
    if opt["learnable_aosm"]:
        opt["max_words"] = state["word_logit_weight"].shape[0]
        opt["max_frames"] = state["frame_logit_weight"].shape[0]
    opt["sim_header"] = "seqTransf" if "frame_position_embeddings.weight" in state else "meanP"
    opt["cross_num_hidden_layers"] = count_blocks(state, "transformerClip.resblocks.")
    return clip, opt


def set_head_width(clip):
    """Heads leave no trace in the weights; any width dividing both towers builds the same shapes."""
    ref.HEAD_WIDTH = math.gcd(clip["vision_width"], clip["text_width"], 64)


def compare_with_model_config(path, clip, opt):
    with open(path) as f:
        j = json.load(f)
    c, h = j["clip"], j["xclip"]
    ours = dict(embed_dim=c["embed_dim"], vision_width=c["vision"]["width"], vision_layers=c["vision"]["layers"],
                patch=c["vision"]["patch"], resolution=c["vision"]["resolution"], text_width=c["text"]["width"],
                text_layers=c["text"]["layers"], vocab=c["text"]["vocab_size"], context=c["text"]["context_length"])
    assert ours == clip, f"{path}: CLIP config {ours} differs from the shapes' {clip}"
    for key in ("sim_header", "learnable_aosm", "cross_num_hidden_layers") + (
            ("max_words", "max_frames") if opt["learnable_aosm"] else ()):
        assert h[key] == opt[key], f"{path}: {key} {h[key]} differs from the shapes' {opt[key]}"
    print(f"  model_config.json beside the source agrees with the shapes")


def raw_bytes(t):
    return t.contiguous().numpy().tobytes()


def check(path, source):
    state = torch.load(path, map_location="cpu")  # main_xclip.py
    assert isinstance(state, collections.OrderedDict), f"{path}: torch.load gave a {type(state).__name__}"
    clip, opt = config_from_shapes(state)
    set_head_width(clip)
    opt["temporal_heads"] = clip["text_width"] // ref.HEAD_WIDTH
    print(f"{path}: {len(state)} tensors; CLIP {clip}; head {dict((k, opt[k]) for k in ('sim_header', 'max_words', 'max_frames', 'cross_num_hidden_layers', 'learnable_aosm'))}")
    beside = os.path.join(os.path.dirname(source), "model_config.json")
    if os.path.exists(beside):
        compare_with_model_config(beside, clip, opt)
    model = ref.XCLIP(clip, opt, fp16=False).float()
    result = model.load_state_dict(state, strict=True)  # raises on missing / unexpected / mis-shaped
    assert not result.missing_keys and not result.unexpected_keys, result
    print(f"  load_state_dict(strict=True) into the reference XCLIP: no missing, no unexpected key")
    module_keys = list(model.state_dict().keys())
    assert list(state.keys()) == module_keys, "the keys are not in the module's state_dict order"
    print(f"  keys in the module's state_dict order ({len(module_keys)} parameters)")
    arrays = safetensors_np.load(source)
    assert sorted(arrays) == sorted(state), "names differ from the source safetensors"
    params = dict(model.named_parameters())
    dtypes = collections.Counter()
    for name, t in state.items():
        expected = torch.from_numpy(np.array(arrays[name]))
        assert t.dtype == expected.dtype, f"{name}: dtype {t.dtype} != source {expected.dtype}"
        assert tuple(t.shape) == tuple(params[name].shape), \
            f"{name}: shape {tuple(t.shape)}, module {tuple(params[name].shape)}"
        # A scalar stored as [1] (safetensors_np, like numpy writers, promotes 0-d arrays) is given
        # the parameter's shape [] by convert.
        assert tuple(t.shape) == tuple(expected.shape) or (t.dim() == 0 and expected.shape == (1,)), \
            f"{name}: shape {tuple(t.shape)}, source {tuple(expected.shape)}"
        assert t.is_contiguous(), f"{name}: not contiguous"
        assert raw_bytes(t) == raw_bytes(expected), f"{name}: bytes differ from the source"
        assert torch.equal(params[name].detach(), t.float()), f"{name}: the loaded parameter differs"
        dtypes[str(t.dtype).replace("torch.", "")] += 1
    print(f"  every tensor equals the source safetensors (dtype, shape, bytes): {dict(dtypes)}")
    assert torch_save_gives_the_same_bytes(state, path), "torch.save of the loaded dict gives other bytes than our file"
    print(f"  torch.save of the loaded dict is byte-identical with the file ({os.path.getsize(path)} bytes); "
          f"torch {torch.__version__}: OK")


def make(out_dir, size, fp16, seed):
    clip, opt = (VIT_B32, dict(OFFICIAL)) if size == "vit-b32" else (dict(ref.CLIP_CFG), dict(ref.DEFAULT_OPTIONS))
    if size == "vit-b32":
        ref.HEAD_WIDTH = 64  # OpenAI's; the tiny model keeps the reference's 8
    model = ref.XCLIP(clip, opt, fp16=False).float()
    gen = torch.Generator().manual_seed(seed)
    state = collections.OrderedDict()
    with torch.no_grad():
        for name, p in model.named_parameters():
            t = torch.randn(p.shape, generator=gen) * 0.02
            half = fp16 and name.startswith("clip.") and ref.converted_by_convert_weights(name[len("clip."):])
            state[name] = t.half() if half else t
    os.makedirs(out_dir, exist_ok=True)
    safetensors_np.save(os.path.join(out_dir, "model.safetensors"), {k: v.numpy() for k, v in state.items()},
                        {"made_by": "tools/reference/check_convert.py make"})
    grid = clip["resolution"] // clip["patch"]
    config = {"clip": {"embed_dim": clip["embed_dim"],
                       "vision": {"width": clip["vision_width"], "layers": clip["vision_layers"],
                                  "heads": clip["vision_width"] // ref.HEAD_WIDTH, "patch": clip["patch"],
                                  "grid": grid, "resolution": clip["resolution"]},
                       "text": {"width": clip["text_width"], "layers": clip["text_layers"],
                                "heads": clip["text_width"] // ref.HEAD_WIDTH, "context_length": clip["context"],
                                "vocab_size": clip["vocab"]}},
              "xclip": {"head": "xclip", "sim_header": opt["sim_header"], "max_words": opt["max_words"],
                        "max_frames": opt["max_frames"], "cross_num_hidden_layers": opt["cross_num_hidden_layers"],
                        "temporal_heads": opt["temporal_heads"], "learnable_aosm": opt["learnable_aosm"]}}
    with open(os.path.join(out_dir, "model_config.json"), "w") as f:
        json.dump(config, f, indent=1)
        f.write("\n")
    n = sum(v.numel() for v in state.values())
    print(f"wrote {out_dir}/model.safetensors ({len(state)} tensors, {n} parameters) and model_config.json")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    mk = sub.add_parser("make", help="random-weight X-CLIP as model.safetensors + model_config.json")
    mk.add_argument("out_dir")
    mk.add_argument("--size", choices=["tiny", "vit-b32"], default="tiny")
    mk.add_argument("--fp16", action="store_true", help="CLIP's convert_weights tensors in fp16")
    mk.add_argument("--seed", type=int, default=0)
    ck = sub.add_parser("check", help="torch.load + load_state_dict(strict=True) of a converted file")
    ck.add_argument("pt")
    ck.add_argument("--source", required=True, help="the safetensors file convert read")
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.cmd == "make":
        make(args.out_dir, args.size, args.fp16, args.seed)
    else:
        check(args.pt, args.source)


if __name__ == "__main__":
    main()
