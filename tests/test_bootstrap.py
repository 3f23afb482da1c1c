from pathlib import Path

import numpy as np
import pytest

from dsta.evaluate import compute, voc_ap
from dsta.evaluate.bootstrap import (
    Matched,
    bootstrap_totals,
    interval,
    matched_split,
    paired_margin,
    resample_weights,
    weighted_total,
)
from dsta.evaluate.read import J15


def _one_joint(sequence, score, label, n_gt):
    """Only joint 0 predicted and annotated."""
    n = len(sequence)
    has = np.zeros((n, J15), bool)
    has[:, 0] = True
    scores = np.zeros((n, J15))
    scores[:, 0] = score
    labels = np.zeros((n, J15), bool)
    labels[:, 0] = label
    gt = np.zeros((len(n_gt), J15))
    gt[:, 0] = n_gt
    return Matched(np.asarray(sequence), scores, labels, has, gt)


def test_hand_computed_case():
    # Total is the mean over the 15 joints; the 14 without GT or predictions count 0, as in dsta.evaluate.compute
    # sequence 0: scores .9 (TP) .6 (FP), 2 GT joints; sequence 1: .8 (FP) .7 (TP), 1 GT joint
    m = _one_joint([0, 0, 1, 1], [0.9, 0.6, 0.8, 0.7], [1, 0, 0, 1], [2, 1])
    # all: ranked .9 T, .8 F, .7 T, .6 F; 3 GT: recall 1/3 at precision 1, 2/3 at 2/3 -> AP = 1/3 + 2/9 = 5/9
    assert weighted_total(m, [[1, 1]])[0] == pytest.approx(100 * 5 / 9 / J15)
    # sequence 0 twice: .9 T x2, .6 F x2; 4 GT: recall 2/4 at precision 1 -> AP 1/2
    assert weighted_total(m, [[2, 0]])[0] == pytest.approx(50.0 / J15)
    # sequence 1 three times: .8 F x3, .7 T x3; 3 GT: precision 1/4, 2/5, 3/6 at recalls 1/3..1: the envelope
    # is 1/2 at each -> AP 1/2
    assert weighted_total(m, [[0, 3]])[0] == pytest.approx(50.0 / J15)


def test_weights_equal_repeated_rows():
    """A sequence weighed k equals its rows repeated k times, scored by the evaluator's own voc_ap."""
    rng = np.random.default_rng(0)
    seq = rng.integers(0, 5, 60)
    score = rng.choice([0.2, 0.5, 0.7, 0.9], 60)  # ties on purpose
    label = rng.random(60) < 0.5
    n_gt = np.array([[float(label[seq == s].sum() + rng.integers(0, 3))] for s in range(5)])[:, 0]
    m = _one_joint(seq, score, label, n_gt)
    for w in resample_weights(5, n=20, seed=3):
        rows = np.concatenate([np.repeat(np.flatnonzero(seq == s), int(w[s])) for s in range(5)]).astype(int)
        if not len(rows):
            continue
        # repeated copies sit side by side in the stable order: order the expansion like the weighted rows
        rows = np.sort(rows, kind="stable")
        expected = voc_ap(score[rows], label[rows].astype(np.int8), float(w @ n_gt))[0]
        assert weighted_total(m, w[None])[0] == pytest.approx(expected / J15)


def jittered_predictions(gt: Path, out: Path, seed: int = 1, digits: int = 1) -> Path:
    """GT files as predictions in ``out``: keypoints jittered by 4 px, random joint scores (``digits``: ties)."""
    import json
    import shutil

    shutil.copytree(gt, out)
    rng = np.random.default_rng(seed)
    for f in out.glob("*.json"):
        doc = json.loads(f.read_text())
        for ann in doc["annotations"]:
            k = np.array(ann["keypoints"], float).reshape(-1, 3)
            k[:, :2] += rng.normal(0, 4, (len(k), 2))
            ann["keypoints"] = k.ravel().tolist()
            ann["scores"] = rng.random(len(k)).round(digits).tolist()
        f.write_text(json.dumps(doc))
    return out


def test_unit_weights_give_the_evaluators_total(synthetic_tiny, tmp_path):
    """On a real split, matched once: all-ones weights reproduce dsta.evaluate's Total."""
    from dsta.evaluate import load
    from dsta.evaluate.bootstrap import matched

    gt = synthetic_tiny / "annotations" / "val"
    pred = jittered_predictions(gt, tmp_path / "pred")
    data = load(gt, pred)
    m = matched(data)
    assert m.num_sequences == 2
    assert weighted_total(m, np.ones((1, 2)))[0] == pytest.approx(compute(data)["Total"])


def test_paired_margin_of_a_model_with_itself_is_zero_and_intervals_are_seeded():
    rng = np.random.default_rng(2)
    seq = rng.integers(0, 8, 80)
    a = _one_joint(seq, rng.random(80), rng.random(80) < 0.6, np.full(8, 8.0))
    b = _one_joint(seq, rng.random(80), rng.random(80) < 0.4, np.full(8, 8.0))
    same = paired_margin(a, a, n=200)
    assert same["margin"] == 0 and same["low"] == 0 and same["high"] == 0
    diff = paired_margin(a, b, n=200, seed=5)
    assert diff["low"] <= diff["margin"] <= diff["high"]
    assert diff == paired_margin(a, b, n=200, seed=5)
    totals = bootstrap_totals({"a": a, "b": b}, n=200, seed=5)
    assert interval(totals["a"] - totals["b"]) == (diff["low"], diff["high"])
    with pytest.raises(ValueError):
        bootstrap_totals({"a": a, "c": _one_joint([0], [0.5], [1], [1.0])})


def test_split_subsets_give_the_evaluators_split_totals(synthetic_tiny, tmp_path):
    """The corrupted / clean frames' matched arrays (the claims' interval on corrupted frames): all-ones weights over
    every sequence reproduce dsta.evaluate's split Totals, and both subsets cover the split's sequences."""
    from dsta.evaluate import evaluate, load

    gt = synthetic_tiny / "annotations" / "val"
    pred = jittered_predictions(gt, tmp_path / "pred", seed=2, digits=2)
    split = evaluate(gt, pred, split_by="corrupted")["split"]
    subsets = matched_split(load(gt, pred), "corrupted")
    assert set(subsets) == {k for k in ("true", "false") if split[k] is not None} and subsets
    for key, m in subsets.items():
        assert m.num_sequences == 2
        assert weighted_total(m, np.ones((1, 2)))[0] == pytest.approx(split[key]["Total"])
