"""The environment every result carries: device, torch version, dtype, threads, commit."""
from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import torch

from dsta.inference import DTYPES, InferenceOptions
from dsta.provenance import git_commit


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name} ({os.cpu_count()} logical CPUs)"


def environment(device: torch.device, options: InferenceOptions | None = None) -> dict[str, Any]:
    """``dtype`` is the compute dtype of inference (autocast; weights stay float32); ``options`` all four flags."""
    options = options or InferenceOptions()
    return {"device": device_name(device), "device_type": device.type, "torch": torch.__version__,
            "dtype": str(DTYPES[options.dtype]).removeprefix("torch."), "options": options.as_dict(),
            "threads": torch.get_num_threads(), "commit": git_commit(), "python": platform.python_version()}
