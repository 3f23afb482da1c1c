"""Every model of the project, registered, and the model layer's public face.

Importing this package imports each model file (DSTA here, the baselines in the top-level ``baselines`` package); each
registers its factory in the leaf ``dsta.core.registry``, so ``list_models``, ``create_model`` and ``model_target`` see
them all. Checkpoints describe themselves (``dsta.nn.checkpoint``); ``load_checkpoint(path)`` rebuilds the model from
the file alone.

What every registered model provides (the trainer, predictor and profiler rely on nothing else):

* ``forward(clip)`` with ``clip`` of shape (B, T, 3, H, W), frames in temporal order, key frame in the middle;
* ``num_frames`` (T) and ``num_joints``;
* its per-frame backbone at the submodule path ``backbone_path`` (``"backbone"`` unless the class says otherwise);
  everything else is the "head" in parameter and FLOP splits.

Multi-frame models whose per-frame work does not depend on the other frames also provide
``frame_features(frames)`` ((N, 3, H, W) -> per-frame features) and ``aggregate_frames(features)`` ((B, T, ...) ->
the key frame's output), with ``forward(clip) == aggregate_frames(frame_features(frames))``: streaming inference
caches the per-frame features, so each new frame costs one backbone pass.

Inference runs a model's inference form where it has one (``dsta.models.dsta_fused.fuse_head``: DSTA's head fused into
fewer operator calls where that is measured faster), applied by ``dsta.inference.InferenceOptions.prepare_model`` and
``dsta.streaming.StreamingPose``; the model files hold the paper's path only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

import baselines  # noqa: F401  (registers the baselines)
from dsta.core.errors import DataError
from dsta.core.registry import create_model, list_models, model_target, own_models
from dsta.models import dsta  # noqa: F401  (registers DSTA)
from dsta.nn.checkpoint import load_state, read_checkpoint, read_foreign_state_dict, save_checkpoint, save_converted

__all__ = [
    "backbone_path",
    "create_model",
    "list_models",
    "load_checkpoint",
    "model_target",
    "own_models",
    "read_checkpoint",
    "read_foreign_state_dict",
    "save_checkpoint",
    "save_converted",
]


def backbone_path(model: nn.Module) -> str:
    """The submodule path of a model's per-frame backbone (see the module docstring)."""
    return getattr(model, "backbone_path", "backbone")


def load_checkpoint(path: str | Path, trust: bool = False, **overrides: Any) -> nn.Module:
    """Rebuild the model described by a checkpoint and load its weights (strictly; read safely unless ``trust``,
    ``dsta.nn.checkpoint.load_file``). ``overrides`` replace constructor arguments that do not change the weights (e.g.
    ``pretrained=None``)."""
    ckpt = read_checkpoint(path, trust)
    if not isinstance(ckpt["kwargs"], dict):
        raise DataError(path, "kwargs", f"expected the model's constructor arguments, got {ckpt['kwargs']!r}")
    kwargs = {**ckpt["kwargs"], "pretrained": None, **overrides}
    try:
        model = create_model(ckpt["model"], **kwargs)
    except DataError as err:
        raise DataError(path, err.field, err.message) from None
    except (TypeError, ValueError, AssertionError) as err:  # arguments this model's constructor does not take
        raise DataError(path, "kwargs", f"{ckpt['model']}({kwargs}) cannot be built: {err}") from None
    if not isinstance(ckpt["state_dict"], dict):
        raise DataError(path, "state_dict", f"expected a mapping of tensors, got {type(ckpt['state_dict']).__name__}")
    load_state(path, model, ckpt["state_dict"], f"{ckpt['model']}({ckpt['kwargs']}) of its kwargs")
    return model
