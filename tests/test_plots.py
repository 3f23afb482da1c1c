"""The report's figures on tiny fixtures: every figure is a vector PDF plus a 300-dpi PNG of a journal column width,
per-group AP reads the paper's groups, direct labels do not collide, the qualitative grid has no empty band."""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dsta.core import keypoints as kp
from reporting import plots as pl

GROUPS = list(kp.POSEVAL_GROUPS)


@dataclass
class Exp:
    """The part of ``reporting.build.Experiment`` the figures read."""

    key: str
    model: str
    num_frames: int
    evaluation: dict | None = None
    training: dict | None = None
    profile: dict | None = None
    kind: str = "regression"
    backbone: str = "resnet18"
    pretrained: str | None = "imagenet"

    @property
    def kwargs(self) -> dict:
        return {"backbone": self.backbone, "num_frames": self.num_frames, "pretrained": self.pretrained}

    @property
    def config(self) -> dict:
        return {
            "data": {"name": "synthetic", "val_ann": "annotations/val", "image_root": ".", "boxes": "gt"},
            "model": {"name": self.model, "kwargs": self.kwargs},
        }

    def method(self) -> str:
        return {"dsta": "DSTA", "rle": "RLE", "heatmap_single": "SimpleBaseline", "dcpose": "DCPose"}[self.model]


def _profile(gflops, streaming=None, params=11.5e6):
    def mode(g):
        return {
            "gflops": {"total": g, "backbone": 0.9 * g, "head": 0.1 * g},
            "throughput": {"fps": 100 / g, "batch": 32},
            "memory_forward": {"peak_mib": 50.0, "batch": 1},
        }

    modes = {"clip": mode(gflops)} | ({"streaming": mode(streaming)} if streaming else {})
    return {
        "params": {"total": params},
        "modes": modes,
        "memory_train_step": {"peak_mib": 200.0, "batch": 8},
        "env": {"device": "Test CPU", "device_type": "cpu", "torch": "2.15.0", "threads": 2},
    }


def _evaluation(total):
    return {**{g: total + i for i, g in enumerate(GROUPS)}, "Total": total, "per_joint": [total] * 15, "boxes": "gt"}


def _history(final):
    return {
        "history": [{"epoch": -1, "val_mAP": 0.0}]
        + [{"epoch": e, "loss": 1.0 / (e + 1), "val_mAP": final * (e + 1) / 3} for e in range(3)]
    }


@pytest.fixture
def experiments():
    # the synthetic default's shape: four models at ~0.12 GFLOPs, two of them within 0.5 mAP of each other
    out = [
        Exp("dsta_t1", "dsta", 1, _evaluation(13.2), _history(13.2), _profile(0.1206)),
        Exp("dsta_t3", "dsta", 3, _evaluation(15.4), _history(15.4), _profile(0.361, 0.1212)),
        Exp("dsta_t5", "dsta", 5, _evaluation(12.7), _history(12.7), _profile(0.602, 0.1218)),
        Exp("rle", "rle", 1, _evaluation(23.2), _history(23.2), _profile(0.1198)),
        Exp("heatmap_single", "heatmap_single", 1, _evaluation(31.8), _history(31.8), _profile(0.1274), kind="heatmap"),
        Exp("dcpose", "dcpose", 3, _evaluation(30.6), _history(30.6), _profile(0.492, 0.237), kind="heatmap"),
    ]
    for e in out[4:]:  # heatmap MSE: small numbers
        for h in e.training["history"][1:]:
            h["loss"] *= 6e-3
    return out


def _check_outputs(png: Path, width_in: float) -> None:
    """Both files exist; the PNG is 300 dpi and exactly the declared width; the PDF is vector with embedded fonts."""
    pdf = png.with_suffix(".pdf")
    assert png.is_file() and pdf.is_file()
    with Image.open(png) as im:
        assert im.info["dpi"] == pytest.approx((pl.DPI, pl.DPI), abs=0.01)
        assert im.size[0] == round(width_in * pl.DPI)
        assert im.size[1] <= round(9.0 * pl.DPI)  # fits a page
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and b"/FontFile2" in data  # TrueType embedded: text stays text
    assert b"/CreationDate" not in data  # reproducible bytes


@pytest.mark.parametrize(
    "name, draw, width",
    [
        ("map", lambda ex, p: pl.map_vs_gflops(ex, p, "synthetic, val"), pl.COLUMN_WIDTH),
        ("groups", lambda ex, p: pl.per_joint_bars(ex, p, "synthetic, val"), pl.TEXT_WIDTH),
        ("fps", lambda ex, p: pl.fps_memory_bars(ex, p, "synthetic, val"), pl.TEXT_WIDTH),
        ("training", lambda ex, p: pl.training_curves(ex, p, "synthetic, val"), pl.COLUMN_WIDTH),
    ],
)
def test_experiment_figure_is_pdf_and_300dpi_png_of_column_width(experiments, tmp_path, name, draw, width):
    draw(experiments, tmp_path / f"{name}.png")
    _check_outputs(tmp_path / f"{name}.png", width)
    assert (tmp_path / f"{name}.pdf").stat().st_size < 200_000  # no embedded raster


def test_paper_figures(tmp_path):
    paper = {
        "dsta_r50_t3": _profile(12.08, 4.03, 24.7e6) | {"model": "dsta", "num_frames": 3},
        "dsta_r50_t5": _profile(20.1, 4.03, 24.7e6) | {"model": "dsta", "num_frames": 5},
        "rle_r50": _profile(4.03, None, 23.7e6) | {"model": "rle", "num_frames": 1},
    }
    reference = {
        "posetrack17": [
            {"method": "DSTA", "backbone": "ResNet-50", "T": 3, "ap": [None] * 7 + [78.7], "match": "dsta_r50_t3"},
            {"method": "DSTA", "backbone": "ResNet-50", "T": 5, "ap": [None] * 7 + [79.7], "match": "dsta_r50_t5"},
            {"method": "Other", "backbone": None, "T": None, "ap": [None] * 7 + [70.0]},
        ]
    }
    out = pl.paper_figures(paper, reference, tmp_path / "figures")
    assert {f.path.relative_to(tmp_path) for f in out.values()} == {
        Path("figures/paper_gflops.png"),
        Path("figures/paper_map_vs_gflops.png"),
    }
    for figure in out.values():
        _check_outputs(figure.path, pl.COLUMN_WIDTH)
        assert figure.width == pytest.approx(pl.COLUMN_WIDTH)  # what figures.tex sizes it by


def test_group_ap_is_the_papers_groups_and_the_mean():
    per_joint = list(np.arange(15, dtype=float))
    ap = pl._group_ap({"per_joint": per_joint})  # group columns derived where only per_joint exists
    assert len(ap) == len(GROUPS) + 1
    head = [per_joint[kp.POSEVAL_JOINT_NAMES.index(n)] for n in ("head_top", "head_bottom", "nose")]
    assert ap[0] == pytest.approx(np.mean(head)) and ap[-1] == pytest.approx(7.0)
    assert pl._group_ap(_evaluation(20.0)) == [20.0 + i for i in range(7)] + [20.0]  # Mean is poseval's Total


def test_model_colours_are_distinct_and_shared_across_figures(experiments):
    colours = pl._colors(experiments)
    assert len(set(colours.values())) == len(experiments)
    # the paper-size DSTA T=3 gets the synthetic DSTA T=3's colour
    assert pl._paper_color({"model": "dsta", "num_frames": 3}) == colours["dsta_t3"]
    # a from-scratch ablation listed first still leaves the method colour to the pretrained run, and gets its own
    scratch = Exp("dsta_t3_scratch", "dsta", 3, pretrained=None)
    with_ablation = pl._colors([scratch] + experiments)
    assert with_ablation["dsta_t3"] == colours["dsta_t3"]
    assert with_ablation["dsta_t3_scratch"] not in colours.values()
    # nor a colour another method holds (SimpleBaseline-HRNet's purple is the first fallback)
    hrnet = Exp("heatmap_hrnet", "heatmap_single", 1, kind="heatmap", backbone="hrnet_w48")
    both = pl._colors([scratch, hrnet] + experiments)
    assert both["heatmap_hrnet"] == pl.model_color("heatmap_single", 1, "hrnet_w48")
    assert len(set(both.values())) == len(both)


def _capture(monkeypatch) -> list:
    """Keep the drawn matplotlib figures instead of saving them; the drawing still returns its ``pl.Figure``."""
    figures = []

    def save(fig, path, note=""):
        figures.append(fig)
        return pl.Figure(path, "", note.strip(), fig.get_figwidth())

    monkeypatch.setattr(pl, "_save", save)
    return figures


def test_direct_labels_stay_inside_and_apart(experiments, tmp_path, monkeypatch):
    figures = _capture(monkeypatch)
    pl.map_vs_gflops(experiments, tmp_path / "m.png", "t")
    (fig,) = figures
    ax = fig.axes[0]
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    frame = ax.get_window_extent(r)
    labels = [t for t in ax.texts if t.get_text()]
    assert sorted(t.get_text() for t in labels) == sorted(pl._names(experiments).values())
    boxes = [t.get_window_extent(r) for t in labels]
    for i, b in enumerate(boxes):
        assert frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1, labels[i]
        assert not any(b.overlaps(o) for o in boxes[i + 1 :]), labels[i]
    # 1-2-5 ticks: enough to read, never two labels crowding each other (0.1 beside 0.12)
    ticks = sorted(v for v in ax.get_xticks() if ax.get_xlim()[0] <= v <= ax.get_xlim()[1])
    assert len(ticks) >= 2 and all(b / a >= 2.0 - 1e-9 for a, b in zip(ticks, ticks[1:]))


def test_training_curves_have_integer_epochs_and_no_legend_over_data(experiments, tmp_path, monkeypatch):
    figures = _capture(monkeypatch)
    pl.training_curves(experiments, tmp_path / "t.png", "t")
    (fig,) = figures
    assert fig.get_size_inches()[0] == pl.COLUMN_WIDTH
    assert all(ax.get_legend() is None for ax in fig.axes) and fig.legends
    for ax in fig.axes:
        lo, hi = ax.get_xlim()
        assert all(float(v).is_integer() for v in ax.get_xticks() if lo <= v <= hi)
    heatmap = [ax for ax in fig.axes if "heatmap" in ax.get_title()][0]
    assert len(heatmap.lines) == 2 and "10$^{-3}$" in heatmap.get_title()


def test_fps_memory_names_what_was_measured(experiments, tmp_path, monkeypatch):
    figures = _capture(monkeypatch)
    drawn = pl.fps_memory_bars(experiments, tmp_path / "f.png", "t")
    (fig,) = figures
    throughput, memory = fig.axes
    assert "peak CPU MiB" in memory.get_ylabel()  # the counter, on the axis and in the caption
    assert "resident-memory rise" in drawn.note and "No interleaved timing run" in drawn.note
    legend = [t.get_text() for t in memory.get_legend().get_texts()]
    assert legend == ["forward pass, batch 1", "training step, batch 8"]
    assert throughput.get_ylabel() == "predictions / s"  # no interleaved run: no bar, no batch claimed
    assert all(np.isnan(b.get_height()) for b in throughput.patches)


def test_fps_bars_come_from_one_interleaved_run(experiments, tmp_path, monkeypatch):
    """The FPS bars are the timing run's (median at its batch, quartiles as error bars), never the profiles'."""
    figures = _capture(monkeypatch)
    key = next(e.key for e in experiments if e.profile)
    ms = {"median": 80.0, "p25": 70.0, "p75": 100.0, "min": 70.0, "max": 100.0, "rounds": [70.0, 80.0, 100.0]}
    doc = {
        "env": {"device": "Test CPU", "threads": 2},
        "protocol": {"rounds": 3},
        "batches": {"1": {"ms_per_call": {}}, "8": {"ms_per_call": {f"{key}:clip": ms}}},
    }
    pl.fps_memory_bars(experiments, tmp_path / "f.png", "t", doc)
    (fig,) = figures
    throughput = fig.axes[0]
    assert "batch 8" in throughput.get_ylabel()
    heights = [b.get_height() for b in throughput.patches if not np.isnan(b.get_height())]
    assert heights == [pytest.approx(100.0)]  # 8 predictions per 80 ms


def test_qualitative_grid(tmp_path):
    from dsta.data.synthetic import SyntheticConfig, generate

    data = tmp_path / "synthetic"
    generate(
        data,
        SyntheticConfig(
            train_sequences=1, val_sequences=2, frames=4, width=64, height=48, corrupt_prob=0.5, max_persons=2
        ),
    )
    exps = [Exp("dsta_t3", "dsta", 3, _evaluation(10.0)), Exp("rle", "rle", 1, _evaluation(10.0))]
    for e in exps:  # predictions: the GT itself
        out = tmp_path / "eval" / e.key / "predictions"
        out.mkdir(parents=True)
        for f in (data / "annotations" / "val").glob("*.json"):
            anns = [
                {"image_id": a["image_id"], "keypoints": a["keypoints"]}
                for a in json.loads(f.read_text())["annotations"]
            ]
            (out / f.name).write_text(json.dumps({"annotations": anns}))
    png = tmp_path / "figures" / "q.png"
    assert pl.qualitative_strip(exps, data, tmp_path / "eval", png, "synthetic, val", frames=2)
    _check_outputs(png, pl.TEXT_WIDTH)
    rgb = np.asarray(Image.open(png).convert("RGB")).astype(int)
    blank_rows = (rgb.min(axis=(1, 2)) > 245).mean()
    assert blank_rows < 0.35  # cells fill the figure: no empty band
    assert not pl.qualitative_strip(exps, tmp_path / "missing", tmp_path / "eval", png, "t")


def test_training_curves_draw_the_box_prior(experiments, tmp_path, monkeypatch):
    """The chance level a curve must clear: the box prior of the evaluated boxes, a dashed line on the mAP panel."""
    import copy

    runs = copy.deepcopy(experiments)
    runs[0].robustness = {"box_prior": {"boxes": 15.25, "gt_boxes": 31.0}}
    figures = _capture(monkeypatch)
    pl.training_curves(runs, tmp_path / "t.png", "t")
    top = figures[0].axes[0]
    assert any(list(line.get_ydata()) == [15.25, 15.25] for line in top.lines)
    assert any(t.get_text() in ("box prior 15.2", "box prior 15.3") for t in top.texts)


def test_accuracy_figures_draw_the_chance_level(experiments, tmp_path, monkeypatch):
    """Where accuracy is plotted, the box prior is drawn: a dashed line at its mAP on mAP vs GFLOPs, a dashed bar at
    its AP across each joint group's bars (the prior's own per-group AP)."""
    import copy

    runs = copy.deepcopy(experiments)
    prior_eval = _evaluation(9.0)
    runs[0].robustness = {"box_prior": {"boxes": 9.0, "gt_boxes": 20.0, "columns": {"boxes": prior_eval}}}
    figures = _capture(monkeypatch)
    pl.map_vs_gflops(runs, tmp_path / "m.png", "t")
    pl.per_joint_bars(runs, tmp_path / "g.png", "t")
    map_ax, group_ax = figures[0].axes[0], figures[1].axes[0]
    assert any(list(line.get_ydata()) == [9.0, 9.0] for line in map_ax.lines)
    assert any(t.get_text() == "box prior (chance) 9.0" for t in map_ax.texts)
    assert map_ax.get_ylim()[0] < 9.0
    dashes = [c for c in group_ax.collections if c.get_label() == "box prior (chance)"]
    assert len(dashes) == 1
    heights = sorted({round(seg[0][1], 6) for seg in dashes[0].get_segments()})
    assert heights == sorted({round(v, 6) for v in pl._group_ap(prior_eval)})
    figures.clear()
    pl.map_vs_gflops(experiments, tmp_path / "m.png", "t")  # no prior in the run: no line, no label
    assert not any(t.get_text().startswith("box prior") for t in figures[0].axes[0].texts)


def test_committed_figures_embed_truetype_never_type3():
    """Conference PDF checks reject Type 3 fonts: every committed figure embeds TrueType (matplotlib's
    ``pdf.fonttype = 42``, the report's style, which the robustness figure now draws under too)."""
    pdfs = sorted((Path(__file__).resolve().parents[1] / "reports" / "figures").glob("*.pdf"))
    assert pdfs
    for pdf in pdfs:
        data = pdf.read_bytes()
        assert b"/Type3" not in data and b"/FontFile2" in data, pdf.name


@pytest.mark.parametrize("reproduction", [True, False])
def test_paper_map_caption_says_what_its_legend_draws(tmp_path, monkeypatch, reproduction):
    """The caption comes from the same facts as the figure: a hollow marker (and its legend entry and caption
    sentence) only for a user's reproduction, never for a paper figure quoted elsewhere (DSTA R50 T=5's 79.7); the
    axes read as the caption says."""
    paper = {
        "dsta_r50_t3": _profile(12.08, 4.03, 24.7e6) | {"model": "dsta", "num_frames": 3},
        "dsta_r50_t5": _profile(20.1, 4.03, 24.7e6) | {"model": "dsta", "num_frames": 5},
    }
    rows = {
        "dsta_r50_t3": {
            "method": "DSTA",
            "backbone": "ResNet-50",
            "T": 3,
            "ap": [None] * 7 + [78.7],
            "match": "dsta_r50_t3",
            "reproduction": reproduction,
            "cite": "dsta_issue2",
        },
        "dsta_r50_t5": {
            "method": "DSTA",
            "backbone": "ResNet-50",
            "T": 5,
            "ap": [None] * 7 + [79.7],
            "match": "dsta_r50_t5",
            "cite": "dsta",
            "tabulated_in": "dsta_issue2",
        },
    }
    figures = _capture(monkeypatch)
    drawn = pl.paper_map_vs_gflops(paper, rows, tmp_path / "paper_map_vs_gflops.png")
    (fig,) = figures
    ax = fig.axes[0]
    hollow = [line for line in ax.lines if line.get_markerfacecolor() == "white"]
    assert len(hollow) == (1 if reproduction else 0)  # T=5, a paper figure quoted in an issue, stays filled
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    caption = pl.figures_tex([drawn])
    assert any("reproduction" in t for t in legend) == reproduction == ("Hollow: a user's reproduction" in caption)
    assert "GFLOPs per frame" in ax.get_xlabel() and "GFLOPs per frame" in caption
    assert "published" in ax.get_ylabel() and "as published" in caption
    assert "streaming mode" not in caption  # the clip/streaming caption of the synthetic figure is not this one's


def test_markers_that_would_cover_each_other_are_drawn_apart():
    """The synthetic figure's case: DSTA T=1 (clip) and T=3/T=5 streaming at one backbone pass each, within a point
    of mAP: the hollow markers move right until they clear every marker; a marker far from the others stays."""
    fixed = [(0.120, 35.0), (0.36, 35.3), (0.56, 34.3), (0.12, 19.0)]
    moved = pl._dodge(fixed, [(0.121, 35.3), (0.121, 34.3), (0.121, 19.2), (0.25, 31.7)])
    assert moved[0] > 0.121 and moved[1] > 0.121 and moved[2] > 0.121  # each one sat on a marker
    assert moved[3] == 0.25  # nothing near it: its counted value
    logs = [np.log10(x) for x in moved[:2]]
    assert abs(logs[0] - np.log10(0.120)) >= 0.025 and abs(logs[1] - np.log10(0.120)) >= 0.025
