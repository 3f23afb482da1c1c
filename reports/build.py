"""The report stage: the pipeline's results as Markdown tables laid out like the papers', plus plots.

``python -m reports.build --params params.yaml --reference reports/reference.yaml --runs runs --eval eval
--profiles profiles --benchmarks benchmarks/results.json --data data --out reports``

Writes ``OUT/README.md`` (the index), one page per dataset (``synthetic.md``, ``posetrack17.md``, ...),
``OUT/figures/*.png``, ``OUT/metrics.json`` (one flat record per experiment, for ``dvc metrics diff``) and
``OUT/per_joint.csv`` (for ``dvc plots``).

Rows are **reproduced** (an experiment of this run: its evaluate, train and profile outputs) or **reported** (a
published figure from ``reference.yaml``, with its citation). A reproduced row whose experiment a reported row names
(``match``) gets a Δ row beneath it. Every reproduced row has a footnote with its dataset, config, device and commit.
A missing result (an experiment not run yet, a profile not made) leaves its cells empty ("–") and is listed under
"Missing", never filled in.
"""
from __future__ import annotations

import argparse
import csv
import io
import math
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsta import keypoints as kp
from dsta.errors import DataError, main_guard
from dsta.data.marker import not_configured
from dsta.io import load_json, load_yaml, write_json, write_text
from dsta.provenance import git_commit

DATASETS = ("synthetic", "posetrack17", "posetrack18", "posetrack21")
GROUPS = [c for c in kp.POSEVAL_COLUMNS if c != "Total"]  # Head, Shou, Elb, Wri, Hip, Knee, Ankl
AP_COLUMNS = [*GROUPS, "Mean"]
DASH = "–"
BACKBONE_NAMES = {"resnet18": "ResNet-18", "resnet34": "ResNet-34", "resnet50": "ResNet-50", "resnet101": "ResNet-101",
                  "hrnet_w32": "HRNet-W32", "hrnet_w48": "HRNet-W48", "regnetx_002": "RegNetX-200MF",
                  "resnet10t": "ResNet-10-T"}
METHOD_NAMES = {"dsta": "DSTA", "rle": "RLE", "heatmap_single": "SimpleBaseline", "dcpose": "DCPose"}


# -- reading the pipeline's outputs ----------------------------------------------------------------------------------
def _optional_json(path: Path) -> dict | None:
    return load_json(path) if path.is_file() else None


@dataclass
class Experiment:
    """Everything the pipeline produced for one experiment of params.yaml (None where it has not run)."""

    key: str
    config: dict
    evaluation: dict | None = None
    training: dict | None = None
    profile: dict | None = None
    skipped: str | None = None  # why train/evaluate skipped it (dataset not fetched); then there is no evaluation

    @property
    def dataset(self) -> str:
        return self.config["data"]["name"]

    @property
    def model(self) -> str:
        return self.config["model"]["name"]

    @property
    def kwargs(self) -> dict:
        return self.config["model"]["kwargs"]

    @property
    def kind(self) -> str:
        """``"heatmap"`` or ``"regression"``, from the config: a heatmap model's config has a ``heatmap`` section, a
        regression model's a ``loss`` section (tests/test_config.py checks this against the registry), so the report
        learns it without torch or the models."""
        return "heatmap" if "heatmap" in self.config["model"] else "regression"

    @property
    def num_frames(self) -> int:
        return int(self.kwargs.get("num_frames", 1))

    def method(self) -> str:
        backbone = self.kwargs.get("backbone", "")
        name = METHOD_NAMES.get(self.model, self.model)
        if self.model == "heatmap_single" and backbone.startswith("hrnet"):
            name = "HRNet"
        return name

    def backbone(self) -> str:
        b = self.kwargs.get("backbone", "")
        return BACKBONE_NAMES.get(b, b)

    def input_size(self) -> str:
        w, h = self.config["data"]["input_size"]
        return f"{h}x{w}"


def load_experiments(params: Path, runs: Path, evals: Path, profiles: Path) -> list[Experiment]:
    doc = load_yaml(params) or {}
    exps = doc.get("experiments")
    if not isinstance(exps, dict) or not exps:
        raise DataError(params, "experiments", "no experiments")
    out = []
    for key, cfg in exps.items():
        evaluation = _optional_json(evals / key / "metrics.json")
        training = _optional_json(runs / key / "metrics.json")
        skipped = (evaluation or {}).get("skipped") or (training or {}).get("skipped")
        out.append(Experiment(key, cfg, None if skipped else evaluation, training,
                              _optional_json(profiles / f"{key}.json"), skipped))
    return out


def load_paper_profiles(profiles: Path) -> dict[str, dict]:
    folder = profiles / "paper"
    return {p.stem: load_json(p) for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}


def load_benchmarks(path: Path) -> list[dict]:
    """pytest-benchmark's ``--benchmark-json`` output as rows (name, median ms, IQR, rounds, extra info)."""
    if not path.is_file():
        return []
    doc = load_json(path)
    rows = []
    for b in doc.get("benchmarks", []):
        s = b["stats"]
        rows.append({"name": b["name"], "group": b.get("group"), "median_ms": s["median"] * 1e3,
                     "iqr_ms": s["iqr"] * 1e3, "min_ms": s["min"] * 1e3, "rounds": s["rounds"],
                     "extra": b.get("extra_info", {})})
    machine = doc.get("machine_info", {})
    for r in rows:
        r["machine"] = f"{machine.get('cpu', {}).get('brand_raw', machine.get('processor', '?'))}"
    return rows


def dataset_status(data: Path, name: str) -> dict:
    folder = data / name
    marker = not_configured(folder)
    if marker is not None:
        return {"configured": False, **marker}
    summary = _optional_json(folder / "dataset.json")
    return {"configured": folder.is_dir(), **(summary or {})}


# -- numbers -> cells ------------------------------------------------------------------------------------------------
def fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    return f"{value:.{digits}f}"


def signed(value: float | None, digits: int = 1) -> str:
    return DASH if value is None else f"{value:+.{digits}f}"


def ap_values(evaluation: dict | None) -> list[float | None]:
    """Head .. Ankl and the mean, from an evaluation (poseval's columns)."""
    if not evaluation:
        return [None] * len(AP_COLUMNS)
    return [evaluation.get(g) for g in GROUPS] + [evaluation.get("Total")]


def delta(reproduced: list, reported: list) -> list[float | None]:
    return [None if a is None or b is None else a - b for a, b in zip(reproduced, reported)]


def mode_entry(profile: dict | None, mode: str) -> dict:
    """A profile's measurements in one mode (``clip`` or ``streaming``); empty when not profiled."""
    return (profile or {}).get("modes", {}).get(mode, {})


def gflops_cell(profile: dict | None, mode: str = "clip") -> str:
    entry = mode_entry(profile, mode).get("gflops")
    if not entry:
        return DASH
    return f"{entry['total']:.3g} ({entry['backbone']:.3g} + {entry['head']:.2g})"


def params_cell(profile: dict | None) -> str:
    return DASH if not profile else f"{profile['params']['total'] / 1e6:.2f} M"


def mem_cell(profile: dict | None, mode: str = "clip") -> str:
    mem = mode_entry(profile, mode).get("memory_forward", {}).get("peak_mib")
    return DASH if mem is None else f"{mem:.0f} MiB"


def fps_cell(profile: dict | None, mode: str = "clip") -> str:
    thr = mode_entry(profile, mode).get("throughput")
    return DASH if not thr else f"{thr['fps']:.0f}"


def _short(value: Any) -> Any:
    return f"{value:.4g}" if isinstance(value, float) else value


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# -- the pages -------------------------------------------------------------------------------------------------------
MAIN_HEADER = ["Row", "Method", "Backbone", "T", "Input", *AP_COLUMNS, "GFLOPs (backbone + head)", "Params",
               "Peak mem", "FPS"]


@dataclass
class Page:
    dataset: str
    experiments: list[Experiment]
    reported: list[dict]
    status: dict
    commit: str
    notes: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def provenance(e: Experiment, commit: str) -> str:
    env = (e.profile or {}).get("env", {})
    ev = e.evaluation or {}
    kw = ", ".join(f"{k}={v}" for k, v in e.kwargs.items() if k not in ("pretrained", "joint_groups"))
    device = env.get("device")
    train = e.config.get("train", {})
    return (f"`{e.key}`: dataset {e.dataset} (val, {ev.get('num_frames', '?')} labeled frames, boxes "
            f"{ev.get('boxes', e.config['data'].get('boxes'))}); config `experiments.{e.key}` of params.yaml "
            f"({e.model}: {kw}; {train.get('epochs')} epochs, batch {train.get('batch_size')}, lr {train.get('lr')}); "
            + (f"profiled on {device}, torch {env['torch']}, {env['dtype']}, {env['threads']} threads; " if device
               else "not profiled; ") + f"commit {env.get('commit') or commit}.")


def main_table(page: Page) -> tuple[str, list[str]]:
    rows, notes = [], []
    reported_by_match = {r["match"]: r for r in page.reported if r.get("match")}
    for n, e in enumerate(page.experiments, 1):
        ap = ap_values(e.evaluation)
        if e.skipped:
            page.missing.append(f"`{e.key}`: {e.skipped}")
        elif e.evaluation is None:
            page.missing.append(f"`{e.key}`: no evaluation yet (eval/{e.key}/metrics.json)")
        if e.profile is None:
            page.missing.append(f"`{e.key}`: no profile yet (profiles/{e.key}.json)")
        rows.append([f"reproduced [{n}]", e.method(), e.backbone(), e.num_frames, e.input_size(),
                     *[fmt(v) for v in ap], gflops_cell(e.profile), params_cell(e.profile), mem_cell(e.profile),
                     fps_cell(e.profile)])
        notes.append(f"[{n}] {provenance(e, page.commit)}")
        ref = reported_by_match.get(e.key)
        if ref is not None:
            rows.append([f"Δ vs reported ({ref['cite']})", "", "", "", "",
                         *[signed(v) for v in delta(ap, ref["ap"])], "", "", "", ""])
    for r in page.reported:
        rows.append([f"reported ({r['cite']})", r["method"], r.get("backbone") or DASH, r.get("T") or DASH,
                     r.get("input") or DASH, *[fmt(v) for v in r["ap"]], DASH, DASH, DASH, DASH])
    return table(MAIN_HEADER, rows), notes


def split_table(experiments: list[Experiment]) -> str:
    rows = []
    for e in experiments:
        split = (e.evaluation or {}).get("split") or {}
        clean, corrupted = split.get("false") or {}, split.get("true") or {}
        total = (e.evaluation or {}).get("Total")
        c, k = clean.get("Total"), corrupted.get("Total")
        rows.append([e.key, e.method(), e.num_frames, fmt(total), f"{fmt(c)} ({clean.get('num_frames', DASH)})",
                     f"{fmt(k)} ({corrupted.get('num_frames', DASH)})",
                     signed(None if c is None or k is None else k - c)])
    return table(["Experiment", "Method", "T", "mAP", "clean (frames)", "corrupted (frames)", "corrupted − clean"],
                 rows)


def ablation_table(experiments: list[Experiment]) -> str:
    rows = []
    for e in sorted((e for e in experiments if e.model == "dsta"), key=lambda e: e.num_frames):
        split = (e.evaluation or {}).get("split") or {}
        stream = "streaming" if mode_entry(e.profile, "streaming") else "clip"
        lat = mode_entry(e.profile, stream).get("latency", {}).get("median_ms")
        rows.append([e.num_frames, fmt((e.evaluation or {}).get("Total")),
                     fmt((split.get("false") or {}).get("Total")), fmt((split.get("true") or {}).get("Total")),
                     gflops_cell(e.profile, "clip"), gflops_cell(e.profile, stream), fmt(lat, 2)])
    return table(["T", "mAP", "clean", "corrupted", "GFLOPs clip", "GFLOPs per frame, streaming",
                  "latency per frame, streaming (ms, bs 1)"], rows)


def training_table(experiments: list[Experiment]) -> str:
    rows = []
    for e in experiments:
        t = e.training or {}
        rows.append([e.key, t.get("epochs", DASH), fmt(t.get("untrained_val_mAP")), fmt((t.get("val") or {}).get(
            "Total")), fmt(t.get("train_seconds"), 0)])
    return table(["Experiment", "Epochs", "val mAP untrained", "val mAP trained", "train seconds"], rows)


def efficiency_rows(profiles: dict[str, dict]) -> list[list[str]]:
    rows = []
    for key, p in profiles.items():
        for mode, entry in p["modes"].items():
            g = entry.get("gflops") or {}
            lat, thr = entry.get("latency", {}), entry.get("throughput", {})
            mem = entry.get("memory_forward", {}).get("peak_mib")
            rows.append([key, mode, entry["backbone_passes"], fmt(g.get("total"), 3), fmt(g.get("backbone"), 3),
                         fmt(g.get("head"), 4), f"{p['params']['total'] / 1e6:.2f}",
                         f"{fmt(lat.get('median_ms'), 1)} [{fmt(lat.get('p25_ms'), 1)}, {fmt(lat.get('p75_ms'), 1)}]",
                         f"{fmt(thr.get('fps'), 1)} @ {thr.get('batch', DASH)}",
                         fmt(mem, 0), fmt((p.get("memory_train_step") or {}).get("peak_mib"), 0)])
    return rows


EFFICIENCY_HEADER = ["Model", "Mode", "Backbone passes", "GFLOPs", "backbone", "head", "Params (M)",
                     "Latency bs1 ms, median [p25, p75]", "FPS @ batch", "Fwd peak MiB", "Train-step peak MiB"]


def efficiency_table(profiles: dict[str, dict]) -> str:
    return table(EFFICIENCY_HEADER, efficiency_rows(profiles))


def env_line(profiles: dict[str, dict]) -> str:
    envs = {(p["env"]["device"], p["env"]["torch"], p["env"]["dtype"], p["env"]["threads"]) for p in profiles.values()}
    return "; ".join(f"{d}, torch {t}, {dt}, {th} threads" for d, t, dt, th in sorted(envs)) or "not profiled"


def streaming_ratio(paper: dict[str, dict]) -> str | None:
    """DSTA-R50-T3 streaming GFLOPs per frame over RLE-R50's (the issue's 1.05x target)."""
    try:
        dsta = paper["dsta_r50_t3"]["modes"]["streaming"]["gflops"]["total"]
        rle = paper["rle_r50"]["modes"]["clip"]["gflops"]["total"]
    except KeyError:
        return None
    return f"{dsta / rle:.4f}"


def dataset_page(page: Page, figures: dict[str, str], paper: dict[str, dict]) -> str:
    title = {"synthetic": "Synthetic (the embedded default)"}.get(page.dataset, page.dataset.replace(
        "posetrack", "PoseTrack"))
    out = [f"# {title}", ""]
    if page.dataset != "synthetic":
        if not page.status.get("configured"):
            out += [f"**Not configured here**: {page.status.get('reason', 'no data')}. Only reported rows are shown; "
                    f"run `python -m dsta.config experiments=paper_{page.dataset}` and `dvc repro` on a GPU machine "
                    f"to add reproduced rows.", ""]
    else:
        out += ["Synthetic PoseTrack-format videos generated by `python -m dsta.data.synthetic` (params `synthetic`), "
                "tiny CPU configs. These numbers test the pipeline and compare the models at equal, small budgets; "
                "they are **not** comparable with PoseTrack figures, and no published row exists for them.", ""]
    out += ["AP at PCKh@0.5 per joint group on the val split (this project's poseval-identical evaluator), GFLOPs "
            "for one key-frame prediction in clip mode (T backbone passes), one multiply-add = one FLOP; peak memory "
            "of a forward pass at batch 1; FPS = predictions per second at the profile batch.", ""]
    main, notes = main_table(page)
    out += [main, "", *[f"{n}  " for n in notes], ""]
    if page.dataset == "synthetic" and page.experiments:
        out += ["## Clean vs corrupted frames", "",
                "Corrupted = synthetic frames with motion blur, defocus or an occluder crossing the person "
                "(`corrupted` image flag); mAP on each subset of the labeled val frames.", "",
                split_table(page.experiments), "", "## T ablation (DSTA)", "", ablation_table(page.experiments), "",
                "## Training", "", training_table(page.experiments), ""]
    exp_profiles = {e.key: e.profile for e in page.experiments if e.profile}
    if exp_profiles:
        out += ["## Efficiency of these models (clip vs streaming)", "",
                f"Measured with `python -m benchmarks.profile` on {env_line(exp_profiles)}.", "",
                efficiency_table(exp_profiles), ""]
    if paper and page.dataset != "synthetic":
        out += ["## Paper-size efficiency on this machine", "",
                "See the [index](README.md#paper-size-efficiency) for the 256x192 profiles of every model.", ""]
    for name, path in figures.items():
        out += [f"![{name}]({path})", ""]
    if page.missing:
        out += ["## Missing", "", *[f"- {m}" for m in page.missing], ""]
    return "\n".join(out)


def index_page(pages: list[Page], paper: dict[str, dict], benchmarks: list[dict], reference: dict, commit: str,
               figures: dict[str, str]) -> str:
    out = ["# dsta-bench reports", "",
           f"Built by `python -m reports.build` (the `report` stage of `dvc repro`) at commit {commit}, on "
           f"{platform.node() or 'this machine'}. Regenerate with `make repro`; never edit by hand.", "",
           "| Page | Data | Reproduced rows | Reported rows |", "|---|---|---|---|"]
    for p in pages:
        data = ("synthetic default" if p.dataset == "synthetic" else
                "configured" if p.status.get("configured") else "not configured")
        reproduced = sum(1 for e in p.experiments if e.evaluation)
        out.append(f"| [{p.dataset}]({p.dataset}.md) | {data} | {reproduced} | {len(p.reported)} |")
    out += [""]
    if paper:
        ratio = streaming_ratio(paper)
        head = (mode_entry(paper.get("dsta_r50_t3"), "clip").get("gflops") or {}).get("head")
        out += ["## Paper-size efficiency", "",
                f"Every model at its paper configuration, 256x192 input, profiled here (`paper_profile` stage) on "
                f"{env_line(paper)}. GFLOPs count one multiply-add as one FLOP, with fvcore plus this project's "
                f"handles for attention and deformable convolution.", "", efficiency_table(paper), ""]
        facts = []
        if head is not None:
            facts.append(f"DSTA-R50 (T=3) head (everything after the backbone, T joint embeddings included): "
                         f"{head:.4f} GFLOPs per prediction; the paper gives about 0.02 "
                         f"[{reference.get('efficiency', [{}])[0].get('cite', 'dsta')}].")
        if ratio:
            facts.append(f"DSTA-R50 (T=3) streaming GFLOPs per frame / RLE-R50 GFLOPs per frame: {ratio}.")
        if "dcpose_hrnet_w48" in paper:
            dc = paper["dcpose_hrnet_w48"]["modes"]
            facts.append(f"DCPose-HRNet-W48: {dc['clip']['gflops']['total']:.1f} GFLOPs per prediction in clip mode, "
                         f"{dc.get('streaming', dc['clip'])['gflops']['total']:.1f} streaming (head "
                         f"{dc['clip']['gflops']['head']:.2f}).")
        uncounted = sorted({op for p in paper.values() for e in p["modes"].values()
                            for op in (e.get("gflops") or {}).get("unsupported_ops", {})})
        if uncounted:
            facts.append(f"Not counted (element-wise or shape ops, fvcore's convention; listed per model in "
                         f"profiles/paper/*.json): {', '.join(f'`{op}`' for op in uncounted)}.")
        out += [*[f"- {f}" for f in facts], ""]
    if benchmarks:
        out += ["## Benchmarks (`pytest benchmarks --benchmark-only`)", "",
                f"pytest-benchmark on {benchmarks[0]['machine']}; median and interquartile range of the rounds.", "",
                table(["Benchmark", "Median ms", "IQR ms", "Rounds", "Details"],
                      [[b["name"], fmt(b["median_ms"], 2), fmt(b["iqr_ms"], 2), b["rounds"],
                        ", ".join(f"{k}={_short(v)}" for k, v in b["extra"].items() if k not in ("commit", "device"))]
                       for b in benchmarks]), ""]
    out += ["## Figures", ""] + [f"![{name}]({path})" for name, path in figures.items()] + [""]
    out += ["## Sources of the reported rows", ""] + [f"- **{k}**: {v}" for k, v in reference["citations"].items()]
    out += ["", *[f"- {n}" for n in reference.get("notes", [])], ""]
    return "\n".join(out)


def flat_metrics(experiments: list[Experiment]) -> dict:
    out = {}
    for e in experiments:
        rec: dict[str, Any] = {}
        if e.evaluation:
            rec["mAP"] = e.evaluation.get("Total")
            for g in GROUPS:
                rec[f"AP_{g}"] = e.evaluation.get(g)
            split = e.evaluation.get("split") or {}
            if split:
                rec["mAP_clean"] = (split.get("false") or {}).get("Total")
                rec["mAP_corrupted"] = (split.get("true") or {}).get("Total")
        if e.profile:
            clip = e.profile["modes"]["clip"]
            rec.update(params=e.profile["params"]["total"], gflops=(clip.get("gflops") or {}).get("total"),
                       fps=clip["throughput"]["fps"], latency_ms=clip["latency"]["median_ms"],
                       peak_mem_mib=(clip.get("memory_forward") or {}).get("peak_mib"))
            if "streaming" in e.profile["modes"]:
                rec["gflops_streaming"] = (e.profile["modes"]["streaming"].get("gflops") or {}).get("total")
        if e.training and "train_seconds" in e.training:
            rec["train_seconds"] = e.training["train_seconds"]
        out[e.key] = rec
    return out


def per_joint_csv(experiments: list[Experiment]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["experiment", "joint", "AP"])
    for e in experiments:
        for name, ap in zip(kp.POSEVAL_JOINT_NAMES, (e.evaluation or {}).get("per_joint") or []):
            w.writerow([e.key, name, f"{ap:.4f}"])
    return buf.getvalue()


def build(params: Path, reference_path: Path, runs: Path, evals: Path, profiles: Path, benchmarks_path: Path,
          data: Path, out: Path, plots: bool = True) -> dict:
    reference = load_yaml(reference_path)
    for key in ("citations", "columns"):
        if key not in (reference or {}):
            raise DataError(reference_path, key, "missing")
    experiments = load_experiments(params, runs, evals, profiles)
    paper = load_paper_profiles(profiles)
    bench = load_benchmarks(benchmarks_path)
    commit = git_commit() or "unknown"
    pages = [Page(ds, [e for e in experiments if e.dataset == ds], reference.get(ds, []), dataset_status(data, ds),
                  commit) for ds in DATASETS]
    figures: dict[str, dict[str, str]] = {p.dataset: {} for p in pages}
    index_figures: dict[str, str] = {}
    if plots:
        from reports import plots as pl

        fig_dir = out / "figures"
        for p in pages:
            done = [e for e in p.experiments if e.evaluation]
            if done:
                figures[p.dataset] = pl.experiment_figures(p.dataset, done, fig_dir, data / p.dataset, evals)
        if paper:
            index_figures = pl.paper_figures(paper, reference, fig_dir)
    for p in pages:
        write_text(out / f"{p.dataset}.md", dataset_page(p, figures[p.dataset], paper))
    write_text(out / "README.md", index_page(pages, paper, bench, reference, commit, index_figures))
    metrics = flat_metrics(experiments)
    write_json(out / "metrics.json", metrics, indent=2)
    write_text(out / "per_joint.csv", per_joint_csv(experiments))
    return {"pages": [p.dataset for p in pages], "metrics": metrics,
            "missing": [m for p in pages for m in p.missing]}


@main_guard
def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--reference", default="reports/reference.yaml")
    p.add_argument("--runs", default="runs")
    p.add_argument("--eval", default="eval")
    p.add_argument("--profiles", default="profiles")
    p.add_argument("--benchmarks", default="benchmarks/results.json")
    p.add_argument("--data", default="data")
    p.add_argument("--out", default="reports")
    p.add_argument("--no-plots", action="store_true")
    a = p.parse_args(argv)
    result = build(Path(a.params), Path(a.reference), Path(a.runs), Path(a.eval), Path(a.profiles),
                   Path(a.benchmarks), Path(a.data), Path(a.out), plots=not a.no_plots)
    print(f"wrote {a.out}/README.md and {', '.join(result['pages'])}" +
          (f"; missing: {len(result['missing'])}" if result["missing"] else ""))
    return result


if __name__ == "__main__":
    main()
