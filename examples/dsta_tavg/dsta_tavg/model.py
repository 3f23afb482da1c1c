"""TempAvg: a single-frame RLE regressor whose pooled feature is averaged over the clip's frames.

Each frame of the clip goes through the same backbone (any of dsta-bench's, ``dsta.nn.backbones``) and is pooled to one
vector; the clip's vectors are averaged with learned weights (a softmax over the T frames, starting uniform), and
the average gives each joint's location and scale as in RLE (Li et al., ICCV 2021): ``mu = W_mu f / ||f|| + b_mu``,
``sigma = sigmoid(W_s f + b_s)``, trained with the RLE loss and its RealNVP flow. It is the simplest way to use the
neighbour frames: no attention, no per-joint tokens; a baseline for what DSTA's space-time aggregation adds.

What dsta-bench asks of a model (``dsta.models``): ``forward(clip)`` with ``clip`` (B, T, 3, H, W), key frame in the
middle; ``num_frames`` and ``num_joints``; the per-frame backbone at ``backbone`` (frozen by ``freeze_backbone_epochs``,
counted apart in the FLOP and parameter splits); for a regression model, a ``PoseOutput`` and the flow at ``flow``
(the RLE loss uses it). ``frame_features`` / ``aggregate_frames`` are optional: with them, streaming inference and
the profiler's streaming mode cost one backbone pass per frame.
"""

from __future__ import annotations

import torch
from torch import nn

from dsta.nn.backbones import create_backbone
from dsta.nn.layers import NormScaledLinear, PoseOutput
from dsta.nn.rle_flow import RealNVP


class TemporalAverage(nn.Module):
    """Args: backbone (a dsta-bench backbone name), num_frames (T, odd), num_joints (J), pretrained (None,
    ``"imagenet"`` or a backbone file such as the synthetic pipeline's ``pretrain/rle/backbone.pt``)."""

    def __init__(self, backbone: str, num_frames: int = 3, num_joints: int = 17, pretrained: str | None = None):
        super().__init__()
        self.num_frames = num_frames
        self.num_joints = num_joints
        self.backbone = create_backbone(backbone, pretrained)
        width = self.backbone.num_features
        self.frame_logits = nn.Parameter(torch.zeros(num_frames))  # softmax weights over the frames: uniform at start
        self.fc_coord = NormScaledLinear(width, num_joints * 2)
        self.fc_sigma = NormScaledLinear(width, num_joints * 2, norm=False)
        self.flow = RealNVP(num_layers=6, hidden=64, prior_mean=0.0)
        with torch.no_grad():  # start at the crop centre (coordinates are x / W, y / H of the crop)
            self.fc_coord.linear.bias.fill_(0.5)

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, C): each frame's pooled backbone feature (independent of the other frames)."""
        return self.backbone(frames).mean(dim=(2, 3))

    def aggregate_frames(self, features: torch.Tensor) -> PoseOutput:
        """(B, T, C) -> the key frame's pose, from the frames' weighted mean feature."""
        weights = self.frame_logits.softmax(dim=0)
        pooled = (features * weights[None, :, None]).sum(dim=1)
        b = pooled.shape[0]
        coords = self.fc_coord(pooled).reshape(b, self.num_joints, 2)
        sigma = self.fc_sigma(pooled).reshape(b, self.num_joints, 2).sigmoid()
        return PoseOutput(coords=coords, sigma=sigma, score=(1 - sigma).mean(dim=2))

    def forward(self, clip: torch.Tensor) -> PoseOutput:
        b, t = clip.shape[:2]
        assert t == self.num_frames, f"expected {self.num_frames} frames, got {t}"
        return self.aggregate_frames(self.frame_features(clip.flatten(0, 1)).reshape(b, t, -1))


def tavg(**kwargs) -> TemporalAverage:
    """The factory the plugin names (``dsta_tavg.plugin.PLUGIN.factory``): ``model.kwargs`` of the config."""
    return TemporalAverage(**kwargs)
