"""The claims table: numbers, paired margins over seeds, spreads and verdicts, computed from fixture results."""

from dataclasses import replace

import pytest

from reporting.claims import ONE_SEED_FLOOR, claims, verdict
from reporting.markdown import claims_table
from reporting.results import Experiment


def _run(
    key: str,
    model: str,
    frames: int,
    seed: int,
    total: float,
    corrupted: float | None = None,
    profile: dict | None = None,
) -> Experiment:
    cfg = {
        "data": {"name": "synthetic", "input_size": [48, 64]},
        "model": {"name": model, "kwargs": {"backbone": "resnet18", "num_frames": frames}},
        "train": {"seed": seed},
    }
    evaluation = {
        "Total": total,
        "split": {
            "field": "corrupted",
            "true": {"Total": corrupted if corrupted is not None else total - 1},
            "false": {"Total": total + 1},
        },
    }
    return Experiment(key, cfg, evaluation, None, profile)


def _profile(clip_head, clip_backbone, streaming=None):
    modes = {"clip": {"gflops": {"total": clip_head + clip_backbone, "head": clip_head, "backbone": clip_backbone}}}
    if streaming is not None:
        modes["streaming"] = {"gflops": {"total": streaming}}
    return {"modes": modes}


def _by_key(rows):
    return {c.key: c for c in rows}


def test_two_seeds_paired_margin_and_spread():
    runs = [
        _run("dsta_t3", "dsta", 3, 0, 40.0, 35.0),
        _run("dsta_t3-s1", "dsta", 3, 1, 44.0, 36.0),
        _run("rle_ft", "rle", 1, 0, 30.0, 34.0),
        _run("rle_ft-s1", "rle", 1, 1, 32.0, 35.0),
    ]
    c = _by_key(claims(runs, {}))
    overall = c["t3_beats_rle"]
    # differences 10 and 12: mean 11, sample std sqrt(2)
    assert overall.margin == pytest.approx(11.0) and overall.spread == pytest.approx(2**0.5)
    assert overall.seeds == 2 and overall.verdict == "holds"
    assert "42.00 ± 2.83" in overall.measured and "31.00 ± 1.41" in overall.measured
    # corrupted: differences 1 and 1 -> spread 0, margin 1 > 0: holds; a difference inside the spread does not
    assert c["t3_beats_rle_corrupted"].margin == pytest.approx(1.0)
    assert c["t3_beats_t1"].verdict == "not measured"


def test_one_seed_uses_the_cross_machine_floor():
    runs = [
        _run("dsta_t1", "dsta", 1, 0, 30.0),
        _run("dsta_t3", "dsta", 3, 0, 31.0),
        _run("dsta_t5", "dsta", 5, 0, 27.0),
        _run("rle_ft", "rle", 1, 0, 20.0),
    ]
    c = _by_key(claims(runs, {}))
    assert c["t3_beats_t1"].spread is None and c["t3_beats_t1"].verdict == "inconclusive"  # +1.0 < floor
    assert c["t5_vs_t3"].verdict == "does not hold"  # -4.0
    assert c["t3_beats_rle"].verdict == "holds"
    table = claims_table(list(c.values()))
    assert f"one seed (floor {ONE_SEED_FLOOR})" in table and "**does not hold**" in table


def test_verdict_rule():
    assert verdict(2.0, 1.0) == "holds" and verdict(-2.0, 1.0) == "does not hold"
    assert verdict(0.5, 1.0) == "inconclusive" and verdict(1.0, None) == "inconclusive"


def test_flop_claims_prefer_paper_size_and_fall_back_to_tiny():
    paper = {"dsta_r50_t3": _profile(0.006, 12.076, streaming=4.029), "rle_r50": _profile(0.0002, 4.026)}
    tiny = [
        _run("dsta_t3", "dsta", 3, 0, 30.0, profile=_profile(0.001, 0.36, streaming=0.121)),
        _run("rle_ft", "rle", 1, 0, 20.0, profile=_profile(0.0, 0.120)),
    ]
    c = _by_key(claims(tiny, paper))
    assert c["head_fraction"].margin == pytest.approx(0.006 / 12.076) and c["head_fraction"].verdict == "holds"
    assert c["streaming_cost"].margin == pytest.approx(4.029 / 4.0262) and c["streaming_cost"].verdict == "holds"
    assert "tiny T=3" in c["streaming_cost"].measured
    c = _by_key(claims(tiny, {}))
    assert c["streaming_cost"].margin == pytest.approx(0.121 / 0.120)
    assert _by_key(claims([], {}))["head_fraction"].verdict == "not measured"


def _matched(seq, score, label, n_gt):
    import numpy as np

    from dsta.evaluate.bootstrap import Matched

    n = len(seq)
    has = np.ones((n, 15), bool)
    return Matched(
        np.asarray(seq),
        np.repeat(np.asarray(score, float)[:, None], 15, 1),
        np.repeat(np.asarray(label, bool)[:, None], 15, 1),
        has,
        np.full((max(seq) + 1, 15), float(n_gt)),
    )


def test_one_seed_verdict_uses_the_bootstrap_interval_and_states_the_box_prior():
    import numpy as np

    rng = np.random.default_rng(0)
    seq = np.repeat(np.arange(12), 10)
    good = _run("dsta_t3", "dsta", 3, 0, 60.0)
    bad = _run("rle_ft", "rle", 1, 0, 20.0)
    good = replace(
        good,
        matched=_matched(seq, rng.random(120), rng.random(120) < 0.9, 10),
        robustness={"box_prior": {"boxes": 15.0, "gt_boxes": 30.0}},
    )
    bad = replace(bad, matched=_matched(seq, rng.random(120), rng.random(120) < 0.2, 10))
    c = _by_key(claims([good, bad], {}))["t3_beats_rle"]
    low, high = c.interval
    assert 0 < low <= high and c.verdict == "holds" and "95% CI" in claims_table([c])
    assert "box prior 15.0 (DSTA T=3 +45.0, RLE +5.0 above it)" in c.measured
    # the same model on both sides: the interval is [0, 0], which is no result
    bad = replace(bad, matched=good.matched)
    assert _by_key(claims([good, bad], {}))["t3_beats_rle"].verdict == "inconclusive"
    assert verdict(5.0, None, (-1.0, 3.0)) == "inconclusive" and verdict(-5.0, None, (-7.0, -1.0)) == "does not hold"


def test_temporal_recovery_claims():
    t3, t1, rle = (
        _run("dsta_t3", "dsta", 3, 0, 40.0),
        _run("dsta_t1", "dsta", 1, 0, 38.0),
        _run("rle_ft", "rle", 1, 0, 37.0),
    )
    t3 = replace(
        t3,
        robustness={
            "temporal_recovery": 0.05,
            "temporal_recovery_interval": [0.02, 0.08],
            "blank_neighbour_gain": 0.5,
            "blank_neighbour_gain_interval": [-0.5, 1.5],
        },
    )
    single = {
        "temporal_recovery": 0.0,
        "temporal_recovery_interval": [0.0, 0.0],
        "blank_neighbour_gain": 0.0,
        "blank_neighbour_gain_interval": [0.0, 0.0],
    }
    t1, rle = replace(t1, robustness=single), replace(rle, robustness=single)
    c = _by_key(claims([t3, t1, rle], {}))
    assert c["t3_recovers_key_frame"].margin == pytest.approx(5.0)
    assert c["t3_recovers_key_frame"].interval == pytest.approx((2.0, 8.0))
    assert c["t3_recovers_key_frame"].verdict == "holds"
    assert c["t3_recovers_blank_key_frame"].verdict == "inconclusive"
    assert _by_key(claims([t1, rle], {}))["t3_recovers_key_frame"].verdict == "not measured"


def test_a_comparison_over_the_seeds_both_sides_have_says_so():
    """The GPU report's case: T=5 has seed 0 only, T=3 seeds 0 and 1: the claim compares seed 0 and says so."""
    runs = [
        _run("dsta_t3", "dsta", 3, 0, 54.26),
        _run("dsta_t3-s1", "dsta", 3, 1, 55.3),
        _run("dsta_t5", "dsta", 5, 0, 54.91),
    ]
    claim = _by_key(claims(runs, {}))["t5_vs_t3"]
    assert claim.seeds == 1 and "T=3 54.26" in claim.measured
    assert "seed 0 only, the seeds both have; seed 1 of one side left out" in claim.measured
    both = _by_key(claims(runs[:2] + [runs[2], _run("dsta_t5-s1", "dsta", 5, 1, 55.0)], {}))["t5_vs_t3"]
    assert "only, the seeds both have" not in both.measured
