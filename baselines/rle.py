"""RLE: single-frame pose regression with residual log-likelihood estimation.

Li et al., *Human Pose Regression with Residual Log-likelihood Estimation*, ICCV 2021; released code:
Jeff-sjtu/res-loglikelihood-regression (``RegressFlow``).

One frame goes through the backbone; the pooled feature ``f`` gives, per joint, the location
``mu = W_mu f / ||f|| + b_mu`` (norm-scaled linear) and the scale ``sigma = sigmoid(W_s f + b_s)``. Training uses the
RLE loss (``dsta.nn.rle_flow``: RealNVP flow + Laplace residual), the implementation DSTA uses; the flow lives in the
model, as in the release. Coordinates follow this project's convention (x / W, y / H in [0, 1] of the crop); the
release centres them at 0 (``- 0.5``), which ``baselines.convert_rle`` folds into the coordinate bias.

``pretrained`` takes backbone weights (``dsta.nn.backbones``) or a whole RLE checkpoint of the release
(``coco-laplace-rle.pth``): then the backbone, both heads and the flow are loaded (``from_release``), as the PoseTrack
row that is compared with DSTA starts from the same COCO RLE as DSTA's backbone does.

Parameters at paper size (ResNet-50, 17 joints): 23,701,148 = backbone 23,508,032 + coordinate layer 69,666 + sigma
layer 69,666 + flow 53,784, as the released COCO checkpoint (``coco-laplace-rle.pth``, ResNet-50, no hidden FC).
"""

from __future__ import annotations

import torch
from torch import nn

from dsta.core.configs import check_num_frames
from dsta.core.errors import DataError
from dsta.core.registry import register_model
from dsta.nn.backbones import create_backbone, read_state_dict
from dsta.nn.layers import NormScaledLinear, PoseOutput
from dsta.nn.rle_flow import RealNVP


class RegressFlow(nn.Module):
    """Single-frame RLE regression.

    Args:
        backbone: timm backbone name.
        num_joints: J.
        pretrained: backbone weights (None, ``"imagenet"`` or a path), or a whole RLE release checkpoint (a path
            whose state dict has ``fc_coord``): every layer is loaded from it.
        num_frames: must be 1; present so every registered model takes ``(B, T, 3, H, W)``.
    """

    def __init__(self, backbone: str, num_joints: int = 17, pretrained: str | None = None, num_frames: int = 1) -> None:
        super().__init__()
        if check_num_frames(num_frames, "model.num_frames") != 1:
            raise ValueError("RLE is a single-frame model: num_frames must be 1")
        assert num_joints > 0
        self.num_frames = 1
        self.num_joints = num_joints
        state = read_state_dict(pretrained) if pretrained and pretrained != "imagenet" else None
        whole = state is not None and any(k.endswith("fc_coord.linear.weight") for k in state)
        self.backbone = create_backbone(backbone, None if whole else pretrained)
        self.fc_coord = NormScaledLinear(self.backbone.num_features, num_joints * 2)
        self.fc_sigma = NormScaledLinear(self.backbone.num_features, num_joints * 2, norm=False)
        self.flow = RealNVP(num_layers=6, hidden=64, prior_mean=0.0)
        with torch.no_grad():  # start at the crop centre in our [0, 1] convention (the release's 0)
            self.fc_coord.linear.bias.fill_(0.5)
        if whole:
            missing, unexpected = self.load_state_dict(from_release(state), strict=False)
            if missing or unexpected:
                raise DataError(
                    pretrained,
                    "model.pretrained",
                    f"not an RLE {backbone} checkpoint for {num_joints} "
                    f"joints: missing {missing[:3]}, unexpected {unexpected[:3]}",
                )

    def forward(self, clip: torch.Tensor) -> PoseOutput:
        """(B, 1, 3, H, W) -> pose of the frame."""
        assert clip.shape[1] == 1, "RLE takes one frame"
        feat = self.backbone(clip[:, 0]).mean(dim=(2, 3))
        b = feat.shape[0]
        coords = self.fc_coord(feat).reshape(b, self.num_joints, 2)
        sigma = self.fc_sigma(feat).reshape(b, self.num_joints, 2).sigmoid()
        return PoseOutput(coords=coords, sigma=sigma, score=(1 - sigma).mean(dim=2))


def from_release(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The release's ``RegressFlow`` state dict in this model's names and coordinate convention: ``preact.* ->
    backbone.*``; 0.5 added to the coordinate bias (the release centres coordinates at 0)."""
    mapped = {}
    for key, value in state.items():
        key = str(key).removeprefix("module.")
        if key.startswith("preact."):
            key = "backbone." + key[len("preact.") :]
        mapped[key] = value.clone()
    if "fc_coord.linear.bias" in mapped:
        mapped["fc_coord.linear.bias"] = mapped["fc_coord.linear.bias"] + 0.5
    return mapped


@register_model("regression")
def rle(**kwargs) -> RegressFlow:
    """RLE (RegressFlow), single frame; see ``baselines.rle.RegressFlow``."""
    return RegressFlow(**kwargs)
