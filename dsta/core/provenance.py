"""Which code, machine and config produced a number. Torch-free, so the stages, the profiler and the report share it.

Every stage output carries a ``provenance`` block (``provenance(seed, config)``): the commit and whether the source
tree was dirty, the machine (CPU model, GPU name when CUDA is in use), torch and Python versions, the seed, a hash of
the experiment's resolved config and the UTC time. The report footnotes each number with the block of the file the
number came from (``describe``), so a number is never credited to another run's commit or machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
# pipeline outputs (dvc.lock, metrics, benchmarks/results.json, reports/*.md) do not make the code dirty; in git
# pathspecs ``*`` also matches ``/``, so ``benchmarks/*.py`` takes benchmarks/profiling/ too
SOURCE_PATHS = ("dsta", "baselines", "benchmarks/*.py", "reports/*.py", "configs", "pyproject.toml")


COMMIT_ENV = "DSTA_BENCH_COMMIT"


def git_state() -> tuple[str | None, bool | None]:
    """The short commit of the code and whether a source file differs from it; (None, None) outside git.

    ``DSTA_BENCH_COMMIT`` overrides it (dirty: unknown) for a copy of the checkout whose ``.git`` is missing or stale,
    as on a device machine that receives the working tree only: the GPU scripts set it from ``COMMIT``."""
    if os.environ.get(COMMIT_ENV):
        return os.environ[COMMIT_ENV], None
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", *SOURCE_PATHS],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return sha, bool(dirty)
    except (OSError, subprocess.CalledProcessError):
        return None, None


def git_commit() -> str | None:
    """The short commit of the code, with ``-dirty`` when a source file differs from it; None outside git."""
    sha, dirty = git_state()
    return None if sha is None else sha + ("-dirty" if dirty else "")


def cpu_model() -> str:
    """The CPU model from /proc/cpuinfo (else what ``platform`` knows) and the logical CPU count."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name} ({os.cpu_count()} logical CPUs)"


def gpu_name() -> str | None:
    """The CUDA device's name when the caller has imported torch and CUDA is available (never imports torch)."""
    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_available():
            name: str = torch.cuda.get_device_name(torch.cuda.current_device())
            return name
    except Exception:  # a broken driver must not cost the run its metrics
        return None
    return None


def torch_version() -> str | None:
    torch = sys.modules.get("torch")
    if torch is not None:
        loaded: str = torch.__version__  # a str subclass (torch.torch_version.TorchVersion)
        return loaded
    try:
        from importlib.metadata import version

        return version("torch")
    except Exception:
        return None


def config_hash(config: Any) -> str | None:
    """The first 12 hex digits of the SHA-256 of the config as canonical JSON (sorted keys)."""
    if config is None:
        return None
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def provenance(seed: int | None = None, config: Any = None) -> dict[str, Any]:
    """The block a stage writes beside its numbers."""
    sha, dirty = git_state()
    return {
        "commit": sha,
        "dirty": dirty,
        "machine": {"cpu": cpu_model(), "gpu": gpu_name()},
        "torch": torch_version(),
        "python": platform.python_version(),
        "seed": seed,
        "config_hash": config_hash(config),
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def machine_name(prov: dict[str, Any] | None) -> str | None:
    """The device that made the numbers: the GPU when there was one, else the CPU."""
    m = (prov or {}).get("machine") or {}
    return m.get("gpu") or m.get("cpu")


def commit_name(prov: dict[str, Any] | None) -> str | None:
    """``abc1234`` or ``abc1234 (dirty tree)``; None when unknown."""
    sha: str | None = (prov or {}).get("commit")
    if not sha:
        return None
    return sha + (" (dirty tree)" if (prov or {}).get("dirty") else "")


def describe(prov: dict[str, Any] | None) -> str:
    """One line for a footnote: commit, machine, torch."""
    if not prov:
        return "provenance not recorded"
    if prov.get("recorded") is False:
        stored = prov.get("stored_in")
        return "commit and machine not recorded (an output older than provenance blocks" + (
            f"; git last stored it in {stored})" if stored else ")"
        )
    parts = [f"commit {commit_name(prov) or 'unknown'}", f"on {machine_name(prov) or 'unknown machine'}"]
    if prov.get("torch"):
        parts.append(f"torch {prov['torch']}")
    if prov.get("weights_sha256"):  # a converted release, evaluated here
        parts.append(f"weights sha256 {prov['weights_sha256'][:16]}")
    return ", ".join(parts)


def last_commit(path: str | Path) -> str | None:
    """The commit that last changed ``path`` in git (for an output written before provenance blocks existed)."""
    try:
        out = subprocess.run(
            ["git", "log", "-1", "--format=%h", "--", str(path)], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        return out or None
    except (OSError, subprocess.CalledProcessError):
        return None


def legacy(path: str | Path) -> dict[str, Any]:
    """The provenance of an output that records none: what git knows (the commit that last stored the file)."""
    return {"commit": None, "dirty": None, "machine": {}, "recorded": False, "stored_in": last_commit(path)}


def from_env(env: dict[str, Any]) -> dict[str, Any]:
    """A provenance block from a profile's older ``env`` record (commit with ``-dirty``, device, torch)."""
    commit = env.get("commit") or ""
    return {
        "commit": commit.removesuffix("-dirty") or None,
        "dirty": commit.endswith("-dirty") if commit else None,
        "machine": {"cpu" if env.get("device_type", "cpu") == "cpu" else "gpu": env.get("device")},
        "torch": env.get("torch"),
        "python": env.get("python"),
    }
