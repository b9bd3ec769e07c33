"""Real-shaped random ViT-B/32 checkpoints for bench/bench_checkpoint_load.cpp (about 1 GB; never
commit them). Made offline with Debian's PyTorch:

    /usr/bin/python3 tools/reference/make_load_bench_checkpoints.py /tmp/xclip_load_bench

writes, with the weights of make_checkpoint_fixtures.py (fp16 where OpenAI's convert_weights puts
fp16, as in the released ViT-B-32.pt and the official X-CLIP pytorch_model.bin.N):

  DIR/ViT-B-32.pt               TorchScript (traced, like OpenAI's released file, with the three
                                scalar buffers input_resolution / context_length / vocab_size)
  DIR/ViT-B-32.state_dict.pt    torch.save(state_dict), the layout of pytorch_model.bin.N
  DIR/ViT-B-32.expected.json    dtype, shape and CRC-32 of every tensor
  DIR/ViT-B-32.safetensors      the same state_dict as safetensors (tensors in name order, written
                                by a plain writer that is not ours)
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clip_model as cm  # noqa: E402
import make_checkpoint_fixtures as fx  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    args = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(args.out_dir, exist_ok=True)
    stem = "ViT-B-32"
    fx.write_clip_fixtures(args.out_dir, cm.ClipShape.vit_b32(), stem, with_hf=False, with_scripted=False)
    state = torch.load(os.path.join(args.out_dir, f"{stem}.state_dict.pt"))
    fx.save_safetensors(os.path.join(args.out_dir, f"{stem}.safetensors"), state, metadata={"format": "pt"})
    for name in sorted(os.listdir(args.out_dir)):
        print(f"{os.path.getsize(os.path.join(args.out_dir, name)):>12}  {name}")


if __name__ == "__main__":
    main()
