"""DSTA: Video-Based Human Pose Regression via Decoupled Space-Time Aggregation.

He & Yang, CVPR 2024 (arXiv 2403.19926); released code: zgspose/DSTA.

A clip of T frames (key frame in the middle) is turned into one token per joint per frame, and the key frame's
joints are regressed from those tokens:

1. **Joint-centric feature decoder.** Each frame goes through the backbone; its final feature map is average-pooled
   to a vector ``f_t`` and a norm-scaled linear layer maps it to J tokens of C dims:
   ``F_t = W f_t / ||f_t|| + b`` (the linear map divided by the L2 norm of its input, as RLE's output layer).
2. **Space-time decoupling.**
   *Spatial* (local-awareness attention): on the key frame, the tokens of each group of adjacent joints (head, each
   arm, each leg; groups from ``dsta.keypoints``) attend to each other, with a learned position embedding per place
   in the group. Tokens outside every group (PoseTrack's ears) pass through unchanged.
   *Temporal*: each joint's T tokens attend to each other across frames, with a learned embedding per frame.
   Both are stacks of pre-norm transformer blocks (timm's ``Block``) followed by a LayerNorm.
3. **Aggregation.** A 1x1 convolution over the pair (temporal, spatial) weighs the two into one feature per joint.
4. **Heads.** ``coords = Linear(LN(F))`` in the crop's normalized frame (x / W, y / H, so [0, 1] inside the crop),
   ``sigma = sigmoid(Linear(LN(F)))``, and the joint score ``mean(1 - sigma)``.

Training uses the RLE loss (``dsta.rle``) with the flow kept in the model (``self.flow``), as in the released code,
so the released checkpoint (24,745,407 parameters at ResNet-50, T=3, 17 joints, C=32) loads one to one.

Inference on CUDA computes the same function in 40 operator calls instead of 138 (``_aggregate_fused``: both
branches as one stream of rows, every projection one matmul with the norms, biases and residuals folded in), since
there each call is a kernel launch that costs more than the head's arithmetic; training and the CPU run the modules.

Differences from the released file, none of which changes its numbers: T, the joint groups, C, depth and heads are
constructor arguments (the release hard-codes ``num_frame = 3``, ``g=5`` and ``split(3)``); the input is
(B, T, 3, H, W) instead of frames concatenated along channels; the read-out list ``joint_ordor`` is derived from the
joint groups. One quirk is kept behind ``official_readout``: the release reads both ears from token 0 (the head-top
token) and never uses the two ear tokens. PoseTrack has no ear annotations, so metrics are unaffected either way.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import torch
import torch.nn.functional as F
from timm.models.vision_transformer import Block
from torch import nn

from dsta.attention import TokenAttention, block_query, fold_norm, fuse_branch_blocks, fused_blocks
from dsta.backbones import create_backbone
from dsta.checks import DSTA_INITS, check_num_frames
from dsta.keypoints import JointGroups, joint_groups as named_groups
from dsta.layers import NormScaledLinear, PoseOutput
from dsta.registry import register_model
from dsta.rle import RealNVP


def _blocks(dim: int, depth: int, num_heads: int, mlp_ratio: float, drop_path_rate: float) -> nn.ModuleList:
    rates = torch.linspace(0, drop_path_rate, depth).tolist()  # stochastic depth grows with depth
    norm = partial(nn.LayerNorm, eps=1e-6)
    return nn.ModuleList([Block(dim, num_heads, mlp_ratio=mlp_ratio, qkv_bias=True, drop_path=r, norm_layer=norm,
                                attn_layer=TokenAttention) for r in rates])


class FusedHead(NamedTuple):
    """The fused head's weights (``DSTA._fuse``), each the operand of one call of ``DSTA._aggregate_fused``."""

    pos: torch.Tensor  # (J T 2, C): position embeddings of the stream's rows
    stream_rows: torch.Tensor  # (J T 2, T J): 0/1, stream row <- clip token
    blocks: list[tuple[torch.Tensor, ...]]  # per depth (``dsta.attention.fuse_branch_blocks``)
    norm_w: torch.Tensor  # (2 C): the final norms' scales times the aggregation's weights (spatial, temporal)
    norm_b: torch.Tensor  # (2 C): their shifts, likewise
    raw_rows: torch.Tensor  # (J, T J): keypoint <- the key frame's token, times the spatial weight (ungrouped tokens)
    bias: torch.Tensor  # (1, 1): the aggregation's bias
    joint_rows: torch.Tensor  # (J, J T 2): 0/1, keypoint <- its normed temporal and spatial rows
    head_w: torch.Tensor  # (C, 6): coordinates, sigma logits, minus sigma logits (the norms' affine maps folded in)
    head_b: torch.Tensor  # (6,)

    def cast(self, dtype: torch.dtype) -> FusedHead:
        """The matmul operands in ``dtype`` (autocast's, whose casts then find them cast and copy nothing); the final
        norm's scale and shift stay float32, as autocast runs group norms."""
        def c(t):
            return t.to(dtype)

        return self._replace(pos=c(self.pos), stream_rows=c(self.stream_rows), raw_rows=c(self.raw_rows),
                             blocks=[tuple(map(c, depth)) for depth in self.blocks], bias=c(self.bias),
                             joint_rows=c(self.joint_rows), head_w=c(self.head_w), head_b=c(self.head_b))


class DSTA(nn.Module):
    """Decoupled space-time aggregation over per-joint tokens.

    Args:
        backbone: timm backbone name (``resnet18``, ``resnet50``, ``hrnet_w32``, ``hrnet_w48``, ...).
        num_frames: T, any positive odd number; the key frame is frame ``T // 2``.
        joint_groups: the grouping of the J keypoint tokens, or the name of one in ``dsta.keypoints``.
        embed_dim: C, the token width (32 in the paper).
        depth: transformer blocks in each of the spatial and temporal branches (4).
        num_heads: attention heads (8).
        mlp_ratio: MLP width / C in the blocks (2).
        drop_path_rate: stochastic depth at the last block (0.1).
        pretrained: backbone weights: None, ``"imagenet"`` or a path (see ``dsta.backbones``).
        official_readout: read the ungrouped joints from token 0, as the released code does.
        flow_prior_mean: mean of the RLE flow's Gaussian prior (the release uses 0.5).
        init: how the new layers start: ``"default"`` (PyTorch's init, the coordinate bias at the crop centre, the
            flow at xavier(0.01)) or ``"official"``, as the released code initialises them (``init_official``).
    """

    #: Inference runs the whole head fused (``_aggregate_fused``: 40 operator calls per head call in float32 instead
    #: of 138 with the blocks run one by one) when True, module by module when False; None: fused on CUDA, where each
    #: call is a kernel launch that costs more than its arithmetic. On the CPU the module-by-module head is the faster
    #: one from batch 8 on (``benchmarks/head_ops.json``), so it stays the CPU's path.
    fused_head: bool | None = None

    def __init__(self, backbone: str, num_frames: int, joint_groups: JointGroups | str = "posetrack",
                 embed_dim: int = 32, depth: int = 4, num_heads: int = 8, mlp_ratio: float = 2.0,
                 drop_path_rate: float = 0.1, pretrained: str | None = None, official_readout: bool = False,
                 flow_prior_mean: float = 0.5, init: str = "default") -> None:
        super().__init__()
        assert init in DSTA_INITS, f"init must be one of {DSTA_INITS}, got {init!r}"
        self.num_frames = check_num_frames(num_frames, "model.num_frames")
        groups = named_groups(joint_groups) if isinstance(joint_groups, str) else joint_groups
        assert embed_dim > 0 and embed_dim % num_heads == 0, "embed_dim must be a positive multiple of num_heads"
        assert depth >= 1, "depth must be >= 1"
        self.groups = groups
        self.num_joints = groups.num_joints
        self.num_grouped = len(groups.groups) * groups.group_size
        self.embed_dim = embed_dim

        # 1. joint-centric feature decoder
        self.backbone = create_backbone(backbone, pretrained)
        self.joint_embed = NormScaledLinear(self.backbone.num_features, self.num_joints * embed_dim)

        # 2. space-time decoupling
        self.spatial_pos_embed = nn.Parameter(torch.zeros(groups.group_size, embed_dim))
        self.spatial_blocks = _blocks(embed_dim, depth, num_heads, mlp_ratio, drop_path_rate)
        self.spatial_norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.temporal_pos_embed = nn.Parameter(torch.zeros(1, self.num_frames, embed_dim))
        self.temporal_blocks = _blocks(embed_dim, depth, num_heads, mlp_ratio, drop_path_rate)
        self.temporal_norm = nn.LayerNorm(embed_dim, eps=1e-6)

        # 3. aggregation and 4. heads
        self.aggregate = nn.Conv2d(2, 1, kernel_size=1)
        self.head_coord = nn.Sequential(nn.LayerNorm(embed_dim), nn.Linear(embed_dim, 2))
        with torch.no_grad():  # start at the crop centre, as RLE does (the release starts near the corner, 0, and
            # spends its first steps getting to the centre: costly in a short fine-tune; converted weights overwrite it)
            self.head_coord[1].bias.add_(0.5)
        self.head_sigma = nn.Sequential(nn.LayerNorm(embed_dim), nn.Linear(embed_dim, 2))
        self.flow = RealNVP(num_layers=6, hidden=64, prior_mean=flow_prior_mean)

        # token k holds keypoint token_order[k]; keypoint j is read from token readout[j]
        order = groups.token_order
        readout = [order.index(j) for j in range(self.num_joints)]
        if official_readout:
            readout = [0 if j in groups.ungrouped else t for j, t in enumerate(readout)]
        self.register_buffer("readout", torch.tensor(readout), persistent=False)
        self._fused_rows(readout)
        # where the fused head's parameters live (looked up per call: a parameter may be replaced, e.g. by
        # ``load_state_dict(assign=True)``), and the fused weights with the stamp they were built at
        self._fused_sources = [(module, name) for part in (self.spatial_blocks, self.temporal_blocks, self.spatial_norm,
                                                          self.temporal_norm, self.aggregate, self.head_coord,
                                                          self.head_sigma)
                               for module in part.modules() for name, _ in module.named_parameters(recurse=False)]
        self._fused_sources += [(self, "spatial_pos_embed"), (self, "temporal_pos_embed")]
        self._fused_cache: tuple | None = None
        if init == "official":
            self.init_official()

    def init_official(self) -> None:
        """The release's ``init_weights`` (zgspose/DSTA ``dsta_std_resnet50.py``) on every layer but the backbone
        (whose weights the release then loads from the pretrained file): every bias 0 (the blocks, the heads, the
        joint embedding ``fc_coord`` and the flow), the aggregation's 1x1 convolution (``weighted_mean``) drawn from
        N(0, 0.001), the other weights as built. The release builds its flow as ``RealNVP(nets, nett, mask, prior)``
        from ``mmpose.models.heads.rle_regression_head``, a module it does not publish; that is the signature of
        RLE's own RealNVP (Jeff-sjtu/res-loglikelihood-regression), whose constructor leaves PyTorch's default init
        (its xavier(0.01) ``_init`` is never called), so the flow's linear layers are reset to that default here."""
        for name, module in self.named_modules():
            if name == "backbone" or name.startswith("backbone."):
                continue
            if isinstance(module, nn.Linear) and name.startswith("flow."):
                module.reset_parameters()
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, std=0.001)
            bias = dict(module.named_parameters(recurse=False)).get("bias")
            if bias is not None:
                with torch.no_grad():
                    bias.zero_()

    # -- 1. tokens ---------------------------------------------------------------------------------------------
    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """Per-frame joint tokens: (N, 3, H, W) -> (N, J, C). Streaming inference caches these per frame."""
        feat = self.backbone(frames).mean(dim=(2, 3))
        return self.joint_embed(feat).reshape(frames.shape[0], self.num_joints, self.embed_dim)

    # -- 2.-4. aggregation over a clip of tokens -------------------------------------------------------------------
    def aggregate_frames(self, tokens: torch.Tensor) -> PoseOutput:
        """(B, T, J, C) tokens of a clip -> the key frame's pose."""
        b, t, j, c = tokens.shape
        assert t == self.num_frames and j == self.num_joints, f"expected (B, {self.num_frames}, {j}, C) tokens"
        fused = tokens.is_cuda if self.fused_head is None else self.fused_head
        # fvcore's FLOP counts trace the modules: they count the algorithm, not the fused layout's padding
        if fused and not self.training and self.groups.group_size == t and not torch.jit.is_tracing():
            return self._aggregate_fused(tokens)
        key = tokens[:, t // 2]

        # spatial: attention inside each group of adjacent joints, on the key frame
        g, s = len(self.groups.groups), self.groups.group_size
        spatial = key[:, : self.num_grouped].reshape(b * g, s, c) + self.spatial_pos_embed
        for blk in self.spatial_blocks:
            spatial = blk(spatial)
        spatial = self.spatial_norm(spatial).reshape(b, g * s, c)
        spatial = torch.cat([spatial, key[:, self.num_grouped:]], dim=1)  # ungrouped tokens skip spatial attention

        # temporal: attention across the T frames, per joint; only the key frame's token is read, so the last block
        # runs for that token alone (its keys and values still come from every frame)
        temporal = tokens.transpose(1, 2).reshape(b * j, t, c) + self.temporal_pos_embed
        for blk in self.temporal_blocks[:-1]:
            temporal = blk(temporal)
        temporal = block_query(self.temporal_blocks[-1], temporal, t // 2)
        temporal = self.temporal_norm(temporal).reshape(b, j, c)

        # aggregation: a learned weighting of the two views of each joint (the 1x1 convolution over the pair,
        # written out: a convolution call over 2 channels cost more than the rest of this line)
        weight = self.aggregate.weight.reshape(2)
        feat = torch.addcmul(torch.addcmul(self.aggregate.bias, temporal, weight[0]), spatial, weight[1])
        feat = feat[:, self.readout]
        coords = self.head_coord(feat)
        sigma = self.head_sigma(feat).sigmoid()
        return PoseOutput(coords=coords, sigma=sigma, score=(1 - sigma).mean(dim=2))

    # -- the same head in 40 operator calls (inference on CUDA) -----------------------------------------------------
    # Both branches run as one stream of B J T rows, each row the spatial and the temporal branch's C channels side
    # by side (``dsta.attention.fused_blocks``: 8 calls per depth). The spatial branch's B G groups of S = T tokens
    # fill its first G sequences; its other J - G sequences are padding (copies of real tokens, whose outputs are
    # never read). Every gather is a product with a fixed 0/1 matrix, so that it is one call that adds something
    # as well: the clip's tokens to the stream (with the position embeddings), and the normed rows to the joints'
    # features (with the aggregation's bias). The final norms run as one group norm (one group per branch) whose
    # scale and shift hold the aggregation's two weights; the two output heads share one norm and one matmul, which
    # also gives -logit(sigma), so that one sigmoid gives sigma and 1 - sigma.

    def _fused_rows(self, readout: list[int]) -> None:
        """The fixed 0/1 matrices of the fused head (buffers, rebuilt from the joint groups, not saved)."""
        t, j, g, s = self.num_frames, self.num_joints, len(self.groups.groups), self.groups.group_size
        if s != t:  # no fused head
            for name in ("stream_rows", "joint_rows", "raw_rows"):
                self.register_buffer(name, None, persistent=False)
            return
        key = t // 2
        token = torch.arange(t * j).view(t, j)  # row of (frame, token) in the clip's (T J) tokens
        spatial = token[key, : self.num_grouped].view(g, s)
        spatial = torch.cat([spatial, token.t()[g:]])  # (J, T): the padding sequences copy the temporal ones
        stream = torch.stack([spatial, token.t()], dim=2).reshape(-1)  # stream row (sequence, token, branch)
        self.register_buffer("stream_rows", F.one_hot(stream, t * j).float(), persistent=False)
        joint_rows = torch.zeros(j, j * t * 2)  # keypoint -> its temporal row and (grouped tokens) its spatial row
        raw_rows = torch.zeros(j, t * j)  # keypoint -> the key frame's token (ungrouped tokens skip spatial attention)
        for k, tok in enumerate(readout):
            joint_rows[k, (tok * t + key) * 2 + 1] = 1
            if tok < self.num_grouped:
                joint_rows[k, ((tok // s) * t + tok % s) * 2] = 1
            else:
                raw_rows[k, token[key, tok]] = 1
        self.register_buffer("joint_rows", joint_rows, persistent=False)
        self.register_buffer("raw_rows", raw_rows, persistent=False)

    def _fuse(self) -> FusedHead:
        """The fused head's weights, from the modules' parameters (differentiable)."""
        t, j, c, g = self.num_frames, self.num_joints, self.embed_dim, len(self.groups.groups)
        assert self.spatial_norm.eps == self.temporal_norm.eps and self.head_coord[0].eps == self.head_sigma[0].eps
        pos = torch.stack([F.pad(self.spatial_pos_embed.expand(g, t, c), (0, 0, 0, 0, 0, j - g)),
                           self.temporal_pos_embed.expand(j, t, c)], dim=2).reshape(j * t * 2, c)
        w_temporal, w_spatial = self.aggregate.weight.reshape(2)
        scale = torch.stack([w_spatial.expand(c), w_temporal.expand(c)])
        coord_w, coord_b = fold_norm(self.head_coord[0], self.head_coord[1])
        sigma_w, sigma_b = fold_norm(self.head_sigma[0], self.head_sigma[1])
        blocks = fuse_branch_blocks([self.spatial_blocks, self.temporal_blocks])
        return FusedHead(
            pos=pos, stream_rows=self.stream_rows, blocks=blocks,
            norm_w=(scale * torch.stack([self.spatial_norm.weight, self.temporal_norm.weight])).reshape(-1),
            norm_b=(scale * torch.stack([self.spatial_norm.bias, self.temporal_norm.bias])).reshape(-1),
            raw_rows=self.raw_rows * w_spatial, bias=self.aggregate.bias.view(1, 1), joint_rows=self.joint_rows,
            head_w=torch.cat([coord_w, sigma_w, -sigma_w]).t(), head_b=torch.cat([coord_b, sigma_b, -sigma_b]))

    def _fused_weights(self) -> FusedHead:
        """``_fuse()``: inside ``torch.compile`` (whose graph then holds the fusing too) and where autograd needs it
        (grad mode and parameters that require grad), built per call; else kept, and built again when a parameter's
        storage or version counter changes (an optimizer step, ``load_state_dict``, ``.to()``), when autocast's dtype
        changes (the weights are kept in it), and on ``train()`` / ``eval()``: call ``eval()`` after changing weights
        behind autograd's back (``p.data``, a fused optimizer), which version counters do not see."""
        if torch.compiler.is_compiling():
            return self._fuse()
        params = [getattr(module, name) for module, name in self._fused_sources]
        if torch.is_grad_enabled() and any(p.requires_grad for p in params):
            return self._fuse()
        device = params[0].device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else None
        stamp = (dtype, *((p.data_ptr(), p._version) for p in params))
        if self._fused_cache is None or self._fused_cache[0] != stamp:
            with torch.autocast(device, enabled=False):  # fold in the parameters' precision
                fused = self._fuse()
            self._fused_cache = (stamp, fused if dtype is None else fused.cast(dtype))
        return self._fused_cache[1]

    def train(self, mode: bool = True) -> DSTA:
        self._fused_cache = None
        return super().train(mode)

    def _aggregate_fused(self, tokens: torch.Tensor) -> PoseOutput:
        """``aggregate_frames`` in eval mode when the group size equals T: the same outputs up to float rounding
        (``coords`` and ``sigma`` are views of one (B, J, 6) and one (B, J, 4) tensor)."""
        b, t, j, c = tokens.shape
        w = self._fused_weights()
        block = self.spatial_blocks[0]
        clip = tokens.reshape(b, t * j, c)
        stream = torch.baddbmm(w.pos, w.stream_rows.expand(b, -1, -1), clip)  # (B, J T 2, C)
        stream = fused_blocks(stream.view(b * j * t, 2, c), w.blocks, t, block.attn.num_heads, block.attn.scale,
                              block.norm1.eps)
        normed = F.group_norm(stream.view(b * j * t, 2 * c), 2, w.norm_w, w.norm_b, self.spatial_norm.eps)
        raw = torch.baddbmm(w.bias, w.raw_rows.expand(b, -1, -1), clip)  # ungrouped: the key frame's token
        feat = torch.baddbmm(raw, w.joint_rows.expand(b, -1, -1), normed.view(b, j * t * 2, c))  # (B, J, C)
        feat = F.layer_norm(feat, (c,), eps=self.head_coord[0].eps).view(b * j, c)
        out = torch.addmm(w.head_b, feat, w.head_w).view(b, j, 6)
        sigmas = out[..., 2:].sigmoid()  # sigma, then 1 - sigma
        return PoseOutput(coords=out[..., :2], sigma=sigmas[..., :2], score=sigmas[..., 2:].mean(dim=2))

    def forward(self, clip: torch.Tensor) -> PoseOutput:
        """(B, T, 3, H, W), frames in temporal order -> the key frame's pose."""
        b, t = clip.shape[:2]
        assert t == self.num_frames, f"expected {self.num_frames} frames, got {t}"
        tokens = self.frame_features(clip.flatten(0, 1)).reshape(b, t, self.num_joints, self.embed_dim)
        return self.aggregate_frames(tokens)


@register_model("regression")
def dsta(**kwargs) -> DSTA:
    """DSTA (He & Yang, CVPR 2024); see ``dsta.models.dsta.DSTA`` for the arguments."""
    return DSTA(**kwargs)
