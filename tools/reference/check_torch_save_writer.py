"""The PyTorch side of our torch.save writer (include/xclip/io/torch_save.hpp, src/io/torch_save.cpp),
which `xclip-cli convert` uses to write pytorch_model.bin.N and the tests use for real-sized .pt files.

Run from the repository root with Debian's PyTorch 1.13 (never at test time):

    /usr/bin/python3 tools/reference/check_torch_save_writer.py make-fixture tests/fixtures/io/torch_save_tiny.pt
    XCLIP_KEEP_ROUNDTRIP_DIR=/tmp/rt build/test_io "[torch_save],[real]"
    /usr/bin/python3 tools/reference/check_torch_save_writer.py check /tmp/rt/torch_save_tiny.pt
    /usr/bin/python3 tools/reference/check_torch_save_writer.py check /tmp/rt/ViT-B-32.state_dict.pt \
        --reference /tmp/rt/ViT-B-32.roundtrip.safetensors

make-fixture writes torch.save(tiny_state()) (24 KB, committed): 48 small tensors of every
dtype the writer knows, shapes of 0 to 4 dimensions, a 300-element tensor (BININT2), more than 256
memoized objects (LONG_BINPUT / LONG_BINGET) and more than 10 storages (keys "10" < "2"). The C++
test writes the same dict with our writer and requires the same bytes.

check loads a file our writer made with torch.load and requires, tensor by tensor, the same names
in the same order, dtypes, shapes and bytes as the expected ones: tiny_state() by default, or the
tensors of --reference (a safetensors file, read with safetensors_np, independent of our C++
reader). It then saves what it loaded with torch.save under the same file name and requires the
bytes of our file: our writer is byte-identical with torch.save at that size too.
"""
import argparse
import collections
import os
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np  # noqa: E402

SHAPES = [(), (3,), (2, 3), (2, 3, 4), (4, 1, 2, 2), (300,)]
DTYPES = [torch.float32, torch.float16, torch.int64, torch.float64, torch.bfloat16]


def tiny_state():
    """The dict tests/io/test_real_size_roundtrip.cpp builds (tiny_state there): tensor k has
    element i = ((7 i + 3 k) % 17 - 8) / 2 (floating) or (7 i + 3 k) % 17 - 8 (integer);
    tensors 40.. are int32 / uint8 (u8: (7 i + 3 k) % 251), whose storage classes first appear
    after the 256th memoized object."""
    sd = collections.OrderedDict()
    for k in range(48):
        shape = SHAPES[k % len(SHAPES)]
        dtype = DTYPES[k % len(DTYPES)] if k < 40 else (torch.int32 if k % 2 == 0 else torch.uint8)
        n = int(np.prod(shape, dtype=np.int64))
        i = torch.arange(n, dtype=torch.int64)
        if dtype == torch.uint8:
            v = (7 * i + 3 * k) % 251
        else:
            v = (7 * i + 3 * k) % 17 - 8
        v = v.to(torch.float64) / 2 if dtype.is_floating_point else v
        sd[f"block.{k}.weight"] = v.to(dtype).reshape(shape)
    return sd


def raw_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def compare(loaded, expected):
    assert list(loaded.keys()) == list(expected.keys()), "names or their order differ"
    for name, t in expected.items():
        got = loaded[name]
        assert got.dtype == t.dtype, f"{name}: dtype {got.dtype} != {t.dtype}"
        assert tuple(got.shape) == tuple(t.shape), f"{name}: shape {tuple(got.shape)} != {tuple(t.shape)}"
        assert raw_bytes(got) == raw_bytes(t), f"{name}: bytes differ"


def reference_tensors(path, order):
    arrays = safetensors_np.load(path)
    return collections.OrderedDict((name, torch.from_numpy(np.array(arrays[name]))) for name in order)


def torch_save_gives_the_same_bytes(loaded, path):
    """Whether torch.save(loaded) under the file name of `path` writes the bytes of `path`."""
    with tempfile.TemporaryDirectory() as tmp:
        again = os.path.join(tmp, os.path.basename(path))  # the archive folder comes from the name
        torch.save(loaded, again)
        with open(again, "rb") as a, open(path, "rb") as b:
            return a.read() == b.read()


def check(path, reference):
    loaded = torch.load(path, map_location="cpu")
    expected = tiny_state() if reference is None else reference_tensors(reference, list(loaded.keys()))
    compare(loaded, expected)
    assert torch_save_gives_the_same_bytes(loaded, path), \
        "torch.save of the loaded tensors gives different bytes than our writer"
    print(f"{path}: {len(loaded)} tensors load in torch.load {torch.__version__} as expected; "
          "torch.save of them is byte-identical")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    mk = sub.add_parser("make-fixture")
    mk.add_argument("out")
    ck = sub.add_parser("check")
    ck.add_argument("pt")
    ck.add_argument("--reference", help="safetensors file with the expected tensors")
    args = ap.parse_args()
    if args.cmd == "make-fixture":
        torch.save(tiny_state(), args.out)
        print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")
    else:
        check(args.pt, args.reference)


if __name__ == "__main__":
    main()
