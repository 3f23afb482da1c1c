"""Average precision per joint, with the one tie-break rule (stable descending sort), and poseval's columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dsta.core import keypoints as kp
from dsta.core.errors import DataError
from dsta.evaluate.match import match_frames
from dsta.evaluate.read import J15, Loaded, load, split_frames, subset


def voc_ap(scores: np.ndarray, labels: np.ndarray, n_pos: float) -> tuple[float, float, float]:
    """AP, final precision and final recall (in %) of one joint; AP is 0 without predictions, NaN without GT.

    ``scores`` and ``labels`` come in poseval's order of appearance; they are ranked by descending score with a
    stable sort, so equal scores keep that order on every machine.
    """
    if len(scores) == 0:
        return 0.0, 0.0, 0.0
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    tp = np.cumsum(labels[order] == 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = 1.0 * tp / n_pos
    precision = 1.0 * tp / np.arange(1, len(tp) + 1)
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    ap = np.sum((mrec[i] - mrec[i - 1]) * mpre[i])
    return float(ap * 100), float(precision[-1] * 100), float(recall[-1] * 100)


def summary(ap: np.ndarray, pre: np.ndarray, rec: np.ndarray) -> dict[str, Any]:
    """Poseval's columns: group means, ``Total`` over the joints that have GT, and the 15 APs."""

    def mean_finite(v: np.ndarray) -> float:
        v = v[~np.isnan(v)]
        return float(v.mean()) if len(v) else float("nan")

    out: dict[str, Any] = {g: float(np.mean(ap[list(idx)])) for g, idx in kp.POSEVAL_GROUP_INDICES.items()}
    out["Total"] = mean_finite(ap)
    out["per_joint"] = [float(v) for v in ap]
    out["precision"] = mean_finite(pre)
    out["recall"] = mean_finite(rec)
    return out


def compute(data: Loaded) -> dict[str, Any]:
    """AP per joint and poseval's columns for aligned data."""
    labels, n_gt = match_frames(data.gt, data.pr, data.n_frames)
    ap, pre, rec = np.zeros(J15), np.zeros(J15), np.zeros(J15)
    # rows are already in poseval's order of appearance: file by name, frame, predicted person
    has, score = data.pr.has, data.pr.score
    for j in range(J15):
        sel = has[:, j]
        ap[j], pre[j], rec[j] = voc_ap(score[sel, j], labels[sel, j].astype(np.int8), n_gt[j])
        if n_gt[j] == 0 and sel.any():
            ap[j], rec[j] = np.nan, np.nan
    return summary(ap, pre, rec)


def evaluate(gt_dir: str | Path, pred_dir: str | Path, split_by: str | None = None) -> dict[str, Any]:
    """PoseTrack AP (poseval semantics, stable tie-break) of the predictions in ``pred_dir`` against ``gt_dir``.

    Args:
        gt_dir: one GT file per sequence (PoseTrack17 annolist or PoseTrack18/21).
        pred_dir: the prediction file of the same name for each (PoseTrack18 with ``scores``, or PoseTrack17).
        split_by: a boolean image field of the GT (e.g. ``corrupted``); the result then also holds
            ``split: {field, true: {...}, false: {...}}`` with the same metrics on each subset of frames.

    Returns:
        ``Head Shou Elb Wri Hip Knee Ankl Total`` (AP in %), ``per_joint`` (15 APs, poseval order), ``precision``
        and ``recall`` (means over joints of the final precision/recall, %), and ``num_frames``.
    """
    data = load(gt_dir, pred_dir)
    result = compute(data)
    result["num_frames"] = data.n_frames
    if split_by:
        values = [fl.get(split_by) for fl in data.flags]
        if all(v is None for v in values):
            raise DataError(gt_dir, f"images[].{split_by}", "no GT image has this boolean field")
        result["split"] = {"field": split_by}
        for name, frames in split_frames(data, split_by).items():
            sub = compute(subset(data, frames)) if len(frames) else None
            if sub is not None:
                sub["num_frames"] = int(len(frames))
            result["split"][name] = sub
    return result
