"""Fixture for the convert tests (tests/cli): a tiny X-CLIP state saved the way the official
X-CLIP checkpoints are (torch.save of the state_dict, pytorch_model.bin.N), made offline with
Debian's PyTorch from the committed reference bundle:

    /usr/bin/python3 tools/reference/make_convert_fixtures.py tests/fixtures/cli

  xclip_tiny.pytorch_model.bin  the weights of tests/fixtures/bundles/xclip_seqtransf/weights.safetensors
                                (official names: the matrices, clip.*, frame_position_embeddings,
                                transformerClip.*), CLIP's convert_weights parameters in fp16 so
                                the file mixes dtypes as the released ones do
  xclip_tiny.expected.json      per tensor: dtype, shape and CRC-32 of its bytes, and the key order
"""
import argparse
import json
import os
import sys
from collections import OrderedDict

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_checkpoint_fixtures as fx  # noqa: E402
import safetensors_np  # noqa: E402

BUNDLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tests/fixtures/bundles/xclip_seqtransf")
FP16_PARTS = ("visual.conv1.weight", "attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight",
              "attn.out_proj.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias")


def official_fp16(name):
    """The parameters CLIP's convert_weights turns into fp16 (CLIP's own, under clip.)."""
    if not name.startswith("clip."):
        return False
    rest = name[len("clip."):]
    return rest in ("text_projection", "visual.proj") or any(rest.endswith(p) for p in FP16_PARTS)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    args = ap.parse_args()
    arrays = safetensors_np.load(os.path.join(BUNDLE, "weights.safetensors"))
    # The official state_dict order: the matrices, clip.*, then the temporal encoder.
    rank = lambda n: (1 if n.startswith("clip.") else 2 if n.startswith(("frame_position", "transformerClip")) else 0)
    state = OrderedDict()
    for name in sorted(arrays, key=lambda n: (rank(n), n)):
        t = torch.from_numpy(np.array(arrays[name]))
        state[name] = t.half() if official_fp16(name) else t
    os.makedirs(args.out_dir, exist_ok=True)
    torch.save(state, os.path.join(args.out_dir, "xclip_tiny.pytorch_model.bin"))
    expected = {"keys": list(state.keys()), "tensors": {k: fx.tensor_record(v) for k, v in state.items()}}
    with open(os.path.join(args.out_dir, "xclip_tiny.expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    print("wrote", len(state), "tensors into", args.out_dir)


if __name__ == "__main__":
    main()
