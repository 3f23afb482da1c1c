"""Self-describing checkpoints: the file format, free of any model file.

A checkpoint is a dict with ``model`` (registry name), ``kwargs`` (the factory's arguments), ``state_dict``, and,
from training, ``config`` (the resolved params), ``epoch``, ``optimizer``, ``scheduler`` and ``metrics``.
``dsta.models.load_checkpoint(path)`` rebuilds the model from the file alone. The converters of released
checkpoints (``dsta.convert_official``, ``baselines.convert_rle``) write through ``save_converted``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from dsta.errors import DataError
from dsta.io import atomic_path
from dsta.registry import create_model


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


def rename_keys(state: dict[str, Any], renames: tuple[tuple[str, str | Callable[[re.Match], str]], ...]
                ) -> dict[str, Any]:
    """``state`` with each key renamed by the first ``(pattern, replacement)`` of ``renames`` that matches it (a
    ``re.sub`` replacement: a template or a function of the match); a key no pattern matches keeps its name."""
    out = {}
    for key, value in state.items():
        for pattern, repl in renames:
            key, n = re.subn(pattern, repl, key)
            if n:
                break
        out[key] = value
    return out


def save_converted(src: str | Path, dst: str | Path, name: str, kwargs: dict, state: dict[str, torch.Tensor],
                   **extra: Any) -> None:
    """Build ``name(**kwargs)`` (its model file must have been imported, which registers it), load a renamed foreign
    state dict into it (every key must match) and save it as a dsta-bench checkpoint (with ``extra``, e.g. the
    ``config`` that ``dsta.predict`` reads)."""
    model = create_model(name, **kwargs)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise DataError(src, "state_dict", f"layout differs from {name}({kwargs}): missing {missing[:4]}, "
                                           f"unexpected {unexpected[:4]}")
    save_checkpoint(dst, name, kwargs, model, source=str(src), **extra)
