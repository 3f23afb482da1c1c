"""The model registry (a name maps to a factory function) and self-describing checkpoints.

A checkpoint is a dict with ``model`` (registry name), ``kwargs`` (the factory's arguments), ``state_dict``, and,
from training, ``config`` (the resolved params), ``epoch``, ``optimizer``, ``scheduler`` and ``metrics``.
``load_checkpoint(path)`` rebuilds the model from the file alone.

What every registered model provides (the trainer, predictor and profiler rely on nothing else):

* ``forward(clip)`` with ``clip`` of shape (B, T, 3, H, W), frames in temporal order, key frame in the middle;
* ``num_frames`` (T) and ``num_joints``;
* its per-frame backbone at the submodule path ``backbone_path`` (``"backbone"`` unless the class says otherwise);
  everything else is the "head" in parameter and FLOP splits.

Multi-frame models whose per-frame work does not depend on the other frames also provide
``frame_features(frames)`` ((N, 3, H, W) -> per-frame features) and ``aggregate_frames(features)`` ((B, T, ...) ->
the key frame's output), with ``forward(clip) == aggregate_frames(frame_features(frames))``: streaming inference
caches the per-frame features, so each new frame costs one backbone pass.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from dsta.errors import DataError
from dsta.io import atomic_path

MODELS: dict[str, Callable[..., nn.Module]] = {}
# how each model is trained and decoded: "regression" (coords + sigma, RLE loss) or "heatmap"
MODEL_TARGETS: dict[str, str] = {}


def register_model(target: str) -> Callable:
    """Register a factory under its function name."""

    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        MODELS[fn.__name__] = fn
        MODEL_TARGETS[fn.__name__] = target
        return fn

    return wrap


def _import_all() -> None:
    import baselines  # noqa: F401  (importing the package registers the baseline models)


def list_models() -> list[str]:
    _import_all()
    return sorted(MODELS)


def create_model(name: str, **kwargs: Any) -> nn.Module:
    _import_all()
    if name not in MODELS:
        raise DataError(None, "model.name", f"unknown model {name!r}; registered: {', '.join(sorted(MODELS))}")
    return MODELS[name](**kwargs)


def model_target(name: str) -> str:
    _import_all()
    return MODEL_TARGETS[name]


@register_model("regression")
def dsta(**kwargs: Any) -> nn.Module:
    """DSTA (He & Yang, CVPR 2024); see ``dsta.models.dsta.DSTA`` for the arguments."""
    from dsta.models.dsta import DSTA

    return DSTA(**kwargs)


def save_checkpoint(path: str | Path, name: str, kwargs: dict, model: nn.Module, **extra: Any) -> None:
    """Write a self-describing checkpoint atomically (temp file, then rename)."""
    model = getattr(model, "module", model)  # unwrap DDP
    ckpt = {"model": name, "kwargs": dict(kwargs), "state_dict": model.state_dict(), **extra}
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)


def read_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, "checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise DataError(path, None, f"cannot read checkpoint ({type(err).__name__}: {err})") from None
    for key in ("model", "kwargs", "state_dict"):
        if not isinstance(ckpt, dict) or key not in ckpt:
            raise DataError(path, key, "missing: not a dsta-bench checkpoint (convert official ones first)")
    return ckpt


def read_foreign_state_dict(path: str | Path, marker: str, what: str) -> dict[str, torch.Tensor]:
    """The state dict of another code base's checkpoint (raw, or under ``state_dict``), checked to be ``what`` by a
    key ending in ``marker``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, f"{what} checkpoint not found")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise DataError(path, None, f"cannot read checkpoint ({type(err).__name__}: {err})") from None
    state = raw.get("state_dict", raw) if isinstance(raw, dict) else None
    if not isinstance(state, dict) or not any(str(k).endswith(marker) for k in state):
        raise DataError(path, "state_dict", f"not a {what} checkpoint (no {marker})")
    return {str(k).removeprefix("module."): v for k, v in state.items()}


def save_converted(src: str | Path, dst: str | Path, name: str, kwargs: dict, state: dict[str, torch.Tensor]) -> None:
    """Build ``name(**kwargs)``, load a renamed foreign state dict into it (every key must match) and save it as a
    dsta-bench checkpoint."""
    model = create_model(name, **kwargs)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise DataError(src, "state_dict", f"layout differs from {name}({kwargs}): missing {missing[:4]}, "
                                           f"unexpected {unexpected[:4]}")
    save_checkpoint(dst, name, kwargs, model, source=str(src))


def load_checkpoint(path: str | Path, **overrides: Any) -> nn.Module:
    """Rebuild the model described by a checkpoint and load its weights (strictly). ``overrides`` replace
    constructor arguments that do not change the weights (e.g. ``pretrained=None``)."""
    ckpt = read_checkpoint(path)
    kwargs = {**ckpt["kwargs"], "pretrained": None, **overrides}
    model = create_model(ckpt["model"], **kwargs)
    model.load_state_dict(ckpt["state_dict"], strict=True)
    return model
