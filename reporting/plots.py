"""The report's figures: mAP vs GFLOPs, AP per joint group, throughput and memory, training curves, a qualitative
grid of val frames, and the paper-size GFLOPs and reported-mAP figures.

Every figure is paste-ready: written as a vector PDF and a 300-dpi PNG of the same name, one CVPR column
(``COLUMN_WIDTH``, 3.25 in) or the text width (``TEXT_WIDTH``, 6.875 in) wide, 7-8 pt text, the Okabe-Ito
colour-blind-safe palette with one colour per model in every figure, legends outside the data or direct labels.
Paths returned are the PNGs', relative to the report folder, as the Markdown pages link them."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.patheffects as pe  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

from dsta.core import keypoints as kp  # noqa: E402
from dsta.core.configs import num_frames_of  # noqa: E402
from dsta.core.io import atomic_path, load_json  # noqa: E402
from dsta.data.posetrack import read_split  # noqa: E402
from reporting.labels import JOINT_NAMES, backbone_label, backbone_note  # noqa: E402
from reporting.results import MEMORY_COUNTERS, method_name, throughput_batch, timing  # noqa: E402

COLUMN_WIDTH = 3.25  # in, one CVPR column
TEXT_WIDTH = 6.875  # in, CVPR text width (two columns)
DPI = 300

STYLE = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "figure.titlesize": 8,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.2,
    "lines.markersize": 4,
    "grid.linewidth": 0.4,
    "grid.alpha": 0.5,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.minor.width": 0.4,
    "ytick.minor.width": 0.4,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "hatch.linewidth": 0.6,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,  # embed TrueType: text stays text in the PDF
}

# Okabe & Ito (2008), distinguishable under the common colour-vision deficiencies.
OKABE_ITO = {
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "black": "#000000",
    "grey": "#999999",
}
# One colour per method; DSTA's temporal windows are shades of its blue, light to dark with T.
METHOD_COLORS = {"rle": OKABE_ITO["green"], "heatmap_single": OKABE_ITO["orange"], "dcpose": OKABE_ITO["vermillion"]}
DSTA_COLORS = {1: OKABE_ITO["sky"], 3: OKABE_ITO["blue"], 5: "#003A5D"}
FALLBACK_COLORS = (OKABE_ITO["purple"], OKABE_ITO["grey"], OKABE_ITO["black"], OKABE_ITO["yellow"])
# Qualitative grid: limbs by body side (the person's own left), drawn over a dark outline.
# none of them a model's colour (the limbs encode the body side, not the method): white, yellow and magenta
SIDE_COLORS = {"left": "#FFFFFF", "right": "#FFE119", "centre": "#F032E6"}
OUTLINE = (20, 20, 20)
GT_JOINT_COLOR = "#00FFFF"  # cyan rings: apart from the limb colours


def model_color(model: str, num_frames: int = 1, backbone: str = "") -> str:
    if model == "dsta":
        return DSTA_COLORS.get(num_frames, OKABE_ITO["blue"])
    if model == "heatmap_single" and backbone.startswith("hrnet"):
        return OKABE_ITO["purple"]
    return METHOD_COLORS.get(model, FALLBACK_COLORS[sum(map(ord, model)) % len(FALLBACK_COLORS)])


def _colors(experiments) -> dict[str, str]:
    """Each run's colour: its method's (``model_color``); where two runs would share one (DSTA T=3 and its
    from-scratch ablation, two seeds), the run with the shortest key keeps it (the pretrained one first) and the others
    take the first colour of ``FALLBACK_COLORS`` that no run of the report has. Computed over all the runs of a
    report, so every figure agrees."""
    base = {e.key: model_color(e.model, e.num_frames, e.kwargs.get("backbone", "")) for e in experiments}
    used = set(base.values())
    out, taken = {}, set()
    for e in sorted(experiments, key=lambda e: (e.kwargs.get("pretrained") is None, len(e.key), e.key)):
        color = base[e.key]
        if color in taken:
            color = next((c for c in FALLBACK_COLORS if c not in used), color)
            used.add(color)
        out[e.key] = color
        taken.add(color)
    return out


def _names(experiments) -> dict[str, str]:
    """Short display names ("DSTA T=3", "RLE"). Where two would read the same, the run that differs says how: its
    seed ("s1", from a ``NAME-sS`` key) or its start ("scratch" for random init); the key where that is not enough."""
    names = {
        e.key: e.method() if e.num_frames == 1 and e.model != "dsta" else f"{e.method()} T={e.num_frames}"
        for e in experiments
    }
    counts = {n: list(names.values()).count(n) for n in names.values()}
    for e in experiments:
        if counts[names[e.key]] > 1:
            seed = e.key.rsplit("-s", 1)[1] if "-s" in e.key and e.key.rsplit("-s", 1)[1].isdigit() else None
            names[e.key] += f" s{seed}" if seed else (" (scratch)" if e.kwargs.get("pretrained") is None else "")
    counts = {n: list(names.values()).count(n) for n in names.values()}
    return {k: n if counts[n] == 1 else k for k, n in names.items()}


def _styled(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with plt.rc_context(STYLE):
            return fn(*args, **kwargs)

    return wrapper


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def box_prior(experiments, column: str = "boxes") -> dict | None:
    """The chance level of these experiments' val set: the box prior (the mean training pose in each box, no image;
    the robustness stage carries it) with ``column``'s boxes: ``{"mAP": value, "evaluation": its AP columns or
    None}``; None when no experiment has it."""
    for e in experiments:
        prior = (getattr(e, "robustness", None) or {}).get("box_prior") or {}
        if prior.get(column) is not None:
            return {
                "mAP": prior[column],
                "evaluation": (prior.get("columns") or {}).get(column)
                if isinstance(prior.get("columns"), dict)
                else None,
            }
    return None


def chance_line(ax, value: float, text: str = "box prior (chance)") -> None:
    """The chance level as a dashed grey line across ``ax``, labelled at its right end."""
    ax.axhline(value, color="0.45", lw=0.8, ls=(0, (4, 3)), zorder=0)
    ax.annotate(
        f"{text} {value:.1f}",
        (0.995, value),
        xycoords=("axes fraction", "data"),
        xytext=(0, -1.5),
        textcoords="offset points",
        ha="right",
        va="top",
        fontsize=6.5,
        color="0.35",
    )


def _figure(width: float, height: float, **kwargs):
    return plt.subplots(figsize=(width, height), layout="constrained", **kwargs)


@dataclass(frozen=True)
class Figure:
    """A drawn figure: its PNG (a PDF of the same name beside it), the title taken out of the image (papers put it
    in the caption), what this very drawing shows beyond its kind's caption, and its width in inches."""

    path: Path
    title: str
    note: str
    width: float

    @property
    def stem(self) -> str:
        return self.path.stem


def _save(fig, path: Path, note: str = "") -> Figure:
    """``path`` (.png, 300 dpi) and the same name as .pdf, at the figure's exact size (no tight bbox: the width is
    the column width). The figure's title (its suptitle, and left-aligned axes titles) leaves the image for the
    caption (``figures_tex``), with ``note``: what this drawing shows beyond its kind's caption."""
    path.parent.mkdir(parents=True, exist_ok=True)
    titles = []
    if fig._suptitle is not None and fig._suptitle.get_text():
        titles.append(fig._suptitle.get_text())
        fig._suptitle.set_text("")
    for ax in fig.axes:
        if ax.get_title(loc="left"):
            titles.append(ax.get_title(loc="left"))
            ax.set_title("", loc="left")
    width = fig.get_figwidth()
    for target, fmt, meta in (
        (path.with_suffix(".pdf"), "pdf", {"CreationDate": None}),
        (path.with_suffix(".png"), "png", {}),
    ):
        with atomic_path(target) as tmp:
            fig.savefig(tmp, dpi=DPI, format=fmt, metadata=meta)
    plt.close(fig)
    return Figure(path, "; ".join(titles), note.strip(), width)


def _frame_points(ax, xs: list[float], ys: list[float], x_margin: tuple[float, float], min_pad: float) -> None:
    """A log x axis from ``min(xs) / x_margin[0]`` to ``max(xs) * x_margin[1]`` with dense plain-number ticks, and
    y limits padded by 12% of the range (at least ``min_pad``), so no marker or label touches the frame."""
    lo, hi = min(xs) / x_margin[0], max(xs) * x_margin[1]
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    _log_axis(ax.xaxis, lo, hi)
    pad = max(min_pad, 0.12 * (max(ys) - min(ys)))
    ax.set_ylim(min(ys) - pad, max(ys) + pad)


def _log_axis(axis, lo: float, hi: float) -> None:
    """A log axis with plain-number ticks dense enough to read: at 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k when
    [lo, hi] spans less than a decade, at 1, 2, 3, 5 x 10^k otherwise."""
    decades = np.log10(hi / lo)
    subs = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0) if decades < 1 else (1.0, 2.0, 3.0, 5.0)
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _place_labels(ax, items, points=(), segments=()) -> None:
    """Direct labels. Each (x, y, text) gets one of a few offsets around its point (near ones first; far ones get a
    leader line) whose box stays inside the axes and clears every marker (the items' and ``points``), the
    ``segments`` ((x0, y0), (x1, y1)) and the labels placed before it; a few orders of placement are tried and the
    one with the fewest collisions kept."""
    if not items:
        return
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    pt = fig.dpi / 72
    sizes = []
    for _, _, text in items:
        t = ax.text(0, 0, text, fontsize=7)
        b = t.get_window_extent(renderer)
        sizes.append((b.width, b.height))
        t.remove()
    anchors = ax.transData.transform([(x, y) for x, y, _ in items])
    markers = np.vstack([anchors, ax.transData.transform(list(points))]) if points else anchors
    r = 3.5 * pt  # marker half-size and margin
    fixed = [Bbox.from_bounds(px - r, py - r, 2 * r, 2 * r) for px, py in markers]
    for a, b in segments:
        (x0, y0), (x1, y1) = ax.transData.transform([a, b])
        fixed.append(Bbox([[min(x0, x1), min(y0, y1) - 1.5 * pt], [max(x0, x1), max(y0, y1) + 1.5 * pt]]))
    candidates = [
        (d * dx, d * dy)
        for d in (5, 11, 18)
        for dx, dy in ((1, 0), (0, 1), (0, -1), (-1, 0), (0.8, 0.8), (0.8, -0.8), (-0.8, 0.8), (-0.8, -0.8))
    ]

    def box(i, dx, dy):
        w, h = sizes[i]
        x = anchors[i][0] + dx * pt - (0 if dx > 0 else w if dx < 0 else w / 2)
        y = anchors[i][1] + dy * pt - (0 if dy > 0 else h if dy < 0 else h / 2)
        return Bbox.from_bounds(x, y, w, h)

    def place(order):
        taken, choice, bad = list(fixed), {}, 0
        for i in order:
            for dx, dy in candidates:
                b = box(i, dx, dy)
                inside = frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1
                if inside and not any(b.overlaps(o) for o in taken):
                    break
            else:
                dx, dy = candidates[0]
                bad += 1
            choice[i] = (dx, dy)
            taken.append(box(i, dx, dy))
        return bad, choice

    rng = np.random.default_rng(0)
    best = None
    for order in [list(range(len(items)))] + [list(rng.permutation(len(items))) for _ in range(40)]:
        result = place(order)
        if best is None or result[0] < best[0]:
            best = result
        if best[0] == 0:
            break
    for i, (x, y, text) in enumerate(items):
        dx, dy = best[1][i]
        far = np.hypot(dx, dy) > 6
        t = ax.annotate(
            text,
            (x, y),
            xytext=(dx, dy),
            textcoords="offset points",
            fontsize=7,
            ha="left" if dx > 0 else "right" if dx < 0 else "center",
            va="bottom" if dy > 0 else "top" if dy < 0 else "center",
            annotation_clip=False,
            arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "0.4", "shrinkA": 1, "shrinkB": 3} if far else None,
        )
        t.set_in_layout(False)


def _dodge(
    fixed: list[tuple[float, float]], movable: list[tuple[float, float]], dx: float = 0.025, dy: float = 0.045
) -> list[float]:
    """New x of each ``movable`` point (x, y) on a log-x axis, moved right in steps of ``dx`` decades until it is
    further than ``dx`` decades or ``dy`` of the y range from every point placed before it (``fixed`` first, then
    the movable ones in order): markers that would sit on each other are drawn apart."""
    ys = [y for _, y in fixed + movable]
    span = (max(ys) - min(ys)) if ys else 1.0
    span = span or 1.0
    placed = [(np.log10(x), y) for x, y in fixed]
    out = []
    for x, y in movable:
        lx = np.log10(x)
        while any(abs(lx - px) < dx and abs(y - py) < dy * span for px, py in placed):
            lx += dx
        placed.append((lx, y))
        out.append(x if lx == np.log10(x) else float(10**lx))
    return out


# -- experiment figures ----------------------------------------------------------------------------------------------
@_styled
def map_vs_gflops(experiments, path: Path, title: str) -> Figure:
    """val mAP against GFLOPs per prediction, one column wide: filled markers clip mode, hollow markers streaming
    (an arrow joins them), direct labels."""
    names, colors = _names(experiments), _colors(experiments)
    fig, ax = _figure(COLUMN_WIDTH, 3.0)
    items, points, segments, xs_all, params = [], [], [], [], []
    streaming = []  # (clip x, streaming x, mAP, colour)
    for e in experiments:
        if not e.profile or not e.evaluation:
            continue
        modes = e.profile["modes"]
        y = e.evaluation["Total"]
        x = modes["clip"]["gflops"]["total"]
        params.append(e.profile["params"]["total"] / 1e6)
        ax.plot([x], [y], "o", color=colors[e.key], markeredgecolor="k", markeredgewidth=0.4, markersize=3.8, zorder=4)
        items.append((x, y, names[e.key]))
        xs_all.append(x)
        if "streaming" in modes and modes["streaming"]["gflops"]["total"] != x:
            streaming.append((x, modes["streaming"]["gflops"]["total"], y, colors[e.key]))
    dodged = _dodge([(x, y) for x, y, _ in items], [(xs, y) for _, xs, y, _ in streaming])
    for (x, _, y, color), xd in zip(streaming, dodged):
        ax.plot(
            [xd],
            [y],
            "o",
            markerfacecolor="white",
            markeredgecolor=color,
            markeredgewidth=0.9,
            markersize=3.2,
            zorder=3,
        )
        ax.annotate(
            "",
            xy=(xd, y),
            xytext=(x, y),
            arrowprops={"arrowstyle": "->", "color": color, "lw": 0.8, "shrinkA": 3, "shrinkB": 3},
        )
        xs_all.append(xd)
        points.append((xd, y))
        segments.append(((x, y), (xd, y)))
    moved = sum(xd != xs for (_, xs, _, _), xd in zip(streaming, dodged))
    if xs_all:
        _frame_points(ax, xs_all, [i[1] for i in items], (1.2, 1.4), 2.0)
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # 0.1, 0.2, 0.5: ticks that never crowd
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    prior = box_prior(experiments)
    drawn = (
        f"{moved} hollow marker{'s' if moved > 1 else ''} that would cover another marker "
        f"{'are' if moved > 1 else 'is'} moved right by a few percent of the GFLOPs axis (its value as "
        f"counted is the table's)."
        if moved
        else ""
    )
    if prior is not None and items:
        chance_line(ax, prior["mAP"], "box prior (chance)")
        ax.set_ylim(min(ax.get_ylim()[0], prior["mAP"] - 3), ax.get_ylim()[1])
        drawn += f" Dashed: the box prior ({prior['mAP']:.1f}), the chance level."
    ax.set_xlabel("GFLOPs per prediction")
    ax.set_ylabel("val mAP")
    ax.grid(alpha=0.3, which="major")
    lo_p, hi_p = (f"{min(params):.1f}", f"{max(params):.1f}") if params else ("", "")
    spread = "" if not params else f"; {lo_p} M params" if lo_p == hi_p else f"; {lo_p}-{hi_p} M params"
    ax.set_title(f"{title}{spread}", loc="left")
    if not items:
        _empty(ax, "no model both profiled and evaluated yet")
        return _save(fig, path, drawn)
    fig.legend(
        handles=[
            Line2D(
                [],
                [],
                ls="",
                marker="o",
                color="0.5",
                markeredgecolor="k",
                markeredgewidth=0.4,
                label="clip (T backbone passes)",
            ),
            Line2D(
                [],
                [],
                ls="",
                marker="o",
                markerfacecolor="white",
                markeredgecolor="0.3",
                label="streaming (1 pass; same mAP:\nplotted at the clip mAP)",
            ),
        ],
        loc="outside lower center",
        ncol=2,
        handletextpad=0.2,
        columnspacing=1.0,
    )
    _place_labels(ax, items, points, segments)
    return _save(fig, path, drawn)


def _group_ap(evaluation: dict) -> list[float]:
    """AP of the paper's groups and the mean over the 15 joints (poseval's ``Total``), from the evaluation's group
    columns or, where a file only has ``per_joint``, from it."""
    per_joint = evaluation.get("per_joint")
    out = []
    for g, idx in kp.POSEVAL_GROUP_INDICES.items():
        v = evaluation.get(g)
        if v is None and per_joint:
            v = float(np.mean([per_joint[i] for i in idx]))
        out.append(np.nan if v is None else v)
    total = evaluation.get("Total")
    if total is None and per_joint:
        total = float(np.mean(per_joint))
    return out + [np.nan if total is None else total]


@_styled
def per_joint_bars(experiments, path: Path, title: str) -> Figure:
    """AP per joint group (Head ... Ankle, as the paper's tables) and the mean, one bar per model; text width."""
    names, colors = _names(experiments), _colors(experiments)
    groups = [JOINT_NAMES.get(g, g) for g in kp.POSEVAL_GROUPS] + ["Mean"]
    fig, ax = _figure(TEXT_WIDTH, 2.3)
    n = max(1, len(experiments))
    width = 0.84 / n
    x = np.arange(len(groups), dtype=float)
    x[-1] += 0.35  # the mean stands apart
    top = 0.0
    for i, e in enumerate(experiments):
        ap = _group_ap(e.evaluation or {})
        top = np.nanmax([top, *ap])
        ax.bar(
            x + (i - (n - 1) / 2) * width,
            ap,
            width * 0.92,
            label=names[e.key],
            color=colors[e.key],
            edgecolor="k",
            linewidth=0.3,
        )
    prior = box_prior(experiments)
    drawn = ""
    if prior is not None and prior["evaluation"]:
        drawn = "Dashed across each group: the box prior's AP there, the chance level."
        chance = _group_ap(prior["evaluation"])  # the box prior per group: a dashed bar across each group's bars
        ax.hlines(
            chance, x - 0.45, x + 0.45, colors="0.25", lw=0.9, ls=(0, (3, 2)), zorder=5, label="box prior (chance)"
        )
        top = np.nanmax([top, *chance])
    ax.axvline((x[-2] + x[-1]) / 2, color="0.6", lw=0.6, ls=":")
    ax.set_xticks(x, groups)
    ax.tick_params(axis="x", length=0)
    ax.set_xlim(x[0] - 0.5, x[-1] + 0.5)
    ax.set_ylim(0, min(100.0, top * 1.08) if top > 0 else 100.0)
    ax.set_ylabel("AP (PCKh@0.5)")
    ax.set_title(f"{title}: AP per joint group", loc="left")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    if experiments:
        fig.legend(loc="outside right upper", ncol=1, handlelength=1.0, handletextpad=0.4)
    return _save(fig, path, drawn)


def _na(ax, x, values, top) -> None:
    for xi, v in zip(x, values):
        if v is None or np.isnan(v):
            ax.text(xi, top * 0.02, "n/a", rotation=90, ha="center", va="bottom", fontsize=7, color="0.4")


@_styled
def fps_memory_bars(experiments, path: Path, title: str, timings: dict | None = None) -> Figure:
    """Throughput (clip and streaming; every bar from ONE interleaved timing run, with its quartiles over rounds as
    error bars) and peak memory (forward pass and training step, each at its own batch); text width. The memory
    panel says what was measured: resident CPU memory, or CUDA allocations."""
    done = [e for e in experiments if e.profile]
    names = _names(done)
    fig, (a1, a2) = _figure(TEXT_WIDTH, 2.4, ncols=2)
    x = np.arange(len(done))
    w = 0.38
    by_key = _colors(experiments)  # over every run, as the other figures
    colors = [by_key[e.key] for e in done]
    solid = {"edgecolor": "k", "linewidth": 0.3}
    tb_key = throughput_batch(timings)
    timed = {
        m: [timing(timings, e.key, m, tb_key) if m in e.profile["modes"] else None for e in done]
        for m in ("clip", "streaming")
    }
    fps = {m: [t["fps"]["median"] if t else np.nan for t in v] for m, v in timed.items()}
    err = {
        m: np.array(
            [
                [t["fps"]["median"] - t["fps"]["p25"], t["fps"]["p75"] - t["fps"]["median"]] if t else [np.nan, np.nan]
                for t in v
            ]
        ).T.reshape(2, -1)
        for m, v in timed.items()
    }
    ebar = {"ecolor": "0.2", "elinewidth": 0.6, "capsize": 1.5}
    a1.bar(x - w / 2, fps["clip"], w, color=colors, yerr=err["clip"], error_kw=ebar, **solid)
    a1.bar(
        x + w / 2,
        fps["streaming"],
        w,
        color="white",
        edgecolor=colors,
        hatch="/////",
        linewidth=0.8,
        yerr=err["streaming"],
        error_kw=ebar,
    )
    top1 = np.nanmax([*fps["clip"], *fps["streaming"], *(fps["clip"] + np.nan_to_num(err["clip"][1])), 1.0])
    _na(a1, x + w / 2, fps["streaming"], top1)
    a1.set_ylabel(f"predictions / s (batch {tb_key})" if tb_key else "predictions / s")
    no_fps = "" if timings else "No interleaved timing run: no FPS bars. "
    fwd = [e.profile["modes"]["clip"].get("memory_forward", {}) for e in done]
    train = [e.profile.get("memory_train_step") or {} for e in done]
    mem_f = [m.get("peak_mib") or np.nan for m in fwd]
    mem_t = [m.get("peak_mib") or np.nan for m in train]
    a2.bar(x - w / 2, mem_f, w, color=colors, **solid)
    a2.bar(x + w / 2, mem_t, w, color="white", edgecolor=colors, hatch="\\\\\\\\\\", linewidth=0.8)
    _na(a2, x + w / 2, mem_t, np.nanmax([*mem_f, *mem_t, 1.0]))
    if not done:
        for ax in (a1, a2):
            _empty(ax, "no profile yet")
        fig.suptitle(title, x=0.01, ha="left")
        return _save(fig, path, no_fps)
    env = done[0].profile.get("env", {})
    cuda = env.get("device_type") == "cuda"
    a2.set_ylabel("peak GPU MiB (CUDA allocations)" if cuda else "peak CPU MiB (tensors + RSS rise)")
    drawn = (
        no_fps
        + "Memory: "
        + (f"peak CUDA allocations ({MEMORY_COUNTERS['cuda']})." if cuda else f"{MEMORY_COUNTERS['cpu']} (CPU).")
    )
    fb = {m.get("batch", 1) for m in fwd}
    tb = {m.get("batch") for m in train} - {None}
    for ax in (a1, a2):
        ax.set_xticks(x, [names[e.key] for e in done], rotation=25, ha="right", rotation_mode="anchor")
        ax.tick_params(axis="x", length=0)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    grey = {"facecolor": "0.55", "edgecolor": "k", "linewidth": 0.3}
    hatched = {"facecolor": "white", "edgecolor": "0.3", "linewidth": 0.8}
    a1.legend(
        handles=[
            Patch(**grey, label="clip mode (T frames)"),
            Patch(**hatched, hatch="/////", label="streaming (cached frames)"),
        ],
        loc="upper right",
    )
    a2.legend(
        handles=[
            Patch(**grey, label="forward pass, batch " + "/".join(map(str, sorted(fb)))),
            Patch(
                **hatched,
                hatch="\\\\\\\\\\",
                label="training step, batch " + ("/".join(map(str, sorted(tb))) if tb else "?"),
            ),
        ],
        loc="upper left",
    )
    for ax, top in ((a1, top1), (a2, np.nanmax([*mem_f, *mem_t, 1.0]))):
        ax.set_ylim(0, top * 1.35)  # head room for the legend
    tenv = (timings or {}).get("env") or env
    fig.suptitle(
        f"{title}; {tenv.get('device', '')}"
        + (f", {tenv['threads']} threads" if tenv.get("threads") else "")
        + (
            f"; FPS: median and quartiles over {timings['protocol']['rounds']} rounds of one process timing "
            f"every model interleaved"
            if timings
            else ""
        ),
        x=0.01,
        ha="left",
    )
    return _save(fig, path, drawn)


def _auto_scale(ax, values) -> str:
    """Log scale (with 1-2-3-5 ticks) where the values span more than a decade and are positive; linear otherwise,
    with small or large values scaled by a power of ten. Returns the scale to name in the title ("" or "x10^k")."""
    v = np.asarray([x for x in values if np.isfinite(x)])
    if len(v) and v.min() > 0 and v.max() / v.min() > 10:
        ax.set_yscale("log")
        _log_axis(ax.yaxis, v.min(), v.max())
        return ""
    k = int(np.floor(np.log10(np.abs(v).max()))) if len(v) and np.abs(v).max() > 0 else 0
    if -2 <= k <= 3:
        return ""
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y / 10**k:g}"))
    return f" (\u00d710$^{{{k}}}$)"


@_styled
def training_curves(experiments, path: Path, title: str) -> Figure:
    """Val mAP per epoch, and the training loss per epoch for each kind of model (the RLE negative log-likelihood
    and the heatmap MSE are different quantities, so they get their own axes); one column wide."""
    names, colors = _names(experiments), _colors(experiments)
    fig = plt.figure(figsize=(COLUMN_WIDTH, 3.7), layout="constrained")
    grid = fig.add_gridspec(2, 2, height_ratios=(1.25, 1))
    a1 = fig.add_subplot(grid[0, :])
    a2 = fig.add_subplot(grid[1, 0])
    a3 = fig.add_subplot(grid[1, 1])
    losses = {a2: [], a3: []}
    # runs whose curves coincide (DSTA T=1/3/5 continue one backbone) stay apart: each its own dash and marker,
    # hollow markers drawn over the earlier runs' lines
    epochs: set[int] = set()
    styles = [
        ("-", "o"),
        ("--", "s"),
        (":", "^"),
        ("-.", "D"),
        ((0, (5, 1)), "v"),
        ((0, (1, 1)), "P"),
        ((0, (3, 1, 1, 1)), "X"),
    ]
    for i, e in enumerate(experiments):
        hist = (e.training or {}).get("history") or []
        val = [(h["epoch"] + 1, h["val_mAP"]) for h in hist if "val_mAP" in h]
        loss = [(h["epoch"] + 1, h["loss"]) for h in hist if "loss" in h]
        ls, marker = styles[i % len(styles)]
        # dodged: each run a little to the side of the epoch, so coinciding curves stay visible
        dodge = (i - (len(experiments) - 1) / 2) * 0.06
        if val:
            a1.plot(
                *zip(*[(x + dodge, v) for x, v in val]),
                ls=ls,
                marker=marker,
                markersize=3,
                color=colors[e.key],
                label=names[e.key],
                markerfacecolor="white",
                markeredgewidth=0.8,
            )
        if loss:
            ax = a3 if e.kind == "heatmap" else a2
            epochs.update(x for x, _ in loss)
            loss = [(x + dodge, v) for x, v in loss]
            ax.plot(
                *zip(*loss),
                ls=ls,
                marker=marker,
                markersize=2.8,
                color=colors[e.key],
                markerfacecolor="white",
                markeredgewidth=0.7,
            )
            losses[ax] += [v for _, v in loss]
    prior = box_prior(experiments)  # the chance level of these boxes, which a curve must clear
    drawn = ""
    if prior is not None:
        chance_line(a1, prior["mAP"], "box prior")
        drawn = f"Dashed on the top panel: the box prior ({prior['mAP']:.1f}), the score without the image."
    a1.set_xlabel("epochs trained (0: before the first step)")
    a1.set_ylabel("val mAP")
    a1.set_title(title, loc="left")
    a2.set_ylabel("training loss\n(epoch mean)")
    for ax, name in ((a2, "regression: RLE NLL"), (a3, "heatmap: MSE")):
        ax.set_xlabel("epoch")
        ax.set_title(name + _auto_scale(ax, losses[ax]), fontsize=7)
        if not losses[ax]:
            ax.text(0.5, 0.5, "no such model", transform=ax.transAxes, ha="center", va="center", color="0.4")
            ax.set_yticks([])
    for ax in (a1, a2, a3):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    if epochs and len(epochs) <= 12:  # the dodged loss curves: a tick on every epoch they sit around
        for ax in (a2, a3):
            ax.set_xticks(sorted(epochs))
    if not a1.lines:
        _empty(a1, "no training history yet")
    else:
        fig.legend(loc="outside upper center", ncol=3, handlelength=1.5, columnspacing=1.0, handletextpad=0.4)
    return _save(fig, path, drawn)


def _predictions_by_image(pred_dir: Path) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for f in sorted(pred_dir.glob("*.json")):
        for ann in load_json(f).get("annotations", []):
            out.setdefault(int(ann["image_id"]), []).append(ann)
    return out


def _limb_side(a: int, b: int) -> str:
    sides = {n.split("_")[0] for n in (kp.KEYPOINT_NAMES[a], kp.KEYPOINT_NAMES[b])} & {"left", "right"}
    return sides.pop() if len(sides) == 1 else "centre"


def _rgb(hex_color: str) -> tuple[int, int, int]:
    return tuple(int(hex_color[i : i + 2], 16) for i in (1, 3, 5))


def _draw_skeleton(img: np.ndarray, xy: np.ndarray, ok: np.ndarray, thickness: int) -> None:
    """Limbs coloured by body side over a dark outline (so they show on any background), then the joints."""
    import cv2

    pts = np.round(xy).astype(int)
    limbs = [(a, b) for a, b in kp.SKELETON if ok[a] and ok[b]]
    for a, b in limbs:
        cv2.line(img, tuple(pts[a]), tuple(pts[b]), OUTLINE, thickness + 2, cv2.LINE_AA)
    for a, b in limbs:
        cv2.line(img, tuple(pts[a]), tuple(pts[b]), _rgb(SIDE_COLORS[_limb_side(a, b)]), thickness, cv2.LINE_AA)
    for i in np.flatnonzero(ok):
        if kp.KEYPOINT_NAMES[i] not in kp.UNANNOTATED_KEYPOINTS:
            side = _limb_side(i, i) if kp.KEYPOINT_NAMES[i].startswith(("left", "right")) else "centre"
            cv2.circle(img, tuple(pts[i]), thickness, OUTLINE, -1, cv2.LINE_AA)
            cv2.circle(img, tuple(pts[i]), max(1, thickness - 1), _rgb(SIDE_COLORS[side]), -1, cv2.LINE_AA)


def _draw_gt_joints(img: np.ndarray, xy: np.ndarray, ok: np.ndarray, radius: int) -> None:
    import cv2

    for p in np.round(xy[ok]).astype(int):
        cv2.circle(img, tuple(p), radius, OUTLINE, 2, cv2.LINE_AA)
        cv2.circle(img, tuple(p), radius, _rgb(GT_JOINT_COLOR), 1, cv2.LINE_AA)


def _qualitative_models(experiments, most: int = 4) -> list:
    """The models the qualitative grid shows (a cell must stay over an inch wide): one run per method, T=3 for DSTA,
    pretrained before scratch, the first seed."""
    chosen, seen = [], set()
    for e in sorted(
        experiments, key=lambda e: (e.model != "dsta", e.num_frames != 3, not e.kwargs.get("pretrained"), len(e.key))
    ):
        if e.model not in seen:
            seen.add(e.model)
            chosen.append(e)
    return chosen[:most]


@_styled
def qualitative_strip(
    experiments, data_dir: Path, evals: Path, path: Path, title: str, frames: int = 4, scale: int = 2
) -> Figure | None:
    """A grid of val frames (rows; half of them corrupted where flagged) by GT and each model (columns), text
    width: skeletons coloured by body side over a dark outline, and the GT joints marked in every model's cell."""
    import cv2

    ann_dir = data_dir / experiments[0].config["data"]["val_ann"]
    if not ann_dir.is_dir():
        return None
    labeled = [(s, f) for s in read_split(ann_dir) for f in s.frames if f.is_labeled and f.persons]
    if not labeled:
        return None
    corrupted = [x for x in labeled if x[1].flags.get("corrupted")]
    clean = [x for x in labeled if not x[1].flags.get("corrupted")]
    step = lambda xs, n: xs[:: max(1, len(xs) // max(1, n))][:n]  # noqa: E731  spread over the videos
    chosen = step(clean, frames - min(len(corrupted), frames // 2)) + step(corrupted, frames // 2)
    image_root = data_dir / experiments[0].config["data"]["image_root"]
    preds = {e.key: _predictions_by_image(evals / e.key / "predictions") for e in experiments}
    names = _names(experiments)
    # a qualifier goes to a second line ("DSTA T=3\n(scratch)"): a cell is under an inch wide
    columns = [("GT", None)] + [(names[e.key].replace(" (", "\n("), e) for e in _qualitative_models(experiments)]
    images = []
    for _, frame in chosen:
        img = cv2.imread(str(image_root / frame.file_name))
        if img is None:
            return None
        images.append(
            cv2.resize(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        )
    h, w = images[0].shape[:2]
    left, top, bottom, gap = 0.36, 0.3, 0.28, 0.025  # inches: row labels, titles, colour legend, between cells
    top += 0.1 * max(name.count("\n") for name, _ in columns)  # a line of 7 pt per extra title line
    cell_w = (TEXT_WIDTH - left - gap * (len(columns) - 1) - 0.02) / len(columns)
    cell_h = cell_w * h / w
    height = top + bottom + len(chosen) * cell_h + gap * (len(chosen) - 1)
    fig = plt.figure(figsize=(TEXT_WIDTH, height))
    thickness = max(2, scale + 1)
    shown: list[str] = []  # the corruptions of the corrupted rows, top to bottom, for the caption
    for r, ((seq, frame), img) in enumerate(zip(chosen, images)):
        gt = [(p.keypoints * scale, p.visible > 0) for p in frame.persons]
        for c, (name, e) in enumerate(columns):
            canvas = img.copy()
            if e is None:
                for xy, vis in gt:
                    _draw_skeleton(canvas, xy, vis, thickness)
            else:
                for ann in preds[e.key].get(frame.image_id, []):
                    xy = np.asarray(ann["keypoints"], dtype=np.float64).reshape(-1, 3)[:, :2]
                    _draw_skeleton(canvas, xy * scale, np.ones(len(xy), bool), thickness)
                for xy, vis in gt:
                    _draw_gt_joints(canvas, xy, vis, thickness)
            x0 = left + c * (cell_w + gap)
            y0 = height - top - (r + 1) * cell_h - r * gap
            ax = fig.add_axes((x0 / TEXT_WIDTH, y0 / height, cell_w / TEXT_WIDTH, cell_h / height))
            ax.imshow(canvas, interpolation="antialiased")
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(True)
                s.set_linewidth(0.4)
            if r == 0:
                ax.set_title(name, fontsize=7, pad=2)
            if c == 0:
                kind = str(frame.flags.get("corruption") or "").replace("+", ", ").replace("_", " ")
                state = "corrupted" if frame.flags.get("corrupted") else "clean"  # its kind: in the caption
                if frame.flags.get("corrupted"):
                    shown.append(kind or "corrupted")
                video = list(dict.fromkeys(sq.name for sq, _ in chosen)).index(seq.name) + 1
                ax.set_ylabel(f"video {video}, frame {frame.index}\n{state}", fontsize=7, labelpad=2)
    boxes = {
        "GT" if b == "gt" else "detected"
        for b in (str((e.evaluation or {}).get("boxes", e.config["data"].get("boxes", "?"))) for e in experiments)
    }
    drawn = f"Corrupted rows, from the top: {'; '.join(shown)} (the synthetic set's own corruptions)." if shown else ""
    fig.suptitle(
        f"{title}; {' / '.join(sorted(boxes))} person boxes",
        fontsize=8,
        x=left / TEXT_WIDTH,
        y=1 - 0.02 / height,
        ha="left",
        va="top",
    )
    outline = [pe.Stroke(linewidth=3.4, foreground="#141414"), pe.Normal()]
    handles = [
        Line2D([], [], color=SIDE_COLORS[s], lw=2, path_effects=outline, label=label)
        for s, label in (("left", "left limbs"), ("right", "right limbs"), ("centre", "head and torso"))
    ]
    handles.append(
        Line2D(
            [],
            [],
            ls="",
            marker="o",
            markersize=4,
            markerfacecolor="none",
            markeredgecolor=GT_JOINT_COLOR,
            markeredgewidth=1.0,
            path_effects=[pe.Stroke(linewidth=2.2, foreground="#141414"), pe.Normal()],
            label="GT joints (model columns)",
        )
    )
    fig.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=4,
        fontsize=7,
        columnspacing=1.6,
        handlelength=2.0,
    )
    return _save(fig, path, drawn)


def experiment_figures(
    dataset: str, experiments, fig_dir: Path, data_dir: Path, evals: Path, timings: dict | None = None
) -> dict[str, Figure]:
    """Every figure of one dataset page, by the name the page shows it under (a PDF of the same name lies beside each
    PNG)."""
    out = {}
    title = f"{dataset}, val"
    specs = [
        ("mAP vs GFLOPs", f"{dataset}_map_vs_gflops.png", lambda p: map_vs_gflops(experiments, p, title)),
        ("AP per joint group", f"{dataset}_per_joint.png", lambda p: per_joint_bars(experiments, p, title)),
        ("FPS and memory", f"{dataset}_fps_memory.png", lambda p: fps_memory_bars(experiments, p, title, timings)),
        ("Training curves", f"{dataset}_training.png", lambda p: training_curves(experiments, p, title)),
    ]
    for caption, name, draw in specs:
        out[caption] = draw(fig_dir / name)
    strip = qualitative_strip(experiments, data_dir, evals, fig_dir / f"{dataset}_qualitative.png", title)
    if strip is not None:
        out["Qualitative"] = strip
    return out


# -- paper-size figures ----------------------------------------------------------------------------------------------
def _paper_color(p: dict) -> str:
    kwargs = p.get("kwargs") or {}
    return model_color(
        p.get("model", ""),
        int(p.get("num_frames") or num_frames_of(p.get("model", ""), kwargs)),
        kwargs.get("backbone", ""),
    )


def _paper_name(p: dict) -> str:
    """A paper-size model as the papers name it: ``DSTA ResNet-50 T=3``, ``DCPose HRNet-W48``."""
    kwargs = p.get("kwargs") or {}
    backbone = str(kwargs.get("backbone", ""))
    method = method_name(p.get("model", "?"), backbone)
    t = f" T={p.get('num_frames')}" if p.get("model") == "dsta" else ""
    return f"{method} {backbone_label(backbone, p.get('model', ''))}{t}"


@_styled
def paper_gflops(paper: dict[str, dict], path: Path) -> Figure:
    """Backbone and head GFLOPs of every paper-size model, clip and streaming; one column wide."""
    keys = list(paper)
    fig, ax = _figure(COLUMN_WIDTH, 0.9 + 0.32 * len(keys))
    y = np.arange(len(keys))[::-1].astype(float)
    h = 0.38
    for k, mode in enumerate(("clip", "streaming")):
        back = [paper[m]["modes"].get(mode, {}).get("gflops", {}).get("backbone", np.nan) for m in keys]
        head = [paper[m]["modes"].get(mode, {}).get("gflops", {}).get("head", np.nan) for m in keys]
        pos = y + (0.5 - k) * h
        colors = [_paper_color(paper[m]) for m in keys]
        if mode == "clip":
            ax.barh(pos, back, h * 0.92, color=colors, edgecolor="k", linewidth=0.3)
        else:
            ax.barh(pos, back, h * 0.92, color="white", edgecolor=colors, hatch="/////", linewidth=0.8)
        ax.barh(pos, head, h * 0.92, left=back, color="k", edgecolor="k", linewidth=0.3)
        if mode == "streaming":
            for p, b in zip(pos, back):
                if np.isnan(b):
                    ax.text(0.5, p, "clip only", va="center", fontsize=7, color="0.45")
        for p, b, hd in zip(pos, back, head):
            if not (np.isnan(b) or np.isnan(hd)):
                ax.text(
                    b + hd,
                    p,
                    f" head {hd:.2f} GFLOPs" if hd >= 0.01 else f" head {hd * 1e3:.1f} MFLOPs",
                    va="center",
                    fontsize=6,
                    color="0.15",
                )
    ax.set_yticks(y, [_paper_name(paper[m]) for m in keys])
    ax.set_xlim(0, np.nanmax([paper[m]["modes"]["clip"]["gflops"]["total"] for m in keys]) * 1.5)
    ax.set_ylim(-0.65, len(keys) - 0.35)
    ax.tick_params(axis="y", length=0)
    ax.set_xlabel("GFLOPs per prediction\n(1 multiply-add = 1 FLOP)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    fig.suptitle(
        "paper-size models at 256x192: GFLOPs per prediction, backbone and head (head value printed)", x=0.01, ha="left"
    )
    fig.legend(
        handles=[
            Patch(facecolor="0.55", edgecolor="k", linewidth=0.3, label="clip: backbone"),
            Patch(facecolor="white", edgecolor="0.3", hatch="/////", linewidth=0.8, label="streaming: backbone"),
            Patch(facecolor="k", label="head"),
        ],
        loc="outside lower center",
        ncol=3,
        handlelength=1.4,
        columnspacing=1.0,
    )
    return _save(fig, path, backbone_note([_paper_name(paper[m]) for m in keys]))


@_styled
def paper_map_vs_gflops(paper: dict[str, dict], rows: dict[str, dict], path: Path) -> Figure:
    """Reported PoseTrack17 mAP against the GFLOPs per frame measured here (streaming where the model allows it);
    direct labels carry the model and its parameters; one column wide."""
    fig, ax = _figure(COLUMN_WIDTH, 2.5)
    items, xs = [], []
    for m, p in paper.items():
        row = rows[m]
        mode = "streaming" if "streaming" in p["modes"] else "clip"
        g = p["modes"][mode]["gflops"]["total"]
        y = row["ap"][-1]
        hrnet = str(row.get("backbone") or "").lower().startswith("hrnet")
        issue = bool(row.get("reproduction"))  # a user's reproduction, not a published figure
        ax.plot(
            [g],
            [y],
            "s" if hrnet else "o",
            color=_paper_color(p),
            markeredgecolor="k",
            markeredgewidth=0.4,
            markersize=5,
            zorder=3,
            markerfacecolor="white" if issue else _paper_color(p),
        )
        backbone = {"ResNet-50": "R50"}.get(row.get("backbone"), row.get("backbone") or "")
        t = f" T={row['T']}" if row.get("T") else ""
        items.append(
            (g, y, f"{row['method']} {backbone}{t}\n{p['params']['total'] / 1e6:.0f} M params".replace("  ", " "))
        )
        xs.append(g)
    _frame_points(ax, xs, [i[1] for i in items], (1.6, 7.0), 1.5)  # room on the right for the labels
    ax.set_xlabel("GFLOPs per frame of this project's implementation\n(streaming where possible)")
    ax.set_ylabel("PoseTrack17 mAP (published)")
    ax.set_title(
        "published PoseTrack17 mAP of each method against the GFLOPs counted for this project's "
        "implementation of its architecture (not the authors' code)",
        loc="left",
    )
    ax.grid(alpha=0.3)
    handles = [
        Line2D(
            [], [], ls="", marker="o", color="0.5", markeredgecolor="k", markeredgewidth=0.4, label="ResNet backbone"
        ),
        Line2D(
            [], [], ls="", marker="s", color="0.5", markeredgecolor="k", markeredgewidth=0.4, label="HRNet backbone"
        ),
    ]
    text = (
        "Circles: ResNet backbones; squares: HRNet. The x axis is GFLOPs per frame of this project's "
        "implementation (streaming where the model allows it), the y axis the published mAP."
    )
    if any(row.get("reproduction") for m, row in rows.items() if m in paper):
        handles.append(
            Line2D(
                [],
                [],
                ls="",
                marker="o",
                markerfacecolor="white",
                markeredgecolor="k",
                markeredgewidth=0.6,
                label="a user's reproduction\n(GitHub issue)",
            )
        )
        text += (
            " Hollow: a user's reproduction reported in a GitHub issue, not a published figure; every filled "
            "marker is a published figure."
        )
    fig.legend(
        handles=handles, loc="outside lower center", ncol=len(handles), handletextpad=0.2, columnspacing=0.8, fontsize=6
    )
    _place_labels(ax, items)
    return _save(fig, path, f"{text} {backbone_note([_paper_name(p) for p in paper.values()])}")


def paper_figures(paper: dict[str, dict], reference: dict, fig_dir: Path) -> dict[str, Figure]:
    """GFLOPs of every paper-size model (backbone and head, clip and streaming), and reported PoseTrack17 mAP against
    the GFLOPs measured here."""
    out = {"Paper-size GFLOPs": paper_gflops(paper, fig_dir / "paper_gflops.png")}
    rows = {r["match"]: r for r in reference.get("posetrack17", []) if r.get("match") and r["ap"][-1] is not None}
    pts = {m: p for m, p in paper.items() if m in rows}
    if pts:
        out["Reported PoseTrack17 mAP vs measured GFLOPs"] = paper_map_vs_gflops(
            pts, rows, fig_dir / "paper_map_vs_gflops.png"
        )
    return out


CAPTIONS = {
    "robustness": "Val mAP under each corruption, with only the key frame of each clip corrupted (filled markers) "
    "or every frame (open markers); the blank-frame control as bars (key frame blank: plain; every "
    "frame blank: hatched). A single-frame model's two modes coincide.",
    "map_vs_gflops": "Val mAP against GFLOPs per prediction (log scale). Filled markers: clip mode ($T$ backbone "
    "passes); hollow markers: streaming mode (one pass per new frame, cached features), which "
    "predicts the same poses, so it is drawn at the clip mAP.",
    "per_joint": "AP (PCKh@0.5) per joint group and the mean, one bar per model.",
    "fps_memory": "Left: predictions per second, clip (filled) and streaming (hatched), every bar from one process "
    "that timed all models interleaved, error bars the quartiles over rounds. Right: peak memory of a "
    "forward pass and of a training step.",
    "training": "Top: val mAP after each epoch of the run (0 = before its first step: the pretrained backbone with "
    "a new head, or random init for a run from scratch). Bottom: training loss per epoch, regression "
    "models (RLE negative log-likelihood) and heatmap models (MSE) on their own axes; each run has its own "
    "line style and sits a little to the side of its epoch, since several curves nearly coincide.",
    "qualitative": "Val frames (rows: clean and corrupted) with the ground truth and one run per method (DSTA T=3 "
    "pretrained, then the single-frame and heatmap baselines). Limbs by body side, white left, yellow "
    "right, magenta head and torso, over a dark outline; cyan rings: the ground-truth joints in each "
    "model's cell.",
    "paper_gflops": "One multiply-add = one FLOP; clip mode filled, streaming hatched.",
    "paper_map_vs_gflops": "The two axes come from different sources: the mAP as published, the GFLOPs as counted "
    "here.",
}


def figures_tex(figures: list[Figure], label_prefix: str = "") -> str:
    """``latex/figures.tex``: each figure as a float with ``\\includegraphics`` of its PDF and a caption (the title
    taken out of the image and what is drawn); a text-width figure is a ``figure*``."""
    from reporting.latex import escape, latex_sizes

    lines = [
        "% Generated by python -m reporting.build; needs graphicx (reports/latex/preamble.tex). Each figure is",
        "% figures/NAME.pdf, relative to the folder of your paper's main .tex: copy reports/figures/*.pdf into a",
        "% folder figures/ beside it (or set \\graphicspath).",
    ]
    for figure in figures:
        stem = figure.stem
        wide = figure.width > COLUMN_WIDTH + 0.1
        # the kind whose name ends the file's the longest way (paper_map_vs_gflops, not map_vs_gflops)
        kind = max(
            ((k, v) for k, v in CAPTIONS.items() if stem.endswith(k)), key=lambda kv: len(kv[0]), default=("", "")
        )[1]
        kind = f"{kind} {escape(figure.note)}".strip() if figure.note else kind  # notes are plain text
        title = figure.title
        caption = (escape(title[:1].upper() + title[1:]) + ". " if title else "") + kind
        caption = latex_sizes(caption)  # 256$\times$192, as the tables write sizes
        caption = re.sub(r"(\d)-(\d)", r"\1--\2", caption)  # a range takes an en dash: 11.3--12.4
        env = "figure*" if wide else "figure"
        lines += [
            rf"\begin{{{env}}}[t]",
            r"\centering",
            rf"\includegraphics[width=\{'textwidth' if wide else 'columnwidth'}]{{figures/{stem}.pdf}}",
            rf"\caption{{{caption}}}",
            rf"\label{{fig:{label_prefix}{stem}}}",
            rf"\end{{{env}}}",
            "",
        ]
    return "\n".join(lines)
