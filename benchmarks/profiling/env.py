"""The environment every result carries: device, torch version, dtype, threads, commit."""
from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[2]


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


SOURCE_PATHS = ("dsta", "baselines", "benchmarks/*.py", "reports/build.py", "reports/plots.py", "configs", "pyproject.toml")


def git_commit() -> str | None:
    """The commit of the code, with ``-dirty`` when a source file differs from it (pipeline outputs such as
    dvc.lock and metrics files do not count)."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *SOURCE_PATHS],
                               cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def environment(device: torch.device) -> dict[str, Any]:
    return {"device": device_name(device), "device_type": device.type, "torch": torch.__version__,
            "dtype": "float32", "threads": torch.get_num_threads(), "commit": git_commit(),
            "python": platform.python_version()}
