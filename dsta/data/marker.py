"""The "not configured" marker: a dataset folder holding ``NOT_CONFIGURED.json`` was not fetched (no source was
set). The fetch stage writes it, prepare passes it on, train and evaluate skip the dataset, the report says why."""

from __future__ import annotations

from pathlib import Path

from dsta.core.io import load_json

NOT_CONFIGURED = "NOT_CONFIGURED.json"


def not_configured(folder: str | Path) -> dict | None:
    """The marker's content when ``folder`` is a dataset that was not fetched, else None."""
    marker = Path(folder) / NOT_CONFIGURED
    return load_json(marker) if marker.is_file() else None
