"""The robustness pages: per dataset, each experiment's val mAP with corrupted frames (the robustness stage,
``dsta.robustness``), key frame only vs every frame, beside its clean mAP (detected and GT boxes) and the box prior.

Writes ``OUT/robustness-DATASET.md``, ``OUT/latex/DATASET-robustness.tex`` (booktabs) and
``OUT/figures/DATASET-robustness.png`` (mAP per model under each corruption, against its severities where there are
several, key and all side by side, blank as its own panel) for every dataset with at least one robustness result.
"""
from __future__ import annotations

from pathlib import Path

from dsta.evaluate import load as load_split
from dsta.evaluate.bootstrap import matched, matched_split
from dsta.errors import DataError
from dsta.io import load_json, write_text
from reporting import booktabs
from reporting.results import DATASETS, Experiment

CORRUPTED = "corrupted"  # the synthetic GT images' flag the clean vs corrupted split uses (dsta.predict)
CONTROL = "blank"
HEADER = ["Experiment", "T", "Boxes", "Clean", "Clean (GT boxes)", "Box prior", "Box prior (GT boxes)",
          "mPC key", "mPC all", "rPC key", "rPC all", "Temporal recovery [95% CI]", "Blank key", "Blank all",
          "Blank gain [95% CI]"]


def load(folder: Path, experiments: list[Experiment]) -> dict[str, dict]:
    """``folder/KEY/metrics.json`` of each experiment that has one (and was not skipped)."""
    out = {}
    for e in experiments:
        path = folder / e.key / "metrics.json"
        if path.is_file():
            doc = load_json(path)
            if not doc.get("skipped"):
                out[e.key] = doc
    return out


def outside(folder: Path | None, experiments: list[Experiment]) -> list[Experiment]:
    """The outside models of ``folder``: a ``NAME/metrics.json`` that no experiment of params.yaml wrote, scored from
    prediction files (``python -m dsta.robustness_files score``: ``source: predictions``), as an experiment with its
    robustness metrics, named by its ``label``."""
    keys = {e.key for e in experiments}
    out = []
    for path in sorted(folder.glob("*/metrics.json")) if folder is not None else []:
        if path.parent.name in keys:
            continue
        doc = load_json(path)
        if doc.get("source") != "predictions":
            continue
        for field in ("label", "dataset", "num_frames"):
            if field not in doc:
                raise DataError(path, field, "missing (write it with python -m dsta.robustness_files score)")
        config = {"data": {"name": doc["dataset"]}, "model": {"name": doc["label"],
                                                              "kwargs": {"num_frames": doc["num_frames"]}}}
        out.append(Experiment(path.parent.name, config, robustness=doc, paths={"robustness": path}))
    return out


def _f(value, digits: int = 1, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def row(e: Experiment, r: dict) -> list[str]:
    """One experiment's cells (mAP in points; rPC and the recovery in % of its clean mAP)."""
    pct = (lambda v: None if v is None else 100 * v)
    rpc = r.get("rPC") or {}
    blank = r.get("blank") or {}
    prior = r.get("box_prior") or {}
    name = f"{method_label(e)} ({e.key})"  # the method as the tables name it, and the experiment it ran
    return [name, str(r.get("num_frames", e.num_frames)), "GT" if r.get("boxes") == "gt" else "detected",
            _f(r.get("clean")), _f(r.get("clean_gt_boxes")), _f(prior.get("boxes")), _f(prior.get("gt_boxes")),
            _f((r.get("mPC") or {}).get("key")), _f((r.get("mPC") or {}).get("all")), _f(pct(rpc.get("key"))),
            _f(pct(rpc.get("all"))), _ci(pct(r.get("temporal_recovery")), r.get("temporal_recovery_interval"), pct),
            _f(blank.get("key")), _f(blank.get("all")),
            _ci(r.get("blank_neighbour_gain"), r.get("blank_neighbour_gain_interval"))]


def method_label(e: Experiment) -> str:
    """The method's name (ours, or an outside model's label), ``, scratch`` for a run trained here without a
    pretrained start (an outside model scored from its predictions has no init we know of)."""
    return e.method() + (", scratch" if "train" in e.config and e.init() == "scratch" else "")


def grid_text(results: dict[str, dict]) -> str:
    """The corruptions and severities the mPC averages over, as run: ``occlusion at severity 4``."""
    grids = [r.get("grid") or {} for r in results.values()]
    corruptions = [c for c in (grids[0].get("corruptions") or []) if c != CONTROL] if grids else []
    severities = grids[0].get("severities") or [] if grids else []
    sev = (f"severity {severities[0]}" if len(severities) == 1 else
           f"severities {', '.join(map(str, severities))}" if severities else "its severities")
    return f"{' and '.join(c.replace('_', ' ') for c in corruptions) or 'no corruption'} at {sev}"


def _ci(value, bounds, scale=lambda v: v) -> str:
    """``+1.2 [-0.3, +2.8]``: a value and its bootstrap interval."""
    if value is None:
        return "–"
    if not bounds or None in bounds:
        return _f(value, signed=True)
    return f"{_f(value, signed=True)} [{_f(scale(bounds[0]), signed=True)}, {_f(scale(bounds[1]), signed=True)}]"


def runs_table(results: dict[str, dict]) -> str:
    """Every run: mAP per (corruption, severity) and mode, one row per experiment."""
    cols: list[tuple[str, int | None]] = []
    for r in results.values():
        for run in r["runs"]:
            if (run["corruption"], run["severity"]) not in cols:
                cols.append((run["corruption"], run["severity"]))
    head = ["Experiment"] + [f"{c} {s or ''} {m}".replace("  ", " ") for c, s in cols for m in ("key", "all")]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, r in results.items():
        got = {(run["corruption"], run["severity"], run["mode"]): run["mAP"] for run in r["runs"]}
        out.append("| " + " | ".join([key] + [_f(got.get((c, s, m))) for c, s in cols for m in ("key", "all")])
                   + " |")
    return "\n".join(out)


def page(dataset: str, experiments: list[Experiment], results: dict[str, dict], figure: str | None) -> str:
    grid = next(iter(results.values())).get("grid", {})
    lines = [f"# Robustness: {dataset}", "",
             "Generated by `python -m reporting.build` from `robustness/EXP/metrics.json` (the robustness stage, "
             "`python -m dsta.robustness`); do not edit.", "",
             f"Grid: corruptions {', '.join(grid.get('corruptions', []))}; severities "
             f"{', '.join(str(s) for s in grid.get('severities', []))}; modes {', '.join(grid.get('modes', []))} "
             "(`key`: only the key frame of each clip corrupted, its neighbours clean; `all`: every frame). "
             "Corruptions are applied to the full frame before cropping, seeded by image, corruption and severity "
             "(`dsta/data/corrupt.py`).", "",
             "mPC: mean mAP over the corruptions and severities (blank left out); rPC = mPC / clean (%). "
             "**Temporal recovery** = rPC(key) − rPC(all), in % of clean mAP: a model that uses its neighbour frames "
             "loses less when only the key frame is corrupted; a single-frame model's is 0 exactly (its clip is the "
             "key frame). Blank: the frame replaced by its mean colour; with every frame blank a model has only its "
             "box, and one that learned the image scores far below the box prior (it never saw a blank frame in "
             "training); **blank gain** = blank key − blank all (mAP points) is what its neighbours gave it. "
             "Box prior: the training set's mean pose, normalised to the box, placed in each box (no image; "
             "`dsta/box_prior.py`, the `box_prior` stage: one per dataset), the chance level of the table.", "",
             "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for e in experiments:
        if e.key in results:
            lines.append("| " + " | ".join(row(e, results[e.key])) + " |")
    lines += ["", "## Every run (mAP)", "", runs_table({e.key: results[e.key] for e in experiments
                                                          if e.key in results})]
    if figure:
        lines += ["", f"![val mAP under each corruption, key frame vs every frame corrupted]({figure})"]
    return "\n".join(lines) + "\n"


LATEX_HEADER = {0: "Method", 1: "$T$", 3: "Clean", 4: "GT boxes", 5: "Prior", 6: "Prior (GT)", 7: "mPC key",
                8: "mPC all", 11: "Recovery (\\%)", 12: "Blank key", 13: "Blank all", 14: "Blank gain"}  # page column


def _ci_cell(cell: str) -> str:
    """``+16.3 [+9.7, +21.9]`` -> the interval in small type, so the table fits the text width."""
    value, _, rest = cell.partition(" [")
    return booktabs.escape(value) + (rf" {{\scriptsize [{booktabs.escape(rest)}}}" if rest else "")


def latex(dataset: str, experiments: list[Experiment], results: dict[str, dict]) -> str:
    shown = [e for e in experiments if e.key in results]
    rows = [row(e, results[e.key]) for e in shown]
    priors = {(r[5], r[6]) for r in rows}
    one_prior = len(priors) == 1  # one val set, one prior: said once, in the caption, not in two columns
    cols = [c for c in LATEX_HEADER if not (one_prior and c in (5, 6))]  # the paste-ready subset: rPC is on the page
    prior = (f"the box prior (the chance level: the mean training pose in each box) is {rows[0][5]} with the "
             f"evaluation's boxes and {rows[0][6]} with GT boxes" if one_prior and rows else
             "the box prior with either boxes (the chance level: the mean training pose in each box)")
    body = []
    for e, r in zip(shown, rows):
        r[0] = method_label(e)  # the experiment's key stays on the Markdown page
        body.append([_ci_cell(r[i]) if i in (11, 14) else booktabs.escape(r[i]) for i in cols])
    return booktabs.tabular([LATEX_HEADER[c] for c in cols], body, "@{}l" + "r" * (len(cols) - 1) + "@{}",
                            booktabs.escape(f"Robustness on {dataset}: clean mAP (the evaluation's boxes and GT "
                                            f"boxes; {prior}), mPC") + r"~\cite{michaelis2019}" +
                            booktabs.escape(f" over {grid_text(results)} of ImageNet-C-style corruptions") +
                            r"~\cite{hendrycks2019}" +
                            booktabs.escape(", with only the key frame or every frame corrupted, the temporal "
                                            "recovery (rPC key minus rPC all, % of clean mAP) and the blank-frame "
                                            "control (mAP with the key frame or every frame blank, and their "
                                            "difference); 95% paired bootstrap intervals over val sequences in "
                                            "brackets."),
                            f"tab:robustness-{dataset}", colsep="2.5pt")


def figure(experiments: list[Experiment], results: dict[str, dict], path: Path, title: str) -> None:
    """One panel per corruption: mAP vs severity per model where the grid has several severities (key frame only:
    solid line, filled marker; every frame: dashed, open marker), the models side by side where it has one (no
    severity axis for a single value: the severity is in the panel's title), the blank control as bars (key: plain,
    all: hatched); the box prior of the same boxes as the chance line; one legend of the models beside."""
    from reporting import plots as pl

    with pl.plt.rc_context(pl.STYLE):  # the report's style: TrueType fonts in the PDF, its sizes
        _figure(experiments, results, path, title)


def _figure(experiments: list[Experiment], results: dict[str, dict], path: Path, title: str) -> None:
    from reporting import plots as pl

    plt = pl.plt
    corruptions = []
    for r in results.values():
        for run in r["runs"]:
            if run["corruption"] not in corruptions:
                corruptions.append(run["corruption"])
    shown = [e for e in experiments if e.key in results]
    colors, names = pl._colors(shown), pl._names(shown)
    prior = pl.box_prior(shown)
    line_panels = 0  # panels with a severity axis (lines over several severities)
    fig, axes = plt.subplots(1, len(corruptions), figsize=(2.6 * len(corruptions) + 1.6, 2.8), squeeze=False)
    for ax, corruption in zip(axes[0], corruptions):
        severities = sorted({run["severity"] for r in results.values() for run in r["runs"]
                             if run["corruption"] == corruption and run["severity"] is not None})
        by_model = corruption == CONTROL or len(severities) <= 1  # one value per model and mode: side by side
        for i, e in enumerate(shown):
            runs = [run for run in results[e.key]["runs"] if run["corruption"] == corruption]
            for mode, style, marker in (("key", "-", "o"), ("all", "--", "s")):
                pts = sorted((run["severity"] or 0, run["mAP"]) for run in runs if run["mode"] == mode)
                x = i + (-0.17 if mode == "key" else 0.17)
                if corruption == CONTROL:
                    ax.bar(x, pts[0][1] if pts else 0, width=0.34, color=colors.get(e.key),
                           hatch=None if mode == "key" else "///", alpha=1.0 if mode == "key" else 0.55)
                elif by_model:
                    if pts:
                        ax.plot([x], [pts[0][1]], ls="", marker=marker, color=colors.get(e.key), markersize=4.5,
                                markerfacecolor=colors.get(e.key) if mode == "key" else "white",
                                label=names[e.key] if mode == "key" else None)
                else:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], style, marker=marker, color=colors.get(e.key),
                            markerfacecolor=colors.get(e.key) if mode == "key" else "white", markersize=4,
                            label=names[e.key] if mode == "key" else None)
        name = corruption.replace("_", " ")
        if corruption == CONTROL:
            ax.set_title(name + ": key frame blank (plain) vs every frame (hatched)", fontsize=7)
        elif by_model:
            ax.set_title(f"{name}, severity {severities[0]}" if severities else name, fontsize=7)
        else:
            line_panels += 1
            ax.set_title(name, fontsize=7)
            ax.set_xlabel("severity")
            ax.set_xticks(severities)
            ax.set_xlim(min(severities) - 0.6, max(severities) + 0.6)
        if by_model:
            ax.set_xticks(range(len(shown)), [names[e.key] for e in shown], rotation=55, ha="right", fontsize=6)
            ax.set_xlim(-0.6, len(shown) - 0.4)
        if prior is not None:
            pl.chance_line(ax, prior["mAP"], "box prior")
        ax.set_ylim(bottom=0)
        ax.set_ylabel("val mAP")
    handles, labels = [], []
    for ax in axes[0]:
        for h, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(h)
                labels.append(label)
    handles += [pl.plt.Line2D([], [], color="0.3", ls="-" if line_panels else "", marker="o", markersize=4),
                pl.plt.Line2D([], [], color="0.3", ls="--" if line_panels else "", marker="s",
                              markerfacecolor="white", markersize=4)]
    labels += ["key frame only", "every frame"]
    fig.legend(handles, labels, loc="center right", fontsize=6, frameon=False)
    text = ("Lines join the severities (solid: key frame only, dashed: every frame)." if line_panels else
            "One severity per corruption (in each panel's title), so the models stand side by side."
            if any(c != CONTROL for c in corruptions) else "")
    if prior is not None:
        text += f" Dashed: the box prior ({prior['mAP']:.1f}), the chance level."
    pl.note(path, text.strip())
    fig.suptitle(f"Robustness on {title}: key frame only vs every frame corrupted")
    fig.tight_layout(rect=(0, 0, 1 - 1.5 / fig.get_figwidth(), 1))
    pl._save(fig, path)


def attach(experiments: list[Experiment], folder: Path | None, evals: Path, data: Path) -> None:
    """Give each experiment its robustness metrics (``folder/KEY/metrics.json``) and, on the synthetic set, the
    evaluator's matched arrays of its val predictions (``evals/KEY/predictions`` against the GT it was scored on),
    which the claims' paired bootstrap re-weights."""
    results = load(folder, experiments) if folder is not None else {}
    for e in experiments:
        e.robustness = results.get(e.key)
        preds = evals / e.key / "predictions"
        gt = data / e.dataset / e.config["data"].get("val_ann", "")
        if e.dataset == "synthetic" and e.evaluation and preds.is_dir() and gt.is_dir():
            loaded = load_split(gt, preds)
            e.matched = matched(loaded)
            e.matched_split = matched_split(loaded, CORRUPTED)


def write(out: Path, experiments: list[Experiment], plots: bool = True) -> list[Path]:
    """A page per dataset (saying so where nothing ran), and the LaTeX table and figure of each with results."""
    written = []
    for dataset in DATASETS:
        exps = [e for e in experiments if e.dataset == dataset and e.robustness]
        res = {e.key: e.robustness for e in exps}
        if not res:
            text = f"# Robustness: {dataset}\n\nNo robustness results for this dataset in this run.\n"
        else:
            fig = None
            if plots:
                figure(exps, res, out / "figures" / f"{dataset}-robustness.png", dataset)
                fig = f"figures/{dataset}-robustness.png"
                written.append(out / fig)
            text = page(dataset, exps, res, fig)
            written.append(out / "latex" / f"{dataset}-robustness.tex")
            write_text(written[-1], latex(dataset, exps, res))
        written.append(out / f"robustness-{dataset}.md")
        write_text(written[-1], text)
    return written
