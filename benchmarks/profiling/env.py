"""The environment every result carries: device, torch version, dtype, threads, commit."""

from __future__ import annotations

import platform
from typing import Any

import torch

from dsta.core.provenance import cpu_model, git_commit
from dsta.inference import DTYPES, InferenceOptions


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()


def environment(device: torch.device, options: InferenceOptions | None = None) -> dict[str, Any]:
    """``dtype`` is the compute dtype of inference (autocast; weights stay float32); ``options`` all four flags."""
    options = options or InferenceOptions()
    return {
        "device": device_name(device),
        "device_type": device.type,
        "torch": torch.__version__,
        "dtype": str(DTYPES[options.dtype]).removeprefix("torch."),
        "options": options.as_dict(),
        "threads": torch.get_num_threads(),
        "commit": git_commit(),
        "python": platform.python_version(),
    }
