"""DSTA: Video-Based Human Pose Regression via Decoupled Space-Time Aggregation.

He & Yang, CVPR 2024 (arXiv 2403.19926); released code: zgspose/DSTA.

A clip of T frames (key frame in the middle) is turned into one token per joint per frame, and the key frame's
joints are regressed from those tokens:

1. **Joint-centric feature decoder.** Each frame goes through the backbone; its final feature map is average-pooled
   to a vector ``f_t`` and a norm-scaled linear layer maps it to J tokens of C dims:
   ``F_t = W f_t / ||f_t|| + b`` (the linear map divided by the L2 norm of its input, as RLE's output layer).
2. **Space-time decoupling.**
   *Spatial* (local-awareness attention): on the key frame, the tokens of each group of adjacent joints (head, each
   arm, each leg; groups from ``dsta.core.keypoints``) attend to each other, with a learned position embedding per place
   in the group. Tokens outside every group (PoseTrack's ears) pass through unchanged.
   *Temporal*: each joint's T tokens attend to each other across frames, with a learned embedding per frame.
   Both are stacks of pre-norm transformer blocks (timm's ``Block``) followed by a LayerNorm.
3. **Aggregation.** A 1x1 convolution over the pair (temporal, spatial) weighs the two into one feature per joint.
4. **Heads.** ``coords = Linear(LN(F))`` in the crop's normalized frame (x / W, y / H, so [0, 1] inside the crop),
   ``sigma = sigmoid(Linear(LN(F)))``, and the joint score ``mean(1 - sigma)``.

Training uses the RLE loss (``dsta.nn.rle_flow``) with the flow kept in the model (``self.flow``), as in the released
code, so the released checkpoint (24,745,407 parameters at ResNet-50, T=3, 17 joints, C=32) loads one to one.

Inference may run the head in its fused form (``dsta.models.dsta_fused.fuse_head``: the same function in fewer
operator calls); this file is the paper's path, the one training and FLOP counts see.

Differences from the released file, none of which changes its numbers: T, the joint groups, C, depth and heads are
constructor arguments (the release hard-codes ``num_frame = 3``, ``g=5`` and ``split(3)``); the input is
(B, T, 3, H, W) instead of frames concatenated along channels; the read-out list ``joint_ordor`` is derived from the
joint groups. One quirk is kept behind ``official_readout``: the release reads both ears from token 0 (the head-top
token) and never uses the two ear tokens. PoseTrack has no ear annotations, so metrics are unaffected either way.
"""

from __future__ import annotations

from functools import partial

import torch
from timm.models.vision_transformer import Block
from torch import nn

from dsta.core.configs import DSTA_INITS, check_num_frames
from dsta.core.keypoints import JointGroups
from dsta.core.keypoints import joint_groups as named_groups
from dsta.core.registry import register_model
from dsta.nn.attention import TokenAttention, block_query
from dsta.nn.backbones import create_backbone
from dsta.nn.layers import NormScaledLinear, PoseOutput
from dsta.nn.rle_flow import RealNVP


def _blocks(dim: int, depth: int, num_heads: int, mlp_ratio: float, drop_path_rate: float) -> nn.ModuleList:
    rates = torch.linspace(0, drop_path_rate, depth).tolist()  # stochastic depth grows with depth
    norm = partial(nn.LayerNorm, eps=1e-6)
    return nn.ModuleList(
        [
            Block(
                dim,
                num_heads,
                mlp_ratio=mlp_ratio,
                qkv_bias=True,
                drop_path=r,
                norm_layer=norm,
                attn_layer=TokenAttention,
            )
            for r in rates
        ]
    )


class DSTA(nn.Module):
    """Decoupled space-time aggregation over per-joint tokens.

    Args:
        backbone: timm backbone name (``resnet18``, ``resnet50``, ``hrnet_w32``, ``hrnet_w48``, ...).
        num_frames: T, any positive odd number; the key frame is frame ``T // 2``.
        joint_groups: the grouping of the J keypoint tokens, or the name of one in ``dsta.core.keypoints``.
        embed_dim: C, the token width (32 in the paper).
        depth: transformer blocks in each of the spatial and temporal branches (4).
        num_heads: attention heads (8).
        mlp_ratio: MLP width / C in the blocks (2).
        drop_path_rate: stochastic depth at the last block (0.1).
        pretrained: backbone weights: None, ``"imagenet"`` or a path (see ``dsta.nn.backbones``).
        official_readout: read the ungrouped joints from token 0, as the released code does.
        flow_prior_mean: mean of the RLE flow's Gaussian prior (the release uses 0.5).
        init: how the new layers start: ``"default"`` (PyTorch's init, the coordinate bias at the crop centre, the
            flow at xavier(0.01)) or ``"official"``, as the released code initialises them (``init_official``).
    """

    def __init__(
        self,
        backbone: str,
        num_frames: int,
        joint_groups: JointGroups | str = "posetrack",
        embed_dim: int = 32,
        depth: int = 4,
        num_heads: int = 8,
        mlp_ratio: float = 2.0,
        drop_path_rate: float = 0.1,
        pretrained: str | None = None,
        official_readout: bool = False,
        flow_prior_mean: float = 0.5,
        init: str = "default",
    ) -> None:
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
        key = tokens[:, t // 2]

        # spatial: attention inside each group of adjacent joints, on the key frame
        g, s = len(self.groups.groups), self.groups.group_size
        spatial = key[:, : self.num_grouped].reshape(b * g, s, c) + self.spatial_pos_embed
        for blk in self.spatial_blocks:
            spatial = blk(spatial)
        spatial = self.spatial_norm(spatial).reshape(b, g * s, c)
        spatial = torch.cat([spatial, key[:, self.num_grouped :]], dim=1)  # ungrouped tokens skip spatial attention

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
