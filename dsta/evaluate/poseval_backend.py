"""The official poseval package as a second backend (a cross-check; it is not on PyPI).

Stock poseval orders tied scores with numpy's unstable ``argsort`` and takes files in ``glob`` order, so where scores
tie its AP depends on the machine (CPU SIMD path) and the file system; it equals this project's evaluator exactly
where no two scores tie.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dsta.core.errors import DataError
from dsta.evaluate.ap import summary
from dsta.evaluate.read import J15


def evaluate_poseval(gt_dir: str | Path, pred_dir: str | Path) -> dict[str, Any]:
    """Run the official poseval package on the same directories (a cross-check; needs ``poseval`` importable)."""
    try:
        from poseval import eval_helpers, evaluateAP
    except ImportError:
        raise DataError(
            None,
            "--backend",
            "poseval is not installed (it is not on PyPI: install it from its "
            "repository, with click, motmetrics, shapely and tqdm)",
        ) from None
    import tempfile

    gt_frames, pr_frames = eval_helpers.load_data_dir(
        ["", str(gt_dir).rstrip("/") + "/", str(pred_dir).rstrip("/") + "/"]
    )
    with tempfile.TemporaryDirectory() as tmp:
        ap, pre, rec = evaluateAP.evaluateAP(gt_frames, pr_frames, tmp, bSaveAll=False)
    return summary(ap[:J15, 0], pre[:J15, 0], rec[:J15, 0])
