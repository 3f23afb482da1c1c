"""Self-describing checkpoints: the file format, free of any model file.

A checkpoint is a dict with ``model`` (registry name), ``kwargs`` (the factory's arguments), ``state_dict``, and,
from training, ``config`` (the resolved params), ``epoch``, ``optimizer``, ``scheduler`` and ``metrics``.
``dsta.models.load_checkpoint(path)`` rebuilds the model from the file alone. The converters of released
checkpoints (``dsta.convert_official``, ``baselines.convert_dcpose``, ``baselines.convert_rle``) write through
``save_converted``, which records the sha256 of the file it converted.

Every checkpoint, ours and the releases', is read by ``load_file``: PyTorch's safe unpickler (``weights_only=True``),
which builds tensors, containers and numbers and never calls a function the file names. ``SAFE_GLOBALS`` allows
the few other types our own training checkpoints hold; the releases need none (their savers, read in the official
code: DCPose's and DSTA's ``engine/defaults/checkpoints.py`` save an epoch, the state dict, the optimizer's state and
a step count; RLE saves a bare state dict). A file that needs anything else is refused, naming what it would have
called, unless the caller passes ``trust=True`` (the commands' ``--trust-checkpoint``), which unpickles it fully.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dsta.core.errors import DataError
from dsta.core.io import CONFIG_DIR, atomic_path, load_yaml, sha256_of
from dsta.core.registry import create_model


def save_checkpoint(path: str | Path, name: str, kwargs: dict, model: nn.Module, **extra: Any) -> None:
    """Write a self-describing checkpoint atomically (temp file, then rename)."""
    model = getattr(model, "module", model)  # unwrap DDP
    ckpt = {"model": name, "kwargs": dict(kwargs), "state_dict": model.state_dict(), **extra}
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)


# The non-tensor types a checkpoint may hold beyond what ``weights_only=True`` builds by itself: numpy's array
# rebuild, for the numpy RNG state (``np.random.get_state()``: a uint32 array) that dsta.train saves so that a resumed
# run draws the same augmentations. No function that acts on the outside world is among them.
SAFE_GLOBALS = [np.zeros(1).__reduce__()[0], np.ndarray, np.dtype, type(np.dtype(np.uint32))]  # [0]: _reconstruct
TRUST_HINT = (
    "if you know where the file comes from and trust it, the commands that read a checkpoint you give them "
    'take --trust-checkpoint (README: "Checkpoints from elsewhere")'
)


def add_trust_argument(parser) -> None:
    """The ``--trust-checkpoint`` flag of every command that reads a checkpoint given to it."""
    parser.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="unpickle the checkpoint fully, as torch.load(weights_only=False) does: only for a file "
        "from a source you trust, which the safe loader refused (it may run code)",
    )


def load_file(path: str | Path, what: str = "checkpoint", trust: bool = False) -> Any:
    """The object a ``torch.save`` file holds, read by the safe unpickler (see the module docstring). A file that
    would call anything else is refused in one line naming it; ``trust=True`` unpickles it fully (it may run code)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, f"{what} not found")
    try:
        if trust:
            return torch.load(path, map_location="cpu", weights_only=False)
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if trust:
            raise DataError(path, None, f"cannot read {what} ({type(err).__name__}: {err})") from None
        try:
            allowed = {f"{g.__module__}.{g.__qualname__}" for g in SAFE_GLOBALS}
            unsafe = [g for g in torch.serialization.get_unsafe_globals_in_checkpoint(path) if g not in allowed]
        except Exception:  # not a zip archive (the legacy format): torch's message names the global
            unsafe = []
        found = ", ".join(unsafe) if unsafe else _unpickler_reason(str(err))
        raise DataError(
            path,
            None,
            f"refused: loading this {what} would call {found}, which a checkpoint of weights "
            f"never needs (it may run code); {TRUST_HINT}",
        ) from None
    except Exception as err:
        raise DataError(path, None, f"cannot read {what} ({type(err).__name__}: {err})") from None


def _unpickler_reason(message: str) -> str:
    """The global torch's refusal names (``Unsupported global: GLOBAL x.y``, ``... but got <class 'x.y'>``), else
    the first line of its message."""
    found = re.search(r"GLOBAL ([\w.]+)", message) or re.search(r"got <class '([^']+)'>", message)
    if found:
        return found.group(1)
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    return lines[0] if lines else message


def read_checkpoint(path: str | Path, trust: bool = False) -> dict:
    ckpt = load_file(path, "checkpoint", trust)
    for key in ("model", "kwargs", "state_dict"):
        if not isinstance(ckpt, dict) or key not in ckpt:
            raise DataError(path, key, "missing: not a dsta-bench checkpoint (convert official ones first)")
    return ckpt


def read_foreign_state_dict(path: str | Path, marker: str, what: str, trust: bool = False) -> dict[str, torch.Tensor]:
    """The state dict of another code base's checkpoint (raw, or under ``state_dict``), checked to be ``what`` by a
    key ending in ``marker``."""
    raw = load_file(path, f"{what} checkpoint", trust)
    state = raw.get("state_dict", raw) if isinstance(raw, dict) else None
    if not isinstance(state, dict) or not any(str(k).endswith(marker) for k in state):
        raise DataError(path, "state_dict", f"not a {what} checkpoint (no {marker})")
    return {str(k).removeprefix("module."): v for k, v in state.items()}


def load_state(path: str | Path, model: nn.Module, state: dict[str, Any], described: str) -> None:
    """``model.load_state_dict(state)`` strictly, where every problem is one line naming ``path``: the first missing or
    unexpected key, or the first tensor whose shape differs (both shapes; ``described`` says what the config built)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        first = f"missing {missing[0]}" if missing else f"unexpected {unexpected[0]}"
        raise DataError(
            path,
            "state_dict",
            f"does not fit {described}: {len(missing)} keys missing, {len(unexpected)} unexpected (first: {first})",
        )
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise DataError(path, f"state_dict.{key}", f"expected a tensor, got {type(value).__name__}")
        if tuple(value.shape) != tuple(own[key].shape):
            n = sum(tuple(v.shape) != tuple(own[k].shape) for k, v in state.items() if isinstance(v, torch.Tensor))
            raise DataError(
                path,
                f"state_dict.{key}",
                f"shape {list(value.shape)} in the checkpoint, but {described} has {list(own[key].shape)} "
                f"({n} tensor{'s' if n > 1 else ''} differ)",
            )
    model.load_state_dict(state, strict=True)


def rename_keys(
    state: dict[str, Any], renames: tuple[tuple[str, str | Callable[[re.Match], str]], ...]
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


def release_config(model_config: str, kwargs: dict, data: str, **data_overrides: Any) -> dict:
    """The ``config`` a converted release carries, so that ``dsta.predict`` and ``dsta.demo`` read it like a trained
    checkpoint: the data section of ``configs/data/DATA.yaml`` (splits, boxes) with the release's own
    ``data_overrides`` (its input size), and the model section of ``configs/model/MODEL_CONFIG.yaml`` (its loss or
    heatmap settings) with the constructor arguments the converter built."""
    paths = {"data": CONFIG_DIR / "data" / f"{data}.yaml", "model": CONFIG_DIR / "model" / f"{model_config}.yaml"}
    if not paths["data"].is_file():
        known = sorted(p.stem for p in paths["data"].parent.glob("*.yaml"))
        raise DataError(paths["data"], "--data", f"no such data config; known: {', '.join(known)}")
    model = load_yaml(paths["model"])
    return {"data": {**load_yaml(paths["data"]), **data_overrides}, "model": {**model, "kwargs": dict(kwargs)}}


def save_converted(
    src: str | Path, dst: str | Path, name: str, kwargs: dict, state: dict[str, torch.Tensor], **extra: Any
) -> None:
    """Build ``name(**kwargs)`` (its model file must have been imported, which registers it), load a renamed foreign
    state dict into it (every key and shape must match) and save it as a dsta-bench checkpoint with the sha256 of
    ``src`` (no release publishes one: this records which file was converted) and ``extra`` (e.g. the ``config`` that
    ``dsta.predict`` reads)."""
    model = create_model(name, **kwargs)
    load_state(src, model, state, f"{name}({kwargs})")
    save_checkpoint(dst, name, kwargs, model, source=str(src), source_sha256=sha256_of(src), **extra)
