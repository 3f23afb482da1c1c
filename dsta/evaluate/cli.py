"""``python -m dsta.evaluate``: the AP table as poseval prints it, and the metrics as JSON."""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from typing import Any

from dsta.core import keypoints as kp
from dsta.core.errors import DataError, main_guard
from dsta.core.io import check_out_file, remove_stale_temps, write_json
from dsta.evaluate.ap import evaluate
from dsta.evaluate.poseval_backend import evaluate_poseval


def format_table(metrics: Mapping[str, Any]) -> str:
    """The AP table as poseval prints it."""
    header = "& " + " & ".join(f"{c:<4}" for c in kp.POSEVAL_COLUMNS) + " \\\\"
    row = (
        "& "
        + " & ".join(f"{metrics[c]:>5.1f}" if metrics[c] is not None else "  nan" for c in kp.POSEVAL_COLUMNS)
        + " \\\\"
    )
    return f"Average Precision (AP) metric:\n{header}\n{row}"


def to_json(metrics: Any) -> Any:
    """NaN -> null, so the metrics are valid JSON."""
    if isinstance(metrics, float):
        return None if math.isnan(metrics) else metrics
    if isinstance(metrics, dict):
        return {k: to_json(v) for k, v in metrics.items()}
    if isinstance(metrics, list):
        return [to_json(v) for v in metrics]
    return metrics


@main_guard
def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description="PoseTrack AP (poseval semantics, stable tie-break).")
    p.add_argument("--gt", required=True, help="directory of GT files, one per sequence")
    p.add_argument("--pred", required=True, help="directory of prediction files with the GT files' names")
    p.add_argument("--out", help="write the metrics JSON here")
    p.add_argument("--split-by", help="also report AP for frames where this boolean image field is true / false")
    p.add_argument(
        "--backend",
        choices=("dsta", "poseval"),
        default="dsta",
        help="'poseval' runs the official package instead (when installed); where scores tie, stock "
        "poseval's AP depends on the machine (numpy's unstable sort) and the file listing order",
    )
    a = p.parse_args(argv)
    if a.out:  # before the work: a file or read-only --out fails now, not after scoring
        remove_stale_temps(check_out_file(a.out).parent)
    if a.backend == "poseval":
        if a.split_by:
            raise DataError(None, "--split-by", "not available with --backend poseval")
        metrics = evaluate_poseval(a.gt, a.pred)
    else:
        metrics = evaluate(a.gt, a.pred, split_by=a.split_by)
    print(format_table(metrics))
    if a.split_by:
        for flag in ("true", "false"):
            sub = metrics["split"][flag]
            print(f"\n{a.split_by}={flag} ({sub['num_frames'] if sub else 0} frames):")
            print(format_table(sub) if sub else "no frames")
    if a.out:
        write_json(a.out, to_json(metrics), indent=2)
    return metrics
