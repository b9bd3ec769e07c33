"""Float32 forward reference values for layer_norm, softmax with temperature 0.01, multi-head
attention (nn.MultiheadAttention, as CLIP uses it) and QuickGELU.

Run offline with Debian's PyTorch (never at test time):
    /usr/bin/python3 tools/reference/ops_reference.py tests/fixtures/reference/ops_f32.safetensors

Every output is computed by PyTorch modules/functions in float32 from the stored float32 inputs.
"""
import sys

import numpy as np
import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import safetensors_np  # noqa: E402


def main(path):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    t = {}
    # layer_norm: CLIP's eps 1e-5 and the temporal encoder's 1e-12, width 512 rows like CLIP text.
    x = torch.randn(3, 4, 512) * 3 + 0.5
    w, b = torch.randn(512), torch.randn(512)
    t["layer_norm.x"], t["layer_norm.weight"], t["layer_norm.bias"] = x, w, b
    t["layer_norm.eps1e-5"] = torch.nn.functional.layer_norm(x, (512,), w, b, 1e-5)
    t["layer_norm.eps1e-12"] = torch.nn.functional.layer_norm(x, (512,), w, b, 1e-12)
    # softmax with τ = 0.01 over cosine-similarity-like values (as the AOSM weights).
    s = torch.rand(5, 32, 12) * 0.6 - 0.3
    t["softmax.x"] = s
    t["softmax.tau0.01.axis1"] = torch.softmax(s / 0.01, dim=1)
    t["softmax.tau0.01.axis2"] = torch.softmax(s / 0.01, dim=2)
    t["log_softmax.tau0.01.axis2"] = torch.log_softmax(s / 0.01, dim=2)
    # QuickGELU
    q = torch.randn(2, 1024) * 4
    t["quick_gelu.x"] = q
    t["quick_gelu.y"] = q * torch.sigmoid(1.702 * q)
    # Multi-head attention: B=3, L=10, D=64, 4 heads; no mask, causal, key padding (-1e6).
    B, L, D, H = 3, 10, 64, 4
    mha = torch.nn.MultiheadAttention(D, H)
    with torch.no_grad():
        mha.in_proj_bias.normal_(0, 0.1)
        mha.out_proj.bias.normal_(0, 0.1)
    xa = torch.randn(B, L, D)
    t["attention.x"] = xa
    t["attention.in_proj_weight"] = mha.in_proj_weight.detach()
    t["attention.in_proj_bias"] = mha.in_proj_bias.detach()
    t["attention.out_proj.weight"] = mha.out_proj.weight.detach()
    t["attention.out_proj.bias"] = mha.out_proj.bias.detach()
    causal = torch.full((L, L), float("-inf")).triu_(1)
    video_mask = torch.ones(B, L)
    video_mask[1, 7:] = 0
    video_mask[2, 3:] = 0
    pad = ((1.0 - video_mask.unsqueeze(1)) * -1000000.0).expand(-1, L, -1)  # [B, L, L] as X-CLIP builds it
    t["attention.video_mask"] = video_mask
    with torch.no_grad():
        xl = xa.permute(1, 0, 2)  # nn.MultiheadAttention wants [L, B, D]
        t["attention.out.none"] = mha(xl, xl, xl, need_weights=False)[0].permute(1, 0, 2)
        t["attention.out.causal"] = mha(xl, xl, xl, need_weights=False, attn_mask=causal)[0].permute(1, 0, 2)
        pad_heads = pad.repeat_interleave(H, dim=0)  # [B*H, L, L], as transformerClip does
        t["attention.out.padding"] = mha(xl, xl, xl, need_weights=False, attn_mask=pad_heads)[0].permute(1, 0, 2)
    arrays = {k: v.detach().contiguous().numpy().astype(np.float32) for k, v in t.items()}
    safetensors_np.save(path, arrays, {"made_by": "tools/reference/ops_reference.py", "torch": torch.__version__})
    print(f"wrote {len(arrays)} tensors to {path}")


if __name__ == "__main__":
    main(sys.argv[1])
