"""Backbones from timm, returning the final feature map.

``pretrained`` may be ``None`` (random init), ``"imagenet"`` (timm's weights: from its cache, or downloaded when
the network allows; offline that is a warning, never an error), or a path to a checkpoint: a state dict in timm's key layout (an
ImageNet checkpoint), or an RLE/COCO or released-DSTA checkpoint, whose backbone sits under ``preact.`` (the paper
initialises DSTA from RLE's COCO ResNet-50, ``coco-laplace-rle.pth``).
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

import timm
import torch
from torch import nn

from dsta.errors import DataError

BACKBONES = ("regnetx_002", "resnet10t", "resnet18", "resnet34", "resnet50", "resnet101", "hrnet_w32", "hrnet_w48")
log = logging.getLogger(__name__)


def create_backbone(name: str, pretrained: str | None = None) -> nn.Module:
    """A timm backbone whose ``forward`` maps (N, 3, H, W) to its last feature map (N, C, H/32, W/32); ``C`` is
    ``backbone.num_features``. HRNet fuses branches at every scale and needs H and W divisible by 32 (256x192 is);
    ResNets take any size."""
    if name not in BACKBONES:
        raise DataError(None, "model.backbone", f"unknown backbone {name!r}; known: {', '.join(BACKBONES)}")
    if pretrained == "imagenet":
        try:
            return timm.create_model(name, pretrained=True, num_classes=0, global_pool="")
        except Exception as err:  # offline, no cache: keep going from random init
            warnings.warn(f"ImageNet weights for {name} unavailable ({type(err).__name__}); starting from random "
                          f"init. Put them in timm's cache or pass a path.", stacklevel=2)
    model = timm.create_model(name, pretrained=False, num_classes=0, global_pool="")
    if pretrained and pretrained != "imagenet":
        load_backbone_weights(model, pretrained)
    return model


def load_backbone_weights(model: nn.Module, path: str | Path) -> None:
    """Load a timm-layout state dict (classifier keys ignored); a mismatch in the feature layers is an error."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "model.pretrained", "pretrained weights not found")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    # RLE/COCO and released-DSTA checkpoints keep the backbone under "preact."; ours under "backbone."
    for prefix in ("module.", "preact.", "backbone."):
        if any(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    state = {k: v for k, v in state.items() if not k.startswith(("fc.", "classifier.", "head."))}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches
        raise DataError(path, "model.pretrained", str(err).splitlines()[-1].strip()) from None
    if missing:
        raise DataError(path, "model.pretrained", f"{len(missing)} backbone weights missing, e.g. {missing[:3]}")
    if unexpected:
        log.warning("%s: ignored %d keys not in the backbone, e.g. %s", path, len(unexpected), unexpected[:3])
