"""The robustness page, its LaTeX table and figure, from fixture results of the robustness stage."""

import json
from dataclasses import replace

from reporting import robustness as rb
from reporting.results import Experiment, with_robustness


def _exp(key, model, frames):
    cfg = {
        "data": {"name": "synthetic", "input_size": [48, 64], "val_ann": "annotations/val"},
        "model": {
            "name": model,
            "kwargs": {"backbone": "resnet18", "num_frames": frames, "pretrained": "pretrain/rle/backbone.pt"},
        },
        "train": {"seed": 0},
    }
    return Experiment(key, cfg, None, None, None)


def _metrics(frames, key_map, all_map):
    runs = [
        {"corruption": "occlusion", "severity": s, "mode": m, "mAP": v}
        for s in (2, 4)
        for m, v in (("key", key_map - s), ("all", all_map - s))
    ]
    runs += [{"corruption": "blank", "severity": None, "mode": m, "mAP": v} for m, v in (("key", 20.0), ("all", 15.0))]
    return {
        "num_frames": frames,
        "boxes": "boxes/val_detections.json",
        "clean": 40.0,
        "clean_gt_boxes": 45.0,
        "box_prior": {"boxes": 15.0, "gt_boxes": 30.0},
        "runs": runs,
        "mPC": {"key": key_map - 3, "all": all_map - 3},
        "rPC": {"key": (key_map - 3) / 40, "all": (all_map - 3) / 40},
        "temporal_recovery": (key_map - all_map) / 40,
        "temporal_recovery_interval": [0.01, 0.2],
        "blank": {"key": 20.0, "all": 15.0},
        "blank_neighbour_gain": 5.0,
        "blank_neighbour_gain_interval": [1.0, 9.0],
        "grid": {"corruptions": ["occlusion", "blank"], "severities": [2, 4], "modes": ["key", "all"]},
    }


def test_pages_latex_and_figure(tmp_path):
    exps = [_exp("dsta_t3", "dsta", 3), _exp("rle_ft", "rle", 1)]
    folder = tmp_path / "robustness"
    for e, m in zip(exps, (_metrics(3, 35.0, 31.0), _metrics(1, 33.0, 33.0))):
        (folder / e.key).mkdir(parents=True)
        (folder / e.key / "metrics.json").write_text(json.dumps(m))
    exps = with_robustness(exps, folder, tmp_path / "eval", tmp_path / "data")
    written = rb.write(tmp_path / "out", exps, plots=True)
    page = (tmp_path / "out" / "robustness-synthetic.md").read_text()
    # dsta_t3: clean 40 (GT boxes 45), box prior 15 / 30, mPC 32 / 28, recovery +10% of clean [+1, +20]
    assert (
        "| DSTA (dsta_t3) | 3 | detected | 40.0 | 45.0 | 15.0 | 30.0 | 32.0 | 28.0 | 80.0 | 70.0 | "
        "+10.0 [+1.0, +20.0] |"
    ) in page  # the method's name, and the experiment that ran
    assert "| 20.0 | 15.0 | +5.0 [+1.0, +9.0] |" in page
    assert "occlusion 2 key" in page and "figures/synthetic-robustness.png" in page
    tex = (tmp_path / "out" / "latex" / "synthetic-robustness.tex").read_text()
    assert r"\toprule" in tex and "dsta\\_t3" not in tex  # rows are methods, not experiment keys
    assert "DSTA &" in tex and "RLE &" in tex  # the GT-box prior beside the GT-box mAP: one val set, one prior
    assert "is 15.0 with the evaluation's boxes and 30.0 with GT boxes" in tex and "Prior" not in tex
    assert r"\cite{michaelis2019}" in tex and r"\cite{hendrycks2019}" in tex  # mPC and the corruptions, cited
    assert "occlusion at severities 2, 4" in tex  # what mPC averages over
    assert (tmp_path / "out" / "figures" / "synthetic-robustness.png").stat().st_size > 0
    pdf = (tmp_path / "out" / "figures" / "synthetic-robustness.pdf").read_bytes()
    assert b"/FontFile2" in pdf and b"/Type3" not in pdf  # TrueType, as every figure: no Type 3 fonts
    # a dataset without results still gets its page, saying so
    assert "No robustness results" in (tmp_path / "out" / "robustness-posetrack18.md").read_text()
    assert [f.stem for f in written] == ["synthetic-robustness"]  # the figures drawn: one per dataset with results


def test_one_severity_is_drawn_as_points_not_a_severity_axis(monkeypatch, tmp_path):
    """A grid with one severity (the default's) draws the models side by side, the severity in the panel's title,
    no "severity" axis; the box prior is the chance line of every panel."""
    from reporting import plots as pl

    exps = [_exp("dsta_t3", "dsta", 3), _exp("rle_ft", "rle", 1)]
    results = {}
    for e, (key_map, all_map) in zip(exps, ((35.0, 31.0), (33.0, 33.0))):
        m = _metrics(e.num_frames, key_map, all_map)
        m["runs"] = [r for r in m["runs"] if r["severity"] in (None, 4)]
        m["grid"]["severities"] = [4]
        results[e.key] = m
    exps = [replace(e, robustness=results[e.key]) for e in exps]
    figures = []

    def save(fig, path, note=""):
        figures.append(fig)
        return pl.Figure(path, "", note.strip(), fig.get_figwidth())

    monkeypatch.setattr(pl, "_save", save)
    drawn = rb.figure(exps, results, tmp_path / "r.png", "synthetic")
    occlusion = figures[0].axes[0]
    assert occlusion.get_title() == "occlusion, severity 4" and occlusion.get_xlabel() == ""
    assert [t.get_text() for t in occlusion.get_xticklabels()] == ["DSTA T=3", "RLE"]
    assert all(any(list(line.get_ydata()) == [15.0, 15.0] for line in ax.lines) for ax in figures[0].axes)
    # the caption says what this drawing shows: no severity axis, the chance line
    caption = pl.figures_tex([drawn])
    assert "One severity per corruption" in caption and "box prior (15.0)" in caption and "Lines join" not in caption
