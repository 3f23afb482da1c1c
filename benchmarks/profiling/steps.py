"""The two ways of making one key-frame prediction, as ``nn.Module`` steps that fvcore can trace and timing can call.

**clip**: the T frames go through the backbone for each prediction. **streaming**: the tokens of the T - 1 earlier
frames are cached, so a new frame costs one backbone pass plus the aggregation over T frames (what
``dsta.streaming.StreamingPose`` does per frame). Single-frame models have only the clip mode. **features** (asked for
by name, never part of a model's report rows): the streaming step without its aggregation, the new frame's features
and the clip's assembly only, so that a side-by-side run splits streaming's cost into features and head.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def _plain(out: Any) -> Any:
    """Model outputs as tensors (tracing and timing do not need the dataclass)."""
    return (out.coords, out.sigma) if hasattr(out, "coords") else out


class ClipStep(nn.Module):
    """One prediction from a whole clip: T backbone passes."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, clip: torch.Tensor) -> Any:
        return _plain(self.model(clip))


class StreamingStep(nn.Module):
    """One prediction when the features of the T - 1 earlier frames are cached: one backbone pass for the new frame,
    then the aggregation over T frames."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, frame: torch.Tensor, cached: torch.Tensor) -> Any:
        new = self.model.frame_features(frame).unsqueeze(1)
        return _plain(self.model.aggregate_frames(torch.cat([cached, new], dim=1)))


class FeaturesStep(nn.Module):
    """The streaming step without the aggregation: the new frame's features joined to the cached ones."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, frame: torch.Tensor, cached: torch.Tensor) -> Any:
        return torch.cat([cached, self.model.frame_features(frame).unsqueeze(1)], dim=1)


STEPS = {"clip": ClipStep, "streaming": StreamingStep, "features": FeaturesStep}


def supports_streaming(model: nn.Module) -> bool:
    return model.num_frames > 1 and hasattr(model, "frame_features") and hasattr(model, "aggregate_frames")


def step_inputs(
    model: nn.Module, mode: str, batch: int, input_size: tuple[int, int], device: torch.device
) -> tuple[torch.Tensor, ...]:
    w, h = input_size
    gen = torch.Generator().manual_seed(0)
    if mode == "clip":
        return (torch.randn(batch, model.num_frames, 3, h, w, generator=gen).to(device),)
    frame = torch.randn(batch, 3, h, w, generator=gen).to(device)
    with torch.no_grad():
        feat = model.frame_features(frame)
    cached = feat.unsqueeze(1).expand(batch, model.num_frames - 1, *feat.shape[1:]).contiguous()
    return frame, cached


def make_step(model: nn.Module, mode: str) -> nn.Module:
    return STEPS[mode](model)


def modes(model: nn.Module, breakdown: bool = False) -> list[str]:
    """The prediction modes of ``model`` (with ``breakdown``, also ``features`` where it streams)."""
    streams = ["streaming", "features"] if breakdown else ["streaming"]
    return ["clip", *streams] if supports_streaming(model) else ["clip"]
