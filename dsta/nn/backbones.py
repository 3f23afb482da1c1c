"""Backbones from timm: the classification trunk's final feature map, or HRNet's pose trunk.

``pretrained`` may be ``None`` (random init), ``"imagenet"`` (timm's weights from its cache or the hub; when neither
can be reached that is an error, never a silent random init: a paper run on an offline GPU machine would otherwise
train from scratch), or a path to a checkpoint: a state dict in timm's key layout (an ImageNet checkpoint or the
official HRNet pose checkpoints, whose keys are timm's), or an RLE/COCO or released-DSTA checkpoint, whose backbone
sits under ``preact.`` (the paper initialises DSTA from RLE's COCO ResNet-50, ``coco-laplace-rle.pth``).

``create_hrnet_pose`` builds the HRNet of the pose papers (Sun et al., CVPR 2019; leoxiaobin/deep-high-resolution-net
``lib/models/pose_hrnet.py``, the same file as DCPose's ``posetimation/zoo/backbones/hrnet.py``): the stride-4 branch
of the last stage, whose last module is built with ``multi_scale_output=False``. timm's HRNet is the classification
network, which builds the last module's fuse outputs for the three lower resolutions as well; for HRNet-W48 those are
1,730,208 parameters (``stage4[-1].fuse_layers[1:]``) that a pose network never uses. They are removed here, so the
trunk is the official pose trunk module by module and key by key: HRNet-W48 63,594,912 parameters (with the 1x1
17-joint head 63,595,745, the HRNet paper's 63.6 M), HRNet-W32 28,535,552 (28.5 M).
"""

from __future__ import annotations

import logging
from pathlib import Path

import timm
import torch
from torch import nn

from dsta.core.configs import BACKBONES  # the one list: compose-time checks read it too
from dsta.core.errors import DataError

log = logging.getLogger(__name__)


def _check_name(name: str) -> None:
    if name not in BACKBONES:
        raise DataError(None, "model.backbone", f"unknown backbone {name!r}; known: {', '.join(BACKBONES)}")


def _imagenet(name: str, **kwargs) -> nn.Module:
    """timm's ImageNet weights; unreachable weights are an error naming where to put them."""
    try:
        return timm.create_model(name, pretrained=True, **kwargs)
    except Exception as err:  # offline and not cached: timm raises OSError, HTTP or hub errors
        raise DataError(
            None,
            "model.pretrained",
            f"ImageNet weights for {name} unavailable ({type(err).__name__}: {str(err)[:120]}); put them "
            f"in timm's cache (HF_HOME) or download them once and pass the file as model.kwargs."
            f"pretrained (see configs/weights)",
        ) from None


def create_backbone(name: str, pretrained: str | None = None) -> nn.Module:
    """A timm backbone whose ``forward`` maps (N, 3, H, W) to its last feature map (N, C, H/32, W/32); ``C`` is
    ``backbone.num_features``. HRNet fuses branches at every scale and needs H and W divisible by 32 (256x192 is);
    ResNets take any size."""
    _check_name(name)
    if pretrained == "imagenet":
        return _imagenet(name, num_classes=0, global_pool="")
    model = timm.create_model(name, pretrained=False, num_classes=0, global_pool="")
    if pretrained:
        load_backbone_weights(model, pretrained)
    return model


def create_hrnet_pose(name: str, pretrained: str | None = None) -> nn.Module:
    """HRNet's pose trunk: (N, 3, H, W) -> ``[stride-4 features (N, C, H/4, W/4)]`` (a one-element list, as timm's
    feature models return); ``feature_info.channels()[0]`` is C (32 or 48). The last stage keeps only the
    highest-resolution fuse output (``multi_scale_output=False`` in the official pose HRNet)."""
    _check_name(name)
    if not name.startswith("hrnet"):
        raise DataError(None, "model.backbone", f"{name!r} is not an HRNet")
    kwargs = dict(features_only=True, feature_location="", out_indices=(1,))
    model = (
        _imagenet(name, **kwargs) if pretrained == "imagenet" else timm.create_model(name, pretrained=False, **kwargs)
    )
    last = model.stage4[-1]
    last.fuse_layers = nn.ModuleList(list(last.fuse_layers)[:1])  # the pose HRNet's multi_scale_output=False
    if pretrained and pretrained != "imagenet":
        load_backbone_weights(model, pretrained)
    return model


def read_state_dict(path: str | Path, field: str = "model.pretrained") -> dict[str, torch.Tensor]:
    """A checkpoint's state dict (``state_dict`` unwrapped); a missing file is an error naming it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            path,
            field,
            "pretrained weights not found (see configs/weights for where each file comes "
            "from; `python -m dsta.fetch --weights NAME` fetches and verifies it)",
        )
    try:  # PyTorch's safe unpickler, as dsta.nn.checkpoint reads checkpoints: a weights file never needs more
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise DataError(
            path,
            field,
            f"cannot read these weights safely ({type(err).__name__}: "
            f"{str(err).strip().splitlines()[0] if str(err).strip() else ''}); convert or "
            f"re-save the file as a plain state dict",
        ) from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise DataError(path, field, f"expected a state dict, got {type(state).__name__}")
    return state


def load_backbone_weights(model: nn.Module, path: str | Path) -> None:
    """Load a timm-layout state dict (classifier keys ignored); a mismatch in the feature layers is an error."""
    state = read_state_dict(path)
    # RLE/COCO and released-DSTA checkpoints keep the backbone under "preact."; ours under "backbone."
    for prefix in ("module.", "preact.", "backbone."):
        if any(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    state = {k: v for k, v in state.items() if not k.startswith(("fc.", "classifier.", "head.", "final_layer."))}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches
        raise DataError(path, "model.pretrained", str(err).splitlines()[-1].strip()) from None
    if missing:
        raise DataError(path, "model.pretrained", f"{len(missing)} backbone weights missing, e.g. {missing[:3]}")
    if unexpected:
        log.warning("%s: ignored %d keys not in the backbone, e.g. %s", path, len(unexpected), unexpected[:3])
