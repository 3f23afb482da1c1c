"""DSTA's head in its inference form: ``fuse_head(model)``, the same function in fewer operator calls.

The paper's head (``dsta.models.dsta.DSTA.aggregate_frames``) runs its modules one by one: about 20 operator calls
per transformer block, 138 per head call at depth 4. Each call is a kernel launch on a GPU (a few microseconds, more
than the arithmetic on DSTA's tensors of a few hundred KB) and a dispatch of a few microseconds on the CPU, so at
small batches the head's time is its call count, not its FLOPs. ``fuse_head`` turns a trained DSTA into an inference
module whose head computes the same pose in 40 calls at depth 4 (as timm's ``reparameterize_model`` turns a network
into its inference form): both branches run as one stream of rows, every projection one matmul with the norms,
biases and residuals folded into its weights, once, when ``fuse_head`` is called.

* **A snapshot.** The folded weights are those of the model at the call; after changing the weights (training,
  ``load_state_dict``), call ``fuse_head`` again. The backbone is shared, not copied.
* **Inference only.** No gradients flow to the model's parameters through the folded weights.
* **Which path runs** (``fused_is_faster``) is a measured rule, ``FUSED_UP_TO_BATCH``: on CUDA always (launch
  bound at every batch); on the CPU only at small batches, where dispatch overhead dominates (beyond batch 8 the
  fused layout's padding and block-diagonal zeros cost more than the calls it saves), and not in float16. The
  numbers behind it are ``benchmarks/head_ops.json`` (``python -m benchmarks.head_ops``), and
  ``tests/test_dsta_fused.py`` checks that the table here is the one that file derives.
* **Equal outputs.** Either path gives the module head's pose within float rounding (tested at every shape the
  project uses). FLOP counts and training never see this file: they use the paper's model.

The fused layout. Both branches run as one stream of B J T rows, each row the spatial and the temporal branch's C
channels side by side (``fused_blocks``: 8 calls per depth). The spatial branch's B G groups of S = T tokens fill
its first G sequences; its other J - G sequences are padding (copies of real tokens, whose outputs are never read).
Every gather is a product with a fixed 0/1 matrix, so that it is one call that adds something as well: the clip's
tokens to the stream (with the position embeddings), and the normed rows to the joints' features (with the
aggregation's bias). The final norms run as one group norm (one group per branch) whose scale and shift hold the
aggregation's two weights; the two output heads share one norm and one matmul, which also gives -logit(sigma), so
that one sigmoid gives sigma and 1 - sigma. A head whose joint groups are not T long (T = 5 with groups of 3) has no
fused form: ``fuse_head`` returns the model as it is.
"""

from __future__ import annotations

import copy
from typing import NamedTuple

import torch
import torch.nn.functional as F
from timm.models.vision_transformer import Block
from torch import nn

from dsta.models.dsta import DSTA
from dsta.nn.attention import TokenAttention
from dsta.nn.layers import PoseOutput

# -- which path: the measured rule ---------------------------------------------------------------------------------
#: The largest batch (clips per head call) at which the fused head is faster than the paper's, per device type and
#: autocast dtype (None: no autocast); 0: never. A device type not listed takes the fused head at every batch (CUDA:
#: launch bound; not timed here, no GPU at hand). Measured on the CPU with ``python -m benchmarks.head_ops
#: --time-batches 1 2 4 8 16 --time-dtypes fp32 bf16 fp16 --time-depths 2 4`` (``benchmarks/head_ops.json``,
#: ``dispatch``): the fused head's time over the paper head's, median of 7 interleaved rounds, at depth 2 (the
#: default's tiny config) / depth 4 (the paper's), 2-core AMD EPYC, 2 threads, commit c4f5243; the rule is the
#: largest timed batch up to which both are below 1:
#:   fp32  batch 1 0.45 / 0.44, 2 0.55 / 0.54, 4 0.69 / 0.65, 8 0.93 / 0.88, 16 1.19 / 1.18
#:   bf16  batch 1 0.43 / 0.40, 2 0.49 / 0.44, 4 0.58 / 0.55, 8 0.77 / 0.78, 16 1.06 / 1.06
#:   fp16  batch 1 2.13 / 1.69 and worse beyond (half-precision matmuls of these shapes are slow on this CPU)
#: Compiled calls follow the same table (inductor compiles the path the shape selects; not timed compiled).
FUSED_UP_TO_BATCH: dict[tuple[str, torch.dtype | None], int] = {
    ("cpu", None): 8,
    ("cpu", torch.bfloat16): 8,
    ("cpu", torch.float16): 0,
}


def fused_is_faster(device_type: str, batch: int, autocast_dtype: torch.dtype | None) -> bool:
    """Whether the fused head is the faster path for a head call of ``batch`` clips (``FUSED_UP_TO_BATCH``)."""
    if not any(device == device_type for device, _ in FUSED_UP_TO_BATCH):
        return True
    limit = FUSED_UP_TO_BATCH.get((device_type, autocast_dtype))
    return limit is None or batch <= limit


# -- several branches of pre-norm blocks in one pass ---------------------------------------------------------------
# P branches of D blocks run as one stream of rows whose channels are the branches side by side, (M, P C), and each
# step of a depth is ONE call for all branches: a layer norm over each branch's C channels (one ``layer_norm`` over
# (M, P, C)), and every projection a single ``addmm`` with a block-diagonal weight (the branches' weights on the
# diagonal; the zeros cost FLOPs, which the head has to spare, not calls). Everything that would be an extra call is
# folded into those weights, once:
#   * each layer norm's scale and shift into the projection after it (W' = W diag(g), b' = b + W beta), exact;
#   * the attention scale 1/sqrt(d) into the query's weights and bias;
#   * the attention's heads padded from d to E channels (a multiple of 8, > d): q and k with zeros (the scores do
#     not change), v with one channel that is constant 1, so that the attention output carries a 1 (its softmax
#     weights sum to 1) and the output projection adds its bias through that channel; E = 8 also suits the GPU
#     kernels (flash and memory-efficient attention want head sizes in multiples of 8);
#   * the MLP's hidden layer gets one unit with zero weights and bias 8: GELU(8) = 8 exactly in float32 and half
#     precision, so its row in the second projection, bias / 8, adds that bias exactly;
#   * the residual additions as the ``input`` of the output projections' ``addmm``.
# A depth is then 8 calls for all branches together: norm, qkv, attention, projection, norm, fc1, GELU, fc2.

#: the MLP's constant hidden unit: GELU(8) = 8 exactly (float32, float16, bfloat16), and 1 / 8 scales exactly
_CONSTANT_UNIT = 8.0
#: hidden units added to the MLP: the constant one, then zeros up to a multiple of 8 (the GPU's matmuls prefer it)
_HIDDEN_PAD = 8


def _padded_head_size(head_dim: int) -> int:
    return (head_dim + 1 + 7) // 8 * 8  # room for the constant channel, in a multiple of 8


def fold_norm(norm: nn.LayerNorm, linear: nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
    """``linear(norm(x))`` as ``W' LN0(x) + b'`` (LN0: a layer norm without scale and shift): W' = W diag(g),
    b' = b + W beta; exact but for float rounding."""
    return linear.weight * norm.weight, torch.addmv(linear.bias, linear.weight, norm.bias)


def _is_plain_block(block: Block) -> bool:
    """A pre-norm timm ``Block`` that ``fuse_branch_blocks`` can fold: affine layer norms with shifts, attention
    and MLP with biases, exact GELU, no layer scale, no extra norms, no gate."""
    norms_ok = all(
        type(n) is nn.LayerNorm and n.weight is not None and n.bias is not None for n in (block.norm1, block.norm2)
    )
    attn, mlp = block.attn, block.mlp
    return (
        norms_ok
        and isinstance(attn, TokenAttention)
        and attn._plain()
        and attn.qkv.bias is not None
        and attn.proj.bias is not None
        and isinstance(attn.norm, nn.Identity)
        and isinstance(block.ls1, nn.Identity)
        and isinstance(block.ls2, nn.Identity)
        and isinstance(mlp.norm, nn.Identity)
        and isinstance(mlp.act, nn.GELU)
        and mlp.act.approximate == "none"
        and mlp.fc2.bias is not None
    )


def fuse_branch_blocks(branches: list) -> list[tuple[torch.Tensor, ...]]:
    """The weights ``fused_blocks`` runs P branches of D pre-norm timm ``Block``s with: per depth, (qkv weight, qkv
    bias, projection weight, fc1 weight, fc1 bias, fc2 weight), each weight (inputs, outputs) for ``addmm``.
    Differentiable in the blocks' parameters (``fuse_head`` builds them under ``no_grad``)."""
    p = len(branches)
    first = branches[0][0].attn
    c, heads, d = first.qkv.in_features, first.num_heads, first.head_dim
    e = _padded_head_size(d)
    assert all(len(branch) == len(branches[0]) and all(_is_plain_block(b) for b in branch) for branch in branches), (
        "fused blocks need P equally deep branches of plain pre-norm TokenAttention blocks"
    )
    blocks = [b for branch in branches for b in branch]
    assert len({b.norm1.eps for b in blocks} | {b.norm2.eps for b in blocks}) == 1, "one layer-norm eps"
    assert all(b.attn.num_heads == heads and b.attn.qkv.in_features == c for b in blocks), "one width, one head count"
    fused = []
    for depth in zip(*branches):
        like = depth[0].attn.qkv.weight
        eye = torch.eye(p, dtype=like.dtype, device=like.device)
        scale = torch.tensor([first.scale, 1.0, 1.0], dtype=like.dtype, device=like.device)  # q, k, v
        # qkv: inputs (P, C) -> outputs (q|k|v, P, H, E), each head's d channels padded to E
        weights, biases = zip(*(fold_norm(blk.norm1, blk.attn.qkv) for blk in depth))
        qkv_w = torch.stack(weights).view(p, 3, heads, d, c) * scale.view(3, 1, 1, 1)
        qkv_w = F.pad(qkv_w.movedim(-1, 1), (0, e - d))  # (P, C, 3, H, E)
        qkv_w = torch.einsum("pcshe,pq->pcsqhe", qkv_w, eye).reshape(p * c, 3 * p * heads * e)
        qkv_b = F.pad(torch.stack(biases).view(p, 3, heads, d) * scale.view(3, 1, 1), (0, e - d))  # (P, 3, H, E)
        qkv_b = qkv_b + F.pad(torch.ones_like(qkv_b[:, 2:, :, :1]), (d, e - d - 1, 0, 0, 2, 0))  # v's channel d: 1
        qkv_b = qkv_b.transpose(0, 1).reshape(-1)
        # output projection: inputs (P, H, E) -> (P, C); head 0's constant channel carries the bias
        proj = torch.stack([blk.attn.proj.weight for blk in depth]).view(p, c, heads, d).permute(0, 2, 3, 1)
        proj = F.pad(proj, (0, 0, 0, e - d))  # (P, H, E, C)
        bias_row = F.pad(
            torch.stack([blk.attn.proj.bias for blk in depth])[:, None, None], (0, 0, d, e - d - 1, 0, heads - 1)
        )  # (P, H, E, C), the bias at (head 0, channel d)
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


def _short_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Attention over a few tokens as broadcast products, q, k, v (N, L, H, E) -> (N, L, H, E), the scale already in
    q. On the CPU ``scaled_dot_product_attention``'s flash kernel spends per (sequence, head) block more than the
    products cost at L = 3 (the tiny config's attention, timed alone with ``torch.utils.benchmark``: 115 vs 51 us
    at batch 1, 890 vs 279 us at batch 8)."""
    weights = (q.unsqueeze(2) * k.unsqueeze(1)).sum(-1).softmax(dim=2)  # (N, L, L, H)
    return (weights.unsqueeze(-1) * v.unsqueeze(1)).sum(2)


def fused_blocks(
    x: torch.Tensor,
    fused: list[tuple[torch.Tensor, ...]],
    seq_len: int,
    num_heads: int,
    eps: float,
    kernel: bool | None = None,
) -> torch.Tensor:
    """Run P branches of pre-norm blocks (weights from ``fuse_branch_blocks``) over a stream of rows.

    Args:
        x: (M, P, C): M = N L rows (N sequences of ``seq_len`` tokens, one after the other), each row the P branches'
            C channels; branch p's blocks see only its own channels.
        seq_len: L; attention runs within each sequence, per branch and head.
        num_heads, eps: the blocks' head count and layer-norm eps.
        kernel: attention by ``scaled_dot_product_attention`` (True) or by broadcast products (False, faster on the
            CPU); None: the kernel on CUDA.

    Returns (M, P, C), equal to running each branch's blocks in turn up to float rounding. Inference only: no
    stochastic depth, no dropout.
    """
    m, p, c = x.shape
    heads = p * num_heads  # the attention sees the branches' heads side by side
    e = fused[0][0].shape[1] // (3 * heads)
    x = x.reshape(m, p * c)
    kernel = x.is_cuda if kernel is None else kernel
    for qkv_w, qkv_b, proj_w, fc1_w, fc1_b, fc2_w in fused:
        h = F.layer_norm(x.view(m, p, c), (c,), eps=eps).view(m, p * c)
        q, k, v = torch.addmm(qkv_b, h, qkv_w).view(-1, seq_len, 3, heads, e).unbind(2)  # (N, L, P H, E) each
        if kernel:
            out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), scale=1.0)
            out = out.transpose(1, 2)
        else:
            out = _short_attention(q, k, v)
        x = torch.addmm(x, out.reshape(m, heads * e), proj_w)  # + bias through the constant channel
        h = F.layer_norm(x.view(m, p, c), (c,), eps=eps).view(m, p * c)
        x = torch.addmm(x, F.gelu(torch.addmm(fc1_b, h, fc1_w)), fc2_w)  # + bias through the constant unit
    return x.view(m, p, c)


# -- the fused head ------------------------------------------------------------------------------------------------
class FusedWeights(NamedTuple):
    """The fused head's weights, each the operand of one call of ``FusedDSTA.aggregate_frames_fused``."""

    pos: torch.Tensor  # (J T 2, C): position embeddings of the stream's rows
    stream_rows: torch.Tensor  # (J T 2, T J): 0/1, stream row <- clip token
    blocks: list[tuple[torch.Tensor, ...]]  # per depth (``fuse_branch_blocks``)
    norm_w: torch.Tensor  # (2 C): the final norms' scales times the aggregation's weights (spatial, temporal)
    norm_b: torch.Tensor  # (2 C): their shifts, likewise
    raw_rows: torch.Tensor  # (J, T J): keypoint <- the key frame's token, times the spatial weight (ungrouped tokens)
    bias: torch.Tensor  # (1, 1): the aggregation's bias
    joint_rows: torch.Tensor  # (J, J T 2): 0/1, keypoint <- its normed temporal and spatial rows
    head_w: torch.Tensor  # (C, 6): coordinates, sigma logits, minus sigma logits (the norms' affine maps folded in)
    head_b: torch.Tensor  # (6,)

    def cast(self, dtype: torch.dtype) -> FusedWeights:
        """The matmul operands in ``dtype`` (autocast's, whose casts then find them cast and copy nothing); the final
        norm's scale and shift stay float32, as autocast runs group norms."""

        def c(t):
            return t.to(dtype)

        return self._replace(
            pos=c(self.pos),
            stream_rows=c(self.stream_rows),
            raw_rows=c(self.raw_rows),
            blocks=[tuple(map(c, depth)) for depth in self.blocks],
            bias=c(self.bias),
            joint_rows=c(self.joint_rows),
            head_w=c(self.head_w),
            head_b=c(self.head_b),
        )


def _rows(model: DSTA) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The fixed 0/1 matrices: clip tokens -> stream rows, normed rows -> joints, key-frame tokens -> joints."""
    t, j, g, s = model.num_frames, model.num_joints, len(model.groups.groups), model.groups.group_size
    key = t // 2
    token = torch.arange(t * j).view(t, j)  # row of (frame, token) in the clip's (T J) tokens
    spatial = token[key, : model.num_grouped].view(g, s)
    spatial = torch.cat([spatial, token.t()[g:]])  # (J, T): the padding sequences copy the temporal ones
    stream = torch.stack([spatial, token.t()], dim=2).reshape(-1)  # stream row (sequence, token, branch)
    joint_rows = torch.zeros(j, j * t * 2)  # keypoint -> its temporal row and (grouped tokens) its spatial row
    raw_rows = torch.zeros(j, t * j)  # keypoint -> the key frame's token (ungrouped tokens skip spatial attention)
    for k, tok in enumerate(model.readout.tolist()):
        joint_rows[k, (tok * t + key) * 2 + 1] = 1
        if tok < model.num_grouped:
            joint_rows[k, ((tok // s) * t + tok % s) * 2] = 1
        else:
            raw_rows[k, token[key, tok]] = 1
    return F.one_hot(stream, t * j).float(), joint_rows, raw_rows


def fold_head(model: DSTA) -> FusedWeights:
    """The fused head's weights from the model's head parameters (differentiable in them)."""
    t, j, c, g = model.num_frames, model.num_joints, model.embed_dim, len(model.groups.groups)
    assert model.groups.group_size == t, "a fused head needs joint groups of T tokens"
    assert model.spatial_norm.eps == model.temporal_norm.eps and model.head_coord[0].eps == model.head_sigma[0].eps
    like = model.temporal_pos_embed
    stream_rows, joint_rows, raw_rows = (r.to(like) for r in _rows(model))
    pos = torch.stack(
        [
            F.pad(model.spatial_pos_embed.expand(g, t, c), (0, 0, 0, 0, 0, j - g)),
            model.temporal_pos_embed.expand(j, t, c),
        ],
        dim=2,
    ).reshape(j * t * 2, c)
    w_temporal, w_spatial = model.aggregate.weight.reshape(2)
    scale = torch.stack([w_spatial.expand(c), w_temporal.expand(c)])
    coord_w, coord_b = fold_norm(model.head_coord[0], model.head_coord[1])
    sigma_w, sigma_b = fold_norm(model.head_sigma[0], model.head_sigma[1])
    return FusedWeights(
        pos=pos,
        stream_rows=stream_rows,
        blocks=fuse_branch_blocks([model.spatial_blocks, model.temporal_blocks]),
        norm_w=(scale * torch.stack([model.spatial_norm.weight, model.temporal_norm.weight])).reshape(-1),
        norm_b=(scale * torch.stack([model.spatial_norm.bias, model.temporal_norm.bias])).reshape(-1),
        raw_rows=raw_rows * w_spatial,
        bias=model.aggregate.bias.view(1, 1),
        joint_rows=joint_rows,
        head_w=torch.cat([coord_w, sigma_w, -sigma_w]).t(),
        head_b=torch.cat([coord_b, sigma_b, -sigma_b]),
    )


class FusedDSTA(nn.Module):
    """A DSTA for inference: the model's backbone and joint tokens, its head fused where that is faster
    (``fused_is_faster``). Built by ``fuse_head``; it offers what the inference code uses of a DSTA (``forward``,
    ``frame_features``, ``aggregate_frames``, ``num_frames``, ``num_joints``, ``embed_dim``, ``backbone``)."""

    #: the fused head's attention: ``scaled_dot_product_attention`` (True), broadcast products (False), or by device
    #: (None: the kernel on CUDA); ``benchmarks.head_ops`` sets True to count on the CPU what CUDA runs
    attention_kernel: bool | None = None

    def __init__(self, model: DSTA) -> None:
        super().__init__()
        self.model = model.eval()
        self.num_frames, self.num_joints, self.embed_dim = model.num_frames, model.num_joints, model.embed_dim
        self.backbone = model.backbone  # the per-frame backbone at the path profilers look for
        block = model.spatial_blocks[0]
        self.num_heads, self.eps = block.attn.num_heads, block.norm1.eps
        self.head_eps, self.final_eps = model.head_coord[0].eps, model.spatial_norm.eps
        with torch.no_grad():
            weights = fold_head(model)
        self.depth = len(weights.blocks)
        for name, value in weights._asdict().items():  # buffers: ``.to()`` moves them with the model
            if name != "blocks":
                self.register_buffer(name, value.detach(), persistent=False)
        for i, depth in enumerate(weights.blocks):
            for n, value in enumerate(depth):
                self.register_buffer(f"block{i}_{n}", value.detach(), persistent=False)
        self._casts: dict[torch.dtype | None, FusedWeights] = {}  # per autocast dtype (None: off), gathered once

    def weights(self) -> FusedWeights:
        """The folded weights, cast to autocast's dtype when autocast is on (and not inside ``torch.compile``, whose
        graph casts them itself). Gathered from the buffers once per dtype (and again after ``.to()``): per call,
        the gathering cost a tenth of a millisecond, a sixth of the head at batch 1 on the CPU."""
        device = self.pos.device.type
        if torch.compiler.is_compiling():
            return self._gather()
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else None
        if dtype not in self._casts:
            weights = self._gather()
            self._casts[dtype] = weights if dtype is None else weights.cast(dtype)
        return self._casts[dtype]

    def _gather(self) -> FusedWeights:
        fields = {name: getattr(self, name) for name in FusedWeights._fields if name != "blocks"}
        blocks = [tuple(getattr(self, f"block{i}_{n}") for n in range(6)) for i in range(self.depth)]
        return FusedWeights(blocks=blocks, **fields)

    def _apply(self, fn, recurse: bool = True):  # ``.to()``, ``.double()``, ...: new buffers, gather them again
        self._casts = {}
        return super()._apply(fn, recurse)

    def takes_fused(self, tokens: torch.Tensor) -> bool:
        device = tokens.device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else None
        return fused_is_faster(device, tokens.shape[0], dtype)

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        return self.model.frame_features(frames)

    def aggregate_frames(self, tokens: torch.Tensor) -> PoseOutput:
        """(B, T, J, C) tokens of a clip -> the key frame's pose, by the faster path for this call."""
        if self.takes_fused(tokens):
            return self.aggregate_frames_fused(tokens)
        return self.model.aggregate_frames(tokens)

    def aggregate_frames_fused(self, tokens: torch.Tensor) -> PoseOutput:
        """The fused head: ``DSTA.aggregate_frames`` up to float rounding (``coords`` and ``sigma`` are views of one
        (B, J, 6) and one (B, J, 4) tensor)."""
        b, t, j, c = tokens.shape
        assert t == self.num_frames and j == self.num_joints, f"expected (B, {self.num_frames}, {j}, C) tokens"
        w = self.weights()
        clip = tokens.reshape(b, t * j, c)
        stream = torch.baddbmm(w.pos, w.stream_rows.expand(b, -1, -1), clip)  # (B, J T 2, C)
        stream = fused_blocks(
            stream.view(b * j * t, 2, c), w.blocks, t, self.num_heads, self.eps, self.attention_kernel
        )
        normed = F.group_norm(stream.view(b * j * t, 2 * c), 2, w.norm_w, w.norm_b, self.final_eps)
        raw = torch.baddbmm(w.bias, w.raw_rows.expand(b, -1, -1), clip)  # ungrouped: the key frame's token
        feat = torch.baddbmm(raw, w.joint_rows.expand(b, -1, -1), normed.view(b, j * t * 2, c))  # (B, J, C)
        feat = F.layer_norm(feat, (c,), eps=self.head_eps).view(b * j, c)
        out = torch.addmm(w.head_b, feat, w.head_w).view(b, j, 6)
        sigmas = out[..., 2:].sigmoid()  # sigma, then 1 - sigma
        return PoseOutput(coords=out[..., :2], sigma=sigmas[..., :2], score=sigmas[..., 2:].mean(dim=2))

    def forward(self, clip: torch.Tensor) -> PoseOutput:
        """(B, T, 3, H, W), frames in temporal order -> the key frame's pose."""
        b, t = clip.shape[:2]
        assert t == self.num_frames, f"expected {self.num_frames} frames, got {t}"
        tokens = self.frame_features(clip.flatten(0, 1)).reshape(b, t, self.num_joints, self.embed_dim)
        return self.aggregate_frames(tokens)

    def train(self, mode: bool = True) -> FusedDSTA:
        if mode:
            raise RuntimeError("a fused DSTA is for inference: train the DSTA it was made from, then fuse_head again")
        return super().train(False)


def fuse_head(model: nn.Module, inplace: bool = True) -> nn.Module:
    """The inference form of ``model``: a ``FusedDSTA`` for a DSTA whose joint groups are T tokens long, the model
    itself otherwise (any other model, or a DSTA without a fused form). ``inplace=False`` fuses a copy, so that the
    given model can go on training."""
    if not isinstance(model, DSTA) or model.groups.group_size != model.num_frames:
        return model
    return FusedDSTA(model if inplace else copy.deepcopy(model))
