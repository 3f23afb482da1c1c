"""Building blocks shared by several models, so that no model imports another model's file (as timm's ``layers``).

The RLE flow that DSTA and the RLE baseline share lives in ``dsta.nn.rle_flow`` beside its loss; the per-frame
backbones in ``dsta.nn.backbones``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


class NormScaledLinear(nn.Module):
    """``y = W x / ||x||_2 + b``: a linear map whose output does not grow with the feature norm (RLE's output layer).

    Weights start small (Xavier, gain 0.01), as in RLE.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, norm: bool = True) -> None:
        super().__init__()
        self.norm = norm
        self.linear = nn.Linear(in_features, out_features, bias)
        nn.init.xavier_uniform_(self.linear.weight, gain=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x @ self.linear.weight.t()
        if self.norm:
            y = y / torch.linalg.vector_norm(x, dim=1, keepdim=True)
        if self.linear.bias is not None:
            y = y + self.linear.bias
        return y


@dataclass
class PoseOutput:
    """What a regression pose model returns: normalized crop coordinates, their scales and per-joint scores."""

    coords: torch.Tensor  # (B, J, 2), x / W and y / H of the input crop
    sigma: torch.Tensor  # (B, J, 2), in (0, 1)
    score: torch.Tensor  # (B, J), mean(1 - sigma)
