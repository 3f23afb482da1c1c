"""Self-attention over very short token sequences (DSTA's joint groups and T frames), fast on the CPU as well.

DSTA attends over sequences of 3-9 tokens of 32 channels split into 8 heads of 4: thousands of tiny (N x 4) x (4 x N)
products per call. On the GPU ``scaled_dot_product_attention`` does that in one kernel and stays the path there. On
the CPU its flash kernel is built for long sequences: per (sequence, head) block overhead made it two thirds of
DSTA's head time (torch.profiler, tiny config at batch 32), and batched matmul (timm's non-fused path) is hardly
better. Here instead the heads stay interleaved in the channels: ``q_i * k_j`` for all pairs is one broadcast product
of shape (B, N, N, C); a product with the 0/1 head-membership matrix (C, H), the attention scale folded in, sums
each head's channels into the scores; the softmax over j; the head weights go back to channels with the transposed
matrix and weigh ``v_j``. Both matrices are fixed buffers of the module (building them per call cost 8% of the head).
The result equals ``softmax(q k^T / sqrt(d)) v`` per head up to float rounding (tested against timm's attention).

``TokenAttention`` is timm's ``Attention`` (same parameters, same state dict) with that CPU path, plus
``forward_query``: the output of one token only, which the last block of a branch needs when only that token is read.
``block_query`` runs a timm ``Block`` for one token the same way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.models.vision_transformer import Attention, Block

# Longest sequence for the broadcast path: its (B, N, N, C) intermediate grows with N^2.
MAX_SHORT_SEQUENCE = 16


def head_matrix(channels: int, heads: int) -> torch.Tensor:
    """(C, H): 1 where channel c belongs to head h (timm's layout: head h owns channels h*d .. h*d + d - 1)."""
    return torch.eye(heads).repeat_interleave(channels // heads, dim=0)


def short_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scores_matrix: torch.Tensor, spread_matrix: torch.Tensor
) -> torch.Tensor:
    """Multi-head attention with heads interleaved in the channels: q (B, L, C), k and v (B, N, C) -> (B, L, C).

    ``scores_matrix`` is the (C, H) head matrix times the attention scale (it sums each head's channels of
    ``q_i * k_j`` into that head's score), ``spread_matrix`` the (H, C) unscaled transpose (it copies each head's
    weight back to its channels). Both are fixed, so the module keeps them instead of building them per call.
    """
    if scores_matrix.dtype != q.dtype:  # half-precision q, k, v (autocast): the scaled matrix rounds like q does
        scores_matrix, spread_matrix = scores_matrix.to(q.dtype), spread_matrix.to(q.dtype)
    scores = (q.unsqueeze(2) * k.unsqueeze(1)) @ scores_matrix  # (B, L, N, H)
    weights = scores.softmax(dim=2) @ spread_matrix  # (B, L, N, C)
    return (weights * v.unsqueeze(1)).sum(dim=2)


class TokenAttention(Attention):
    """timm's ``Attention`` with a CPU path for short sequences (see the module docstring) and ``forward_query``."""

    def __init__(self, dim: int, num_heads: int = 8, **kwargs) -> None:
        super().__init__(dim, num_heads=num_heads, **kwargs)
        heads = head_matrix(dim, num_heads)
        # not in the state dict: timm's checkpoints load unchanged
        self.register_buffer("scores_matrix", heads * self.scale, persistent=False)
        self.register_buffer("spread_matrix", heads.t().contiguous(), persistent=False)

    def _plain(self) -> bool:
        """No gate, no q/k norm and no attention dropout: what both special paths assume."""
        return (
            self.gate is None
            and isinstance(self.q_norm, torch.nn.Identity)
            and isinstance(self.k_norm, torch.nn.Identity)
            and (not self.training or self.attn_drop.p == 0)
        )

    def _short_path(self, x: torch.Tensor, attn_mask=None, is_causal: bool = False) -> bool:
        # fvcore traces take the scaled_dot_product_attention path, so FLOPs count the algorithm, not this layout
        return (
            attn_mask is None
            and not is_causal
            and self._plain()
            and not x.is_cuda
            and x.shape[1] <= MAX_SHORT_SEQUENCE
            and not torch.jit.is_tracing()
        )

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None, is_causal: bool = False) -> torch.Tensor:
        if not self._short_path(x, attn_mask, is_causal):
            return super().forward(x, attn_mask=attn_mask, is_causal=is_causal)
        q, k, v = self.qkv(x).unflatten(-1, (3, x.shape[-1])).unbind(-2)
        return self.proj_drop(self.proj(self.norm(short_attention(q, k, v, self.scores_matrix, self.spread_matrix))))

    def forward_query(self, x: torch.Tensor, index: int) -> torch.Tensor:
        """The attention output of token ``index`` only: (B, N, C) -> (B, C). Keys and values come from every
        token; the query projection, the attention and the output projection run for one token."""
        assert self._plain(), "forward_query supports attention without gate, q/k norm or attention dropout"
        c = x.shape[-1]
        w, b = self.qkv.weight, self.qkv.bias
        q = F.linear(x[:, index], w[:c], None if b is None else b[:c]).unsqueeze(1)  # (B, 1, C)
        k, v = F.linear(x, w[c:], None if b is None else b[c:]).unflatten(-1, (2, c)).unbind(-2)
        if not self._short_path(x):
            split = lambda t: t.unflatten(-1, (self.num_heads, self.head_dim)).transpose(1, 2)  # noqa: E731
            out = F.scaled_dot_product_attention(split(q), split(k), split(v)).transpose(1, 2).flatten(2)
        else:
            out = short_attention(q, k, v, self.scores_matrix, self.spread_matrix)
        return self.proj_drop(self.proj(self.norm(out[:, 0])))


def block_query(block: Block, x: torch.Tensor, index: int) -> torch.Tensor:
    """A pre-norm timm ``Block`` evaluated for token ``index`` only: (B, N, C) -> (B, C), equal to
    ``block(x)[:, index]`` (the MLP and residuals act per token; attention reads every token's keys and values)."""
    y = x[:, index] + block.drop_path1(block.ls1(block.attn.forward_query(block.norm1(x), index)))
    return y + block.drop_path2(block.ls2(block.mlp(block.norm2(y))))
