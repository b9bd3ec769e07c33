"""A small PyTorch CLIP (ViT image tower + causal text tower) written from the spec (§1-3), with the
module layout and state_dict names of OpenAI's clip/model.py and X-CLIP's modules/module_clip.py:

    visual.conv1.weight, visual.class_embedding, visual.positional_embedding, visual.ln_pre.*,
    visual.transformer.resblocks.N.{attn.in_proj_weight, attn.in_proj_bias, attn.out_proj.*,
    ln_1.*, mlp.c_fc.*, mlp.c_proj.*, ln_2.*}, visual.ln_post.*, visual.proj,
    positional_embedding, transformer.resblocks.N.*, token_embedding.weight, ln_final.*,
    text_projection, logit_scale

Every size is configurable (width, layers, patch, resolution, vocabulary, context, embedding, and
the head width, 64 in OpenAI's models), so the same code makes tiny test models and real-shaped
ViT-B/32 / ViT-B/16 ones. Offline tool only (Debian python3 + torch 1.13); never used at run time.

    from clip_model import CLIP, ClipShape, convert_weights
    model = CLIP(ClipShape.vit_b32()); convert_weights(model)   # fp16 like OpenAI's released files
    model.state_dict().keys()
"""
from collections import OrderedDict
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
import torch.nn.functional as F


@dataclass
class ClipShape:
    embed_dim: int = 32
    image_resolution: int = 32
    vision_layers: int = 2
    vision_width: int = 32
    vision_patch_size: int = 8
    context_length: int = 16
    vocab_size: int = 320
    transformer_width: int = 32
    transformer_layers: int = 2
    head_width: int = 16  # OpenAI: 64; 16 gives the tiny default model two heads

    @staticmethod
    def vit_b32():
        return ClipShape(512, 224, 12, 768, 32, 77, 49408, 512, 12, 64)

    @staticmethod
    def vit_b16():
        return ClipShape(512, 224, 12, 768, 16, 77, 49408, 512, 12, 64)


class LayerNorm(nn.LayerNorm):
    """torch LayerNorm evaluated in fp32, result cast back to the input dtype (spec §1.4)."""

    def forward(self, x: torch.Tensor):
        orig_type = x.dtype
        ret = F.layer_norm(x.type(torch.float32), self.normalized_shape, self.weight, self.bias, self.eps)
        return ret.type(orig_type)


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, d_model: int, n_head: int, attn_mask: Optional[torch.Tensor] = None):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, n_head)
        self.ln_1 = LayerNorm(d_model)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(d_model, d_model * 4)),
            ("gelu", QuickGELU()),
            ("c_proj", nn.Linear(d_model * 4, d_model)),
        ]))
        self.ln_2 = LayerNorm(d_model)
        # A plain attribute as in OpenAI's code: not a parameter or buffer, so not in state_dict()
        # (a scripted archive still stores it as a tensor attribute of the block).
        self.attn_mask = attn_mask

    def attention(self, x: torch.Tensor):
        mask = self.attn_mask
        if mask is not None:
            mask = mask.to(dtype=x.dtype, device=x.device)
        return self.attn(x, x, x, need_weights=False, attn_mask=mask)[0]

    def forward(self, x: torch.Tensor):
        x = x + self.attention(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, attn_mask: Optional[torch.Tensor] = None):
        super().__init__()
        self.width = width
        self.layers = layers
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads, attn_mask) for _ in range(layers)])

    def forward(self, x: torch.Tensor):
        return self.resblocks(x)


class VisionTransformer(nn.Module):
    def __init__(self, input_resolution: int, patch_size: int, width: int, layers: int, heads: int,
                 output_dim: int):
        super().__init__()
        self.input_resolution = input_resolution
        self.output_dim = output_dim
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size, bias=False)
        scale = width ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        grid = input_resolution // patch_size
        self.positional_embedding = nn.Parameter(scale * torch.randn(grid * grid + 1, width))
        self.ln_pre = LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def forward(self, x: torch.Tensor):
        x = self.conv1(x)  # [N, width, grid, grid]
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)  # [N, grid², width], row-major patches
        cls = self.class_embedding.to(x.dtype) + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype,
                                                             device=x.device)
        x = torch.cat([cls, x], dim=1)
        x = x + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x)
        x = x.permute(1, 0, 2)  # sequence first
        x = self.transformer(x)
        x = x.permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj


class CLIP(nn.Module):
    def __init__(self, shape: ClipShape, jit_extras: bool = False):
        """jit_extras: also register the three scalar buffers input_resolution, context_length and
        vocab_size that OpenAI's released TorchScript files carry (their loaders delete them)."""
        super().__init__()
        s = shape
        self.context_length = s.context_length
        self.visual = VisionTransformer(s.image_resolution, s.vision_patch_size, s.vision_width, s.vision_layers,
                                        s.vision_width // s.head_width, s.embed_dim)
        self.transformer = Transformer(s.transformer_width, s.transformer_layers,
                                       s.transformer_width // s.head_width, self.build_attention_mask())
        self.vocab_size = s.vocab_size
        self.token_embedding = nn.Embedding(s.vocab_size, s.transformer_width)
        self.positional_embedding = nn.Parameter(torch.empty(s.context_length, s.transformer_width))
        self.ln_final = LayerNorm(s.transformer_width)
        self.text_projection = nn.Parameter(torch.empty(s.transformer_width, s.embed_dim))
        self.logit_scale = nn.Parameter(torch.ones([]) * torch.log(torch.tensor(1 / 0.07)))
        self.initialize_parameters()
        if jit_extras:  # exact names of OpenAI's files; they replace the plain int attributes
            for name, value in [("input_resolution", s.image_resolution), ("context_length", s.context_length),
                                ("vocab_size", s.vocab_size)]:
                if hasattr(self, name):
                    delattr(self, name)
                self.register_buffer(name, torch.tensor(value))

    def initialize_parameters(self):
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        width = self.transformer.width
        proj_std = (width ** -0.5) * ((2 * self.transformer.layers) ** -0.5)
        attn_std = width ** -0.5
        fc_std = (2 * width) ** -0.5
        for block in self.transformer.resblocks:
            nn.init.normal_(block.attn.in_proj_weight, std=attn_std)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(block.mlp.c_fc.weight, std=fc_std)
            nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)
        nn.init.normal_(self.text_projection, std=width ** -0.5)

    def build_attention_mask(self):
        mask = torch.empty(self.context_length, self.context_length)
        mask.fill_(float("-inf"))
        mask.triu_(1)
        return mask

    def encode_image(self, image: torch.Tensor):
        return self.visual(image)

    def encode_text(self, text: torch.Tensor):
        x = self.token_embedding(text)
        x = x + self.positional_embedding[: x.shape[1]]
        x = x.permute(1, 0, 2)
        x = self.transformer(x)
        x = x.permute(1, 0, 2)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), text.argmax(dim=-1)] @ self.text_projection

    def forward(self, image: torch.Tensor, text: torch.Tensor):
        image_features = self.encode_image(image)
        text_features = self.encode_text(text)
        image_features = image_features / torch.linalg.vector_norm(image_features, dim=-1, keepdim=True)
        text_features = text_features / torch.linalg.vector_norm(text_features, dim=-1, keepdim=True)
        logits_per_image = self.logit_scale.exp() * image_features @ text_features.t()
        return logits_per_image, logits_per_image.t()


def convert_weights(model: nn.Module):
    """OpenAI's convert_weights: conv/linear weights and biases, the attention projections,
    text_projection and visual.proj in fp16; embeddings, LayerNorms and logit_scale stay fp32."""

    def to_fp16(m):
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            m.weight.data = m.weight.data.half()
            if m.bias is not None:
                m.bias.data = m.bias.data.half()
        if isinstance(m, nn.MultiheadAttention):
            for attr in ["in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias",
                         "bias_k", "bias_v"]:
                t = getattr(m, attr)
                if t is not None:
                    t.data = t.data.half()
        for name in ["text_projection", "proj"]:
            if hasattr(m, name):
                attr = getattr(m, name)
                if attr is not None:
                    attr.data = attr.data.half()

    model.apply(to_fp16)


def fp16_parameter_names(model: nn.Module):
    return [n for n, p in model.state_dict().items() if p.dtype == torch.float16]
