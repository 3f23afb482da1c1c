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

``fuse_branch_blocks`` and ``fused_blocks`` run several branches of such blocks side by side at inference (DSTA's
spatial and temporal branches): eight operator calls per depth for all branches together, every projection one
``addmm`` over block-diagonal weights with the norms' affine maps, the biases and the residuals folded in (see
their comment), so that a step launches few kernels.
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


def short_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scores_matrix: torch.Tensor,
                    spread_matrix: torch.Tensor) -> torch.Tensor:
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
        return (self.gate is None and isinstance(self.q_norm, torch.nn.Identity)
                and isinstance(self.k_norm, torch.nn.Identity) and (not self.training or self.attn_drop.p == 0))

    def _short_path(self, x: torch.Tensor, attn_mask, is_causal: bool) -> bool:
        # fvcore traces take the scaled_dot_product_attention path, so FLOPs count the algorithm, not this layout
        return (attn_mask is None and not is_causal and self._plain() and not x.is_cuda
                and x.shape[1] <= MAX_SHORT_SEQUENCE and not torch.jit.is_tracing())

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
        if x.is_cuda or x.shape[1] > MAX_SHORT_SEQUENCE or torch.jit.is_tracing():
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


# -- several branches of pre-norm blocks in one pass (DSTA's spatial and temporal branches at inference) -----------
# A timm Block run module by module costs about 20 operator calls, each a kernel of a few microseconds on the GPU
# for DSTA's tensors of a few hundred KB: the head was launch-bound. Here P branches of D blocks run as one stream of
# rows whose channels are the branches side by side, (M, P C), and each step of a depth is ONE call for all
# branches: a layer norm over each branch's C channels (one ``layer_norm`` over (M, P, C)), and every projection a
# single ``addmm`` with a block-diagonal weight (the branches' weights on the diagonal; the zeros cost FLOPs, which
# the head has to spare, not launches). Everything that would be an extra call is folded into those weights, once:
#   * each layer norm's scale and shift into the projection after it (W' = W diag(g), b' = b + W beta), exact;
#   * the attention's heads padded from d to E channels (a multiple of 8, > d): q and k with zeros (the scores do
#     not change; the scale stays 1/sqrt(d)), v with one channel that is constant 1, so that the attention output
#     carries a 1 (its softmax weights sum to 1) and the output projection adds its bias through that channel;
#     E = 8 also suits the GPU kernels (flash and memory-efficient attention want head sizes in multiples of 8);
#   * the MLP's hidden layer gets one unit with zero weights and bias 8: GELU(8) = 8 exactly in float32 and half
#     precision, so its row in the second projection, bias / 8, adds that bias exactly;
#   * the residual additions as the ``input`` of the output projections' ``addmm``.
# A depth is then 8 calls for all branches together: norm, qkv, attention, projection, norm, fc1, GELU, fc2.

def _padded_head_size(head_dim: int) -> int:
    return (head_dim + 1 + 7) // 8 * 8  # room for the constant channel, in a multiple of 8


def fold_norm(norm: torch.nn.LayerNorm, linear: torch.nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
    """``linear(norm(x))`` as ``W' LN0(x) + b'`` (LN0: a layer norm without scale and shift): W' = W diag(g),
    b' = b + W beta; exact but for float rounding."""
    return linear.weight * norm.weight, torch.addmv(linear.bias, linear.weight, norm.bias)


def _is_plain_block(block: Block) -> bool:
    """A pre-norm timm ``Block`` that ``fuse_branch_blocks`` can fold: affine layer norms with shifts, attention
    and MLP with biases, exact GELU, no layer scale, no extra norms, no gate."""
    norms_ok = all(type(n) is torch.nn.LayerNorm and n.weight is not None and n.bias is not None
                   for n in (block.norm1, block.norm2))
    attn, mlp = block.attn, block.mlp
    return (norms_ok and isinstance(attn, TokenAttention) and attn._plain() and attn.qkv.bias is not None
            and attn.proj.bias is not None and isinstance(attn.norm, torch.nn.Identity)
            and isinstance(block.ls1, torch.nn.Identity) and isinstance(block.ls2, torch.nn.Identity)
            and isinstance(mlp.norm, torch.nn.Identity) and isinstance(mlp.act, torch.nn.GELU)
            and mlp.act.approximate == "none" and mlp.fc2.bias is not None)


#: the MLP's constant hidden unit: GELU(8) = 8 exactly (float32, float16, bfloat16), and 1 / 8 scales exactly
_CONSTANT_UNIT = 8.0
#: hidden units added to the MLP: the constant one, then zeros up to a multiple of 8 (the GPU's matmuls prefer it)
_HIDDEN_PAD = 8


def fuse_branch_blocks(branches: list) -> list[tuple[torch.Tensor, ...]]:
    """The weights ``fused_blocks`` runs P branches of D pre-norm timm ``Block``s with: per depth, (qkv weight, qkv
    bias, projection weight, fc1 weight, fc1 bias, fc2 weight), each weight (inputs, outputs) for ``addmm``.
    Differentiable in the blocks' parameters (a fresh build under autograd or ``torch.compile``; a cached one under
    ``no_grad``, see ``DSTA``)."""
    p = len(branches)
    first = branches[0][0].attn
    c, heads, d = first.qkv.in_features, first.num_heads, first.head_dim
    e = _padded_head_size(d)
    assert all(len(branch) == len(branches[0]) and all(_is_plain_block(b) for b in branch) for branch in branches), \
        "fused blocks need P equally deep branches of plain pre-norm TokenAttention blocks"
    blocks = [b for branch in branches for b in branch]
    assert len({b.norm1.eps for b in blocks} | {b.norm2.eps for b in blocks}) == 1, "one layer-norm eps"
    assert all(b.attn.num_heads == heads and b.attn.qkv.in_features == c for b in blocks), "one width, one head count"
    fused = []
    for depth in zip(*branches):
        eye = torch.eye(p, dtype=depth[0].attn.qkv.weight.dtype, device=depth[0].attn.qkv.weight.device)
        # qkv: inputs (P, C) -> outputs (q|k|v, P, H, E), each head's d channels padded to E
        weights, biases = zip(*(fold_norm(blk.norm1, blk.attn.qkv) for blk in depth))
        qkv_w = F.pad(torch.stack(weights).view(p, 3, heads, d, c).movedim(-1, 1), (0, e - d))  # (P, C, 3, H, E)
        qkv_w = torch.einsum("pcshe,pq->pcsqhe", qkv_w, eye).reshape(p * c, 3 * p * heads * e)
        qkv_b = F.pad(torch.stack(biases).view(p, 3, heads, d), (0, e - d))  # (P, 3, H, E)
        qkv_b = qkv_b + F.pad(torch.ones_like(qkv_b[:, 2:, :, :1]), (d, e - d - 1, 0, 0, 2, 0))  # v's channel d: 1
        qkv_b = qkv_b.transpose(0, 1).reshape(-1)
        # output projection: inputs (P, H, E) -> (P, C); head 0's constant channel carries the bias
        proj = torch.stack([blk.attn.proj.weight for blk in depth]).view(p, c, heads, d).permute(0, 2, 3, 1)
        proj = F.pad(proj, (0, 0, 0, e - d))  # (P, H, E, C)
        bias_row = F.pad(torch.stack([blk.attn.proj.bias for blk in depth])[:, None, None],
                         (0, 0, d, e - d - 1, 0, heads - 1))  # (P, H, E, C), the bias at (head 0, channel d)
        proj_w = torch.block_diag(*(proj + bias_row).reshape(p, heads * e, c))
        # MLP: fc1 (P C -> P hidden + pad, the constant unit first), fc2 back with its bias in that unit's row
        weights, biases = zip(*(fold_norm(blk.norm2, blk.mlp.fc1) for blk in depth))
        fc1_w = F.pad(torch.block_diag(*[weight.t() for weight in weights]), (0, _HIDDEN_PAD))
        unit = F.pad(biases[0].new_full((1,), _CONSTANT_UNIT), (0, _HIDDEN_PAD - 1))  # on the device: no host copy
        fc1_b = torch.cat([*biases, unit])
        fc2_w = torch.block_diag(*[blk.mlp.fc2.weight.t() for blk in depth])
        fc2_b = torch.cat([blk.mlp.fc2.bias for blk in depth]) / _CONSTANT_UNIT
        fc2_w = torch.cat([fc2_w, fc2_b[None], fc2_w.new_zeros(_HIDDEN_PAD - 1, p * c)])
        fused.append((qkv_w, qkv_b, proj_w, fc1_w, fc1_b, fc2_w))
    return fused


def fused_blocks(x: torch.Tensor, fused: list[tuple[torch.Tensor, ...]], seq_len: int, num_heads: int,
                 scale: float, eps: float) -> torch.Tensor:
    """Run P branches of pre-norm blocks (weights from ``fuse_branch_blocks``) over a stream of rows.

    Args:
        x: (M, P, C): M = N L rows (N sequences of ``seq_len`` tokens, one after the other), each row the P branches'
            C channels; branch p's blocks see only its own channels.
        seq_len: L; attention runs within each sequence, per branch and head.
        num_heads, scale, eps: the blocks' head count, attention scale (1/sqrt(d)) and layer-norm eps.

    Returns (M, P, C), equal to running each branch's blocks in turn up to float rounding. Inference only: no
    stochastic depth, no dropout.
    """
    m, p, c = x.shape
    heads = p * num_heads  # the attention sees the branches' heads side by side
    e = fused[0][0].shape[1] // (3 * heads)
    x = x.reshape(m, p * c)
    for qkv_w, qkv_b, proj_w, fc1_w, fc1_b, fc2_w in fused:
        h = F.layer_norm(x.view(m, p, c), (c,), eps=eps).view(m, p * c)
        q, k, v = (t.transpose(1, 2) for t in torch.addmm(qkv_b, h, qkv_w).view(-1, seq_len, 3, heads, e).unbind(2))
        out = F.scaled_dot_product_attention(q, k, v, scale=scale)  # (N, P H, L, E), laid out as (N, L, P H, E)
        x = torch.addmm(x, out.transpose(1, 2).reshape(m, heads * e), proj_w)  # + bias through the constant channel
        h = F.layer_norm(x.view(m, p, c), (c,), eps=eps).view(m, p * c)
        x = torch.addmm(x, F.gelu(torch.addmm(fc1_b, h, fc1_w)), fc2_w)  # + bias through the constant unit
    return x.view(m, p, c)
