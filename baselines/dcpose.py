"""DCPose: Deep Dual Consecutive Network for Human Pose Estimation.

Liu et al., CVPR 2021; released code: Pose-Group/DCPose (``DcPose_RSN``).

Three frames ``t - d, t, t + d`` go through a single-frame heatmap network (HRNet in the paper), giving rough
heatmaps ``H_p, H_c, H_n``. With the temporal weights ``w_p = (n - c) / (n - p)`` and ``w_n = (c - p) / (n - p)``
(0.5 each when the two distances are equal):

1. **Pose Temporal Merger (PTM)**: per joint, ``[H_c, w_p H_p, w_n H_n]`` (3J channels, grouped by joint) pass a
   chain of residual-steps blocks to a merged J-channel heatmap feature ``S``.
2. **Pose Residual Fusion (PRF)**: per joint, the differences ``[H_c - H_p, w_p (H_c - H_p), H_c - H_n,
   w_n (H_c - H_n)]`` (4J channels) pass another chain to motion features ``M``.
3. **Pose Correction Network (PCN)**: ``[M, S]`` is fused by a third chain; for each dilation in (3, 6, 9, 12, 15),
   3x3 convolutions predict the offsets (J groups x 2 x 9) and modulation masks (J x 9) of a modulated deformable
   convolution (``torchvision.ops.deform_conv2d``, J deformable groups) that resamples ``S``. The five results are
   averaged into the key frame's corrected heatmaps, trained with the joint-weighted heatmap MSE.

The residual-steps block follows RSN (Cai et al., ECCV 2020), as in the release: a 1x1 convolution to four branches
of ``in * 26 // 64`` channels, 3x3 convolution chains of length 1-4 where each branch also receives the previous
branch's intermediate outputs, concatenation, a 1x1 convolution and a residual connection.
The deformable convolutions start as the identity (centre tap 1), as the release initialises them.

This implementation takes the frames in temporal order ``(B, 3, 3, H, W)`` and uses the equal-distance weights
(0.5, 0.5) unless ``margin`` (the two distances) is passed; the release feeds (current, previous, next).

The official recipe (Pose-Group/DCPose ``configs/posetimation/DcPose/Base_PoseTrack1{7,8}.yaml``) starts the per-frame
HRNet-W48 from a COCO-trained pose HRNet (``MODEL.PRETRAINED``, every layer) and freezes it
(``FREEZE_HRNET_WEIGHTS: true``, ``posetimation/zoo/backbones/hrnet.py::freeze_weight`` sets ``requires_grad=False``
and nothing else, so its BatchNorm statistics still move in training mode): only PTM, PRF and PCN train.
``freeze_rough=True`` does the same.

Parameters at paper size (HRNet-W48, 17 joints, measured): 65,198,798 = the official pose HRNet-W48 with its 1x1 head
(63,595,745, equal key by key to the release's ``hrnet.py``) + 1,603,053 for PTM, PRF and PCN (mostly the five
offset/mask convolutions); 63,595,745 of them frozen in the official recipe. The heads follow the release's
configuration (PRF 34 channels x 2 blocks, PTM 17 x 1, fusion 64 x 2, dilations 3-15).
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import deform_conv2d

from baselines.heatmap import HeatmapNet
from dsta.core.configs import check_num_frames
from dsta.core.registry import register_model


def _conv_bn(cin: int, cout: int, k: int, relu: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, k, padding=k // 2), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, *([nn.ReLU(inplace=True)] if relu else []))


def _deform_conv(
    x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, mask: torch.Tensor, dilation: int
) -> torch.Tensor:
    """torchvision's modulated deformable convolution (padding = dilation). Its CPU kernel has no half-precision
    version, so under CPU autocast (``--dtype bf16``) this one layer runs in fp32."""
    if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
        with torch.autocast("cpu", enabled=False):
            return _deform_conv(x.float(), offset.float(), weight.float(), bias.float(), mask.float(), dilation)
    return deform_conv2d(
        x, offset, weight, bias, padding=(dilation, dilation), dilation=(dilation, dilation), mask=mask
    )


class ResidualStepsBlock(nn.Module):
    """RSN's residual-steps block (four branches of growing depth with intra-level connections)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.width = max(1, cin * 26 // 64)
        self.expand = _conv_bn(cin, 4 * self.width, 1)
        # branch b has b + 1 convolutions
        self.branches = nn.ModuleList(
            [nn.ModuleList([_conv_bn(self.width, self.width, 3) for _ in range(b + 1)]) for b in range(4)]
        )
        self.project = _conv_bn(4 * self.width, cout, 1, relu=False)
        self.shortcut = _conv_bn(cin, cout, 1, relu=False) if cin != cout else nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = torch.split(self.expand(x), self.width, dim=1)
        previous: list[torch.Tensor] = []  # intermediate outputs of the previous branch
        ends = []
        for b, convs in enumerate(self.branches):
            current = []
            h = parts[b]
            for i, conv in enumerate(convs):
                if i < len(previous):
                    h = h + previous[i]
                h = conv(h)
                current.append(h)
            previous = current
            ends.append(current[-1])
        return self.relu(self.project(torch.cat(ends, dim=1)) + self.shortcut(x))


def _chain(cin: int, cout: int, blocks: int) -> nn.Sequential:
    return nn.Sequential(ResidualStepsBlock(cin, cout), *[ResidualStepsBlock(cout, cout) for _ in range(blocks - 1)])


class DCPose(nn.Module):
    """DCPose over frames ``t - d, t, t + d``.

    Args:
        backbone: the per-frame heatmap network's backbone (``hrnet_w48`` in the paper; ``resnet*`` gives a
            SimpleBaseline per-frame stage).
        num_frames: must be 3.
        num_joints: J.
        dilations: the PCN's deformable-convolution dilations.
        prf_channels / prf_blocks: PRF chain width and depth (34, 2 in the release).
        ptm_blocks: PTM chain depth (1); its width is J.
        combine_channels / combine_blocks: the PRF+PTM fusion chain (64, 2).
        deconv_channels: SimpleBaseline width when the backbone is a ResNet.
        pretrained: per-frame network weights (``dsta.nn.backbones``; an official pose HRNet checkpoint also gives the
            1x1 heatmap layer).
        freeze_rough: do not train the per-frame network (the official ``FREEZE_HRNET_WEIGHTS``).
    """

    def __init__(
        self,
        backbone: str,
        num_frames: int = 3,
        num_joints: int = 17,
        dilations: tuple[int, ...] = (3, 6, 9, 12, 15),
        prf_channels: int = 34,
        prf_blocks: int = 2,
        ptm_blocks: int = 1,
        combine_channels: int = 64,
        combine_blocks: int = 2,
        deconv_channels: int = 256,
        pretrained: str | None = None,
        freeze_rough: bool = False,
    ) -> None:
        super().__init__()
        if check_num_frames(num_frames, "model.num_frames") != 3:
            raise ValueError("DCPose uses exactly 3 frames (t - d, t, t + d)")
        assert len(dilations) >= 1 and all(d >= 1 for d in dilations)
        self.num_frames, self.num_joints, self.dilations = 3, num_joints, tuple(dilations)
        j = num_joints
        self.rough = HeatmapNet(backbone, num_joints=j, deconv_channels=deconv_channels, pretrained=pretrained)
        self.freeze_rough = bool(freeze_rough)
        if self.freeze_rough:
            self.rough.requires_grad_(False)
        self.prf = _chain(4 * j, prf_channels, prf_blocks)
        self.ptm = _chain(3 * j, j, ptm_blocks)
        self.combine = _chain(prf_channels + j, combine_channels, combine_blocks)
        self.offsets = nn.ModuleList(
            [nn.Conv2d(combine_channels, j * 2 * 9, 3, padding=d, dilation=d, bias=False) for d in self.dilations]
        )
        self.masks = nn.ModuleList(
            [nn.Conv2d(combine_channels, j * 9, 3, padding=d, dilation=d, bias=False) for d in self.dilations]
        )
        identity = torch.zeros(len(self.dilations), j, j, 3, 3)
        identity[:, torch.arange(j), torch.arange(j), 1, 1] = 1.0  # start as the identity, as the release does
        self.deform_weight = nn.Parameter(identity)
        self.deform_bias = nn.Parameter(torch.zeros(len(self.dilations), j))
        for m in [*self.offsets, *self.masks]:
            nn.init.normal_(m.weight, std=0.001)

    backbone_path = "rough.backbone"

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """The per-frame stage: (N, 3, H, W) -> rough heatmaps (N, J, H/4, W/4). Independent of the other frames, so
        a video can compute them once per frame."""
        return self.rough.frame_heatmaps(frames)

    def aggregate_frames(self, rough: torch.Tensor, margin: torch.Tensor | None = None) -> torch.Tensor:
        """Rough heatmaps of frames ``t - d, t, t + d`` (B, 3, J, h, w) -> the key frame's corrected heatmaps."""
        b = rough.shape[0]
        prev, cur, nxt = rough[:, 0], rough[:, 1], rough[:, 2]
        if margin is None:
            w_p = w_n = cur.new_full((b, 1, 1, 1), 0.5)
        else:
            m = margin.float() / margin.float().sum(dim=1, keepdim=True)
            w_p, w_n = m[:, 1].view(b, 1, 1, 1), m[:, 0].view(b, 1, 1, 1)
        d_a, d_b = cur - prev, cur - nxt
        # channels interleaved per joint, as the grouping by joint expects
        motion = torch.stack([d_a, w_p * d_a, d_b, w_n * d_b], dim=2).flatten(1, 2)
        support = torch.stack([cur, w_p * prev, w_n * nxt], dim=2).flatten(1, 2)
        motion = self.prf(motion)
        support = self.ptm(support)
        fused = self.combine(torch.cat([motion, support], dim=1))
        out = 0
        for i, d in enumerate(self.dilations):
            out = out + _deform_conv(
                support, self.offsets[i](fused), self.deform_weight[i], self.deform_bias[i], self.masks[i](fused), d
            )
        return out / len(self.dilations)

    def forward(self, clip: torch.Tensor, margin: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 3, 3, H, W) frames in temporal order -> the key frame's corrected heatmaps (B, J, H/4, W/4).

        Args:
            margin: optional (B, 2) frame distances ``(c - p, n - c)``; equal distances when omitted.
        """
        b, t = clip.shape[:2]
        assert t == 3, "DCPose takes 3 frames"
        return self.aggregate_frames(self.frame_features(clip.flatten(0, 1)).unflatten(0, (b, 3)), margin)


@register_model("heatmap")
def dcpose(**kwargs) -> DCPose:
    """DCPose (Liu et al., CVPR 2021); see ``baselines.dcpose.DCPose``."""
    return DCPose(**kwargs)
