"""Which code produced a number: the git commit, marked dirty when a source file differs from it. Torch-free, so the
profiler and the report stage share it."""
from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# pipeline outputs (dvc.lock, metrics, benchmarks/results.json, reports/*.md) do not make the code dirty; in git
# pathspecs ``*`` also matches ``/``, so ``benchmarks/*.py`` takes benchmarks/profiling/ too
SOURCE_PATHS = ("dsta", "baselines", "benchmarks/*.py", "reports/*.py", "configs", "pyproject.toml")


def git_commit() -> str | None:
    """The short commit of the code, with ``-dirty`` when a source file differs from it; None outside git."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *SOURCE_PATHS],
                               cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None
