"""Confidence intervals for mAP and for the margin between two models: a paired bootstrap over val sequences.

Sequences, not frames or people, are the unit resampled: frames of one video are strongly correlated. Each resample
draws as many sequences as the split has, with replacement; every model is scored on the **same** resampled
sequences (paired), so a margin's interval carries only the spread of the val set, not a second, independent one.

It is fast because nothing is re-read or re-matched: a model's predictions are loaded and matched to the GT once
(``Matched``: per predicted person its sequence, joint scores and true-positive labels, and per sequence the number
of GT joints), and a resample only re-weights them. A sequence drawn k times weighs k. AP is computed from the weighted
precision/recall curve, which equals the AP of the data with every row repeated k times: the copies of a row share
its score, and where they are true positives the monotone precision envelope is the same at each of them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dsta.evaluate.match import match_frames
from dsta.evaluate.read import J15, Loaded, load, split_frames, subset


@dataclass
class Matched:
    """One model's predictions on a split, matched once: the arrays every resample re-weights."""

    sequence: np.ndarray  # (N,) the sequence (GT file, name order) of each predicted person
    score: np.ndarray  # (N, 15)
    label: np.ndarray  # (N, 15) bool: true positive
    has: np.ndarray  # (N, 15) bool: the joint is predicted
    n_gt: np.ndarray  # (S, 15) annotated GT joints per sequence

    @property
    def num_sequences(self) -> int:
        return len(self.n_gt)


def matched(data: Loaded) -> Matched:
    """The matched arrays of loaded, aligned data (``dsta.evaluate.load``)."""
    labels, _ = match_frames(data.gt, data.pr, data.n_frames)
    assert data.sequence is not None  # load() sets it, subset() keeps it
    n_seq = int(data.sequence.max()) + 1 if len(data.sequence) else 0
    n_gt = np.zeros((n_seq, J15))
    np.add.at(n_gt, data.sequence[data.gt.frame], data.gt.has.astype(np.float64))
    return Matched(data.sequence[data.pr.frame], data.pr.score, labels, data.pr.has, n_gt)


def matched_split(data: Loaded, field: str) -> dict[str, Matched]:
    """``matched`` on the frames whose GT image has ``field`` true (``"true"``) and false (``"false"``), the split of
    ``evaluate(..., split_by=field)``; each keeps every sequence of ``data`` (those without such frames count 0 GT
    joints), so two models' subsets on the same GT resample the same sequences."""
    out = {}
    for name, frames in split_frames(data, field).items():
        if len(frames):
            m = matched(subset(data, frames))
            assert data.sequence is not None  # subset() copied it into the data matched() just took
            n_gt = np.zeros((int(data.sequence.max()) + 1 if len(data.sequence) else 0, J15))
            n_gt[: len(m.n_gt)] = m.n_gt
            out[name] = Matched(m.sequence, m.score, m.label, m.has, n_gt)
    return out


def load_matched(gt_dir: str | Path, pred_dir: str | Path) -> Matched:
    return matched(load(gt_dir, pred_dir))


def weighted_total(m: Matched, weights: np.ndarray) -> np.ndarray:
    """``Total`` (mean AP over joints, %) for each row of ``weights`` (B, S): sequence s counted weights[b, s] times.
    A row of ones gives ``dsta.evaluate.compute``'s Total."""
    weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    ap = np.zeros((len(weights), J15))
    for j in range(J15):
        rows = np.flatnonzero(m.has[:, j])
        order = rows[np.argsort(-m.score[rows, j].astype(np.float64), kind="stable")]
        w = weights[:, m.sequence[order]]  # (B, n)
        hit = w * m.label[order, j]
        tp, count = np.cumsum(hit, 1), np.cumsum(w, 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = np.where(count > 0, tp / count, 0.0)
        envelope = np.maximum.accumulate(precision[:, ::-1], 1)[:, ::-1]
        n_pos = weights @ m.n_gt[:, j]
        with np.errstate(divide="ignore", invalid="ignore"):
            ap[:, j] = 100.0 * (hit * envelope).sum(1) / n_pos
        predicted = w.sum(1) > 0
        ap[~predicted, j] = 0.0  # no predictions: AP 0, as voc_ap
        ap[predicted & (n_pos == 0), j] = np.nan  # no GT: left out of Total, as compute
    with warnings.catch_warnings():  # a resample without any GT joint: NaN, silently
        warnings.simplefilter("ignore", RuntimeWarning)
        total: np.ndarray = np.nanmean(ap, 1)
        return total


def resample_weights(num_sequences: int, n: int = 1000, seed: int = 0) -> np.ndarray:
    """(n, S) counts: how often each sequence is drawn in each resample (S draws with replacement)."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, num_sequences, size=(n, num_sequences))
    return np.stack([np.bincount(d, minlength=num_sequences) for d in draws]).astype(np.float64)


def bootstrap_totals(
    models: dict[str, Matched], n: int = 1000, seed: int = 0, chunk: int = 100
) -> dict[str, np.ndarray]:
    """Each model's Total on the same ``n`` resamples of the sequences (paired)."""
    sizes = {m.num_sequences for m in models.values()}
    if len(sizes) != 1:
        raise ValueError(f"models scored on different splits ({sorted(sizes)} sequences)")
    weights = resample_weights(sizes.pop(), n, seed)
    return {
        name: np.concatenate([weighted_total(m, weights[i : i + chunk]) for i in range(0, n, chunk)])
        for name, m in models.items()
    }


def interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval of bootstrap values."""
    tail = (1.0 - level) / 2 * 100
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]  # a resample where a ratio is undefined (no clean mAP) is left out
    if not len(values):
        return float("nan"), float("nan")
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))


def paired_margin(a: Matched, b: Matched, n: int = 1000, seed: int = 0, level: float = 0.95) -> dict[str, Any]:
    """Total(a) - Total(b) on the full split and its paired-bootstrap interval."""
    totals = bootstrap_totals({"a": a, "b": b}, n, seed)
    ones = np.ones((1, a.num_sequences))
    margin = float(weighted_total(a, ones)[0] - weighted_total(b, ones)[0])
    low, high = interval(totals["a"] - totals["b"], level)
    return {"margin": margin, "low": low, "high": high, "resamples": n, "level": level, "seed": seed}
