"""RLE: single-frame pose regression with residual log-likelihood estimation.

Li et al., *Human Pose Regression with Residual Log-likelihood Estimation*, ICCV 2021; released code:
Jeff-sjtu/res-loglikelihood-regression (``RegressFlow``).

One frame goes through the backbone; the pooled feature ``f`` gives, per joint, the location
``mu = W_mu f / ||f|| + b_mu`` (norm-scaled linear) and the scale ``sigma = sigmoid(W_s f + b_s)``. Training uses the
RLE loss (``dsta.rle``: RealNVP flow + Laplace residual), the same implementation DSTA uses; the flow lives in the
model, as in the release. Coordinates follow this project's convention (x / W, y / H in [0, 1] of the crop); the
release centres them at 0 (``- 0.5``), which ``baselines.convert_rle`` folds into the coordinate bias.

Parameters at paper size (ResNet-50, 17 joints): 23,701,148 = backbone 23,508,032 + coordinate layer 69,666 + sigma
layer 69,666 + flow 53,784, as the released COCO checkpoint (``coco-laplace-rle.pth``, ResNet-50, no hidden FC).
"""
from __future__ import annotations

import torch
from torch import nn

from dsta.backbones import create_backbone
from dsta.checks import check_num_frames
from dsta.layers import NormScaledLinear, PoseOutput
from dsta.registry import register_model
from dsta.rle import RealNVP


class RegressFlow(nn.Module):
    """Single-frame RLE regression.

    Args:
        backbone: timm backbone name.
        num_joints: J.
        pretrained: backbone weights (None, ``"imagenet"`` or a path).
        num_frames: must be 1; present so every registered model takes ``(B, T, 3, H, W)``.
    """

    def __init__(self, backbone: str, num_joints: int = 17, pretrained: str | None = None,
                 num_frames: int = 1) -> None:
        super().__init__()
        if check_num_frames(num_frames, "model.num_frames") != 1:
            raise ValueError("RLE is a single-frame model: num_frames must be 1")
        assert num_joints > 0
        self.num_frames = 1
        self.num_joints = num_joints
        self.backbone = create_backbone(backbone, pretrained)
        self.fc_coord = NormScaledLinear(self.backbone.num_features, num_joints * 2)
        self.fc_sigma = NormScaledLinear(self.backbone.num_features, num_joints * 2, norm=False)
        self.flow = RealNVP(num_layers=6, hidden=64, prior_mean=0.0)
        with torch.no_grad():  # start at the crop centre in our [0, 1] convention (the release's 0)
            self.fc_coord.linear.bias.fill_(0.5)

    def forward(self, clip: torch.Tensor) -> PoseOutput:
        """(B, 1, 3, H, W) -> pose of the frame."""
        assert clip.shape[1] == 1, "RLE takes one frame"
        feat = self.backbone(clip[:, 0]).mean(dim=(2, 3))
        b = feat.shape[0]
        coords = self.fc_coord(feat).reshape(b, self.num_joints, 2)
        sigma = self.fc_sigma(feat).reshape(b, self.num_joints, 2).sigmoid()
        return PoseOutput(coords=coords, sigma=sigma, score=(1 - sigma).mean(dim=2))


@register_model("regression")
def rle(**kwargs) -> RegressFlow:
    """RLE (RegressFlow), single frame; see ``baselines.rle.RegressFlow``."""
    return RegressFlow(**kwargs)
