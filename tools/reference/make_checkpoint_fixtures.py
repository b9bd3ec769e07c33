"""Checkpoint and pickle fixtures for the io tests (tests/io), made offline with Debian's PyTorch.

Run from the repository root (never at test time):

    /usr/bin/python3 tools/reference/make_checkpoint_fixtures.py tests/fixtures/io
    /usr/bin/python3 tools/reference/make_checkpoint_fixtures.py --big /tmp/xclip_big_checkpoints

The first form writes the small committed fixtures (< 1 MB together):

  tiny_clip.state_dict.pt    torch.save(model.state_dict()) of a tiny CLIP (clip_model.py, OpenAI
                             names; fp16 where OpenAI's convert_weights puts fp16, as the official
                             X-CLIP checkpoints have it)
  tiny_clip.scripted.pt      torch.jit.save(torch.jit.script(model)) of the same weights, with the
                             three scalar buffers OpenAI's files carry (input_resolution,
                             context_length, vocab_size) and the text blocks' attn_mask attribute
                             (a tensor attribute that is neither parameter nor buffer)
  tiny_clip.traced.pt        torch.jit.trace of the same model, like OpenAI's released ViT-B-32.pt
  tiny_clip.hf.safetensors   the same weights under Hugging Face CLIPModel names (separate q/k/v,
                             transposed projections), written by save_safetensors below (tensors
                             in name order, as a different writer than ours would)
  tiny_clip.expected.json    per tensor: dtype, shape and CRC-32 of its bytes (the truth the C++
                             loaders are checked against), and the key order of the eager and the
                             TorchScript state_dict()
  views.pt, views_legacy.pt  a dict of tensors with views (transpose, slices with storage offsets,
                             steps), shared storages and every dtype, saved with the zip and the
                             legacy (pre-1.6) serialization; views_deflated.pt / views_zip64.pt are
                             the zip re-packed with deflate / with forced ZIP64 records;
                             views.expected.json holds the values
  pickle_p{0,1,2,3,4,5}.pkl  one "kitchen sink" Python object pickled with each protocol
  raw_captions_p{2,4}.pkl    a small MSVD-style raw-captions.pkl (video id -> list of token lists)

--big DIR writes real-shaped random ViT-B/32 and ViT-B/16 checkpoints (fp16 like OpenAI's) for the
round-trip test and the load benchmark (about 1.2 GB; do not commit):
  DIR/ViT-B-{32,16}.pt             TorchScript (traced, like OpenAI's files)
  DIR/ViT-B-{32,16}.state_dict.pt  torch.save(state_dict)
  DIR/ViT-B-{32,16}.expected.json  dtype, shape and CRC-32 of every tensor
"""
import argparse
import json
import os
import pickle
import struct
import sys
import zipfile
import zlib
from collections import OrderedDict

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clip_model as cm  # noqa: E402

SEED = 1234


# ---- CLIP fixtures -----------------------------------------------------------------------------
def make_model(shape, jit_extras):
    torch.manual_seed(SEED)
    model = cm.CLIP(shape, jit_extras=jit_extras).eval()
    with torch.no_grad():  # non-trivial LayerNorm affine parameters and biases
        for name, p in model.named_parameters():
            if name.endswith(".bias") or ".ln_" in name or name.startswith("ln_"):
                p.add_(0.05 * torch.randn_like(p))
    return model


def tensor_record(t):
    t = t.contiguous()
    return {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
            "crc32": zlib.crc32(t.numpy().tobytes()) if t.dtype != torch.bfloat16
            else zlib.crc32(t.view(torch.int16).numpy().tobytes())}


def trace(model, shape):
    image = torch.randn(2, 3, shape.image_resolution, shape.image_resolution)
    text = torch.randint(1, shape.vocab_size, (2, shape.context_length))
    return torch.jit.trace(model, (image, text), check_trace=False)


def half_like(module, reference_state):
    """Casts parameters of a (scripted or traced) module to the dtypes of `reference_state`."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.data = p.data.to(reference_state[name].dtype)


def hf_names(state):
    """OpenAI CLIP names -> Hugging Face CLIPModel names (q/k/v split, projections transposed)."""
    out = OrderedDict()
    tower_of = [("visual.transformer.resblocks.", "vision_model.encoder.layers."),
                ("transformer.resblocks.", "text_model.encoder.layers.")]
    simple = {"visual.class_embedding": "vision_model.embeddings.class_embedding",
              "visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
              "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
              "visual.ln_pre.weight": "vision_model.pre_layrnorm.weight",
              "visual.ln_pre.bias": "vision_model.pre_layrnorm.bias",
              "visual.ln_post.weight": "vision_model.post_layernorm.weight",
              "visual.ln_post.bias": "vision_model.post_layernorm.bias",
              "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
              "positional_embedding": "text_model.embeddings.position_embedding.weight",
              "ln_final.weight": "text_model.final_layer_norm.weight",
              "ln_final.bias": "text_model.final_layer_norm.bias",
              "logit_scale": "logit_scale"}
    block = {"attn.out_proj.weight": "self_attn.out_proj.weight", "attn.out_proj.bias": "self_attn.out_proj.bias",
             "ln_1.weight": "layer_norm1.weight", "ln_1.bias": "layer_norm1.bias",
             "ln_2.weight": "layer_norm2.weight", "ln_2.bias": "layer_norm2.bias",
             "mlp.c_fc.weight": "mlp.fc1.weight", "mlp.c_fc.bias": "mlp.fc1.bias",
             "mlp.c_proj.weight": "mlp.fc2.weight", "mlp.c_proj.bias": "mlp.fc2.bias"}
    for name, t in state.items():
        if name in simple:
            out[simple[name]] = t
        elif name == "visual.proj":
            out["visual_projection.weight"] = t.t().contiguous()
        elif name == "text_projection":
            out["text_projection.weight"] = t.t().contiguous()
        elif name in ("input_resolution", "context_length", "vocab_size"):
            continue
        else:
            for openai, hf in tower_of:
                if name.startswith(openai):
                    layer, rest = name[len(openai):].split(".", 1)
                    stem = f"{hf}{layer}."
                    if rest.startswith("attn.in_proj_"):
                        kind = rest[len("attn.in_proj_"):]
                        for part, chunk in zip("qkv", t.chunk(3, dim=0)):
                            out[f"{stem}self_attn.{part}_proj.{kind}"] = chunk.contiguous()
                    else:
                        out[stem + block[rest]] = t
                    break
            else:
                raise KeyError(name)
    out["text_model.embeddings.position_ids"] = torch.arange(state["positional_embedding"].shape[0])[None]
    out["vision_model.embeddings.position_ids"] = torch.arange(state["visual.positional_embedding"].shape[0])[None]
    return out


def write_clip_fixtures(out_dir, shape, stem, with_hf=True, with_scripted=True):
    eager = make_model(shape, jit_extras=False)
    cm.convert_weights(eager)
    state = eager.state_dict()
    torch.save(state, os.path.join(out_dir, f"{stem}.state_dict.pt"))
    expected = {"eager_keys": list(state.keys()), "tensors": {k: tensor_record(v) for k, v in state.items()}}

    jit_model = make_model(shape, jit_extras=True)
    traced = trace(jit_model, shape)
    half_like(traced, state)
    torch.jit.save(traced, os.path.join(out_dir, f"{stem}.traced.pt" if with_scripted else f"{stem}.pt"))
    jit_state = traced.state_dict()
    expected["jit_keys"] = list(jit_state.keys())
    for k in ("input_resolution", "context_length", "vocab_size"):
        expected["tensors"][k] = tensor_record(jit_state[k])
    for k, v in state.items():  # the same weights in every file
        assert torch.equal(jit_state[k], v), k

    if with_scripted:
        scripted_model = make_model(shape, jit_extras=True)
        cm.convert_weights(scripted_model)
        scripted = torch.jit.script(scripted_model)
        torch.jit.save(scripted, os.path.join(out_dir, f"{stem}.scripted.pt"))
        assert list(scripted.state_dict().keys()) == expected["jit_keys"]
    if with_hf:
        hf = hf_names(state)
        save_safetensors(os.path.join(out_dir, f"{stem}.hf.safetensors"), hf, metadata={"format": "pt"})
    with open(os.path.join(out_dir, f"{stem}.expected.json"), "w") as f:
        json.dump(expected, f, indent=1)


def save_safetensors(path, tensors, metadata=None):
    """A plain safetensors writer: tensors in name order, 0-d tensors keep shape [], header padded
    with spaces to a multiple of 8 (https://github.com/huggingface/safetensors)."""
    names = {torch.float32: "F32", torch.float16: "F16", torch.float64: "F64", torch.int64: "I64",
             torch.int32: "I32", torch.uint8: "U8", torch.bfloat16: "BF16"}
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


# ---- views and dtypes --------------------------------------------------------------------------
def views_dict():
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) * 0.5 - 3
    return OrderedDict([
        ("base", base),
        ("transposed", base.t()),  # stride (1, 6), shares base's storage
        ("slice", base[1:3, 2:5]),  # storage offset 8
        ("step", base[:, ::2]),
        ("row", base[3]),
        ("scalar", torch.tensor(2.5)),
        ("half", torch.tensor([1.0, -0.5, 65504.0, 1e-7], dtype=torch.float16)),
        ("bf16", torch.tensor([1.0, -3.0, 0.1], dtype=torch.bfloat16)),
        ("f64", torch.tensor([[1.0 / 3, -2.0]], dtype=torch.float64)),
        ("i64", torch.tensor([-(2 ** 40), 0, 7])),
        ("i32", torch.tensor([[1, -2], [3, -4]], dtype=torch.int32)),
        ("u8", torch.tensor([0, 200, 255], dtype=torch.uint8)),
        ("bool", torch.tensor([True, False, True])),
        ("empty", torch.zeros(0, 3)),
        ("expanded", torch.tensor([1.0, 2.0]).expand(3, 2)),  # stride 0
    ])


def views_expected(d):
    out = {}
    for k, v in d.items():
        c = v.contiguous()
        values = c.float().flatten().tolist() if c.dtype in (torch.bfloat16, torch.float16) else \
            c.flatten().tolist()
        out[k] = {"dtype": str(c.dtype).replace("torch.", ""), "shape": list(c.shape),
                  "values": [float(x) if not isinstance(x, bool) else int(x) for x in values]}
    return out


def repack(src, dst, compression, force_zip64):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", compression=compression) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            with zout.open(zipfile.ZipInfo(info.filename), "w", force_zip64=force_zip64) as f:
                f.write(data)


def write_views(out_dir):
    d = views_dict()
    torch.save(d, os.path.join(out_dir, "views.pt"))
    torch.save(d, os.path.join(out_dir, "views_legacy.pt"), _use_new_zipfile_serialization=False)
    repack(os.path.join(out_dir, "views.pt"), os.path.join(out_dir, "views_deflated.pt"), zipfile.ZIP_DEFLATED, False)
    repack(os.path.join(out_dir, "views.pt"), os.path.join(out_dir, "views_zip64.pt"), zipfile.ZIP_STORED, True)
    for name in ("views.pt", "views_legacy.pt", "views_deflated.pt", "views_zip64.pt"):
        back = torch.load(os.path.join(out_dir, name))
        assert all(torch.equal(back[k], v) for k, v in d.items()), name
    with open(os.path.join(out_dir, "views.expected.json"), "w") as f:
        json.dump(views_expected(d), f, indent=1)


# ---- plain pickles -----------------------------------------------------------------------------
def kitchen_sink():
    shared = [9]
    return {
        "none": None, "true": True, "false": False,
        "small": 7, "neg": -300, "big": 2 ** 40, "min64": -2 ** 63, "max64": 2 ** 63 - 1,
        "float": 1.5, "negfloat": -2.25e-10,
        "str": "h\u00e9llo w\u00f6rld \u2713", "empty": "", "long_str": "x" * 300,
        "bytes": b"\x00\x01\xffabc", "bytearray": bytearray(b"xyz"),
        "list": [1, [2, [3, []]]], "tuple1": (1,), "tuple2": (1, 2), "tuple3": (1, 2, 3), "tuple4": (1, 2, 3, 4),
        "empty_tuple": (), "set": {1}, "frozenset": frozenset([2]),
        "ordered": OrderedDict([("b", 1), ("a", 2)]), "intkeys": {1: "one", 2: "two"},
        "shared": [shared, shared], "long_list": list(range(1500)),
    }


def raw_captions():
    return {"video0": [["a", "man", "is", "singing"], ["someone", "sings", "a", "song"]],
            "video1": [["a", "cat", "plays"]],
            "vid\u00e9o2": [["caf\u00e9", "au", "lait"], [], ["x"]]}


def write_pickles(out_dir):
    for p in range(6):
        with open(os.path.join(out_dir, f"pickle_p{p}.pkl"), "wb") as f:
            pickle.dump(kitchen_sink(), f, protocol=p)
    for p in (2, 4):
        with open(os.path.join(out_dir, f"raw_captions_p{p}.pkl"), "wb") as f:
            pickle.dump(raw_captions(), f, protocol=p)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", nargs="?")
    ap.add_argument("--big", metavar="DIR", help="write real-shaped ViT-B/32 and ViT-B/16 checkpoints into DIR")
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.big:
        os.makedirs(args.big, exist_ok=True)
        for stem, shape in (("ViT-B-32", cm.ClipShape.vit_b32()), ("ViT-B-16", cm.ClipShape.vit_b16())):
            write_clip_fixtures(args.big, shape, stem, with_hf=False, with_scripted=False)
            print("wrote", stem)
    if args.out_dir:
        os.makedirs(args.out_dir, exist_ok=True)
        write_clip_fixtures(args.out_dir, cm.ClipShape(), "tiny_clip")
        write_views(args.out_dir)
        write_pickles(args.out_dir)
        total = sum(os.path.getsize(os.path.join(args.out_dir, f)) for f in os.listdir(args.out_dir))
        print(f"wrote {len(os.listdir(args.out_dir))} files, {total} bytes, into {args.out_dir}")
    if not args.big and not args.out_dir:
        ap.error("give an output folder and/or --big DIR")


if __name__ == "__main__":
    main()
