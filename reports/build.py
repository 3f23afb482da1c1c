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
from pathlib import Path

from dsta.errors import DataError, main_guard
from dsta.io import load_yaml, write_json, write_text
from dsta.provenance import git_commit
from reports import latex
from reports.pages import dataset_page, index_page
from reports.results import (DATASETS, dataset_status, flat_metrics, load_benchmarks, load_experiments,
                             load_paper_profiles, per_joint_csv)
from reports.tables import Page


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
    write_latex(pages, paper, out / "latex")
    write_text(out / "README.md", index_page(pages, paper, bench, reference, commit, index_figures))
    metrics = flat_metrics(experiments)
    write_json(out / "metrics.json", metrics, indent=2)
    write_text(out / "per_joint.csv", per_joint_csv(experiments))
    return {"pages": [p.dataset for p in pages], "metrics": metrics,
            "missing": [m for p in pages for m in p.missing]}


def write_latex(pages: list[Page], paper: dict[str, dict], folder: Path) -> list[Path]:
    """``OUT/latex/``: each page's main table (``DATASET.tex``), its efficiency table (``DATASET-efficiency.tex``)
    and the paper-size efficiency (``paper-efficiency.tex``), booktabs, from the same rows as the Markdown."""
    from reports.tables import env_line

    files = {}
    for p in pages:
        title = {"synthetic": "Synthetic default (not PoseTrack)"}.get(p.dataset, p.dataset.replace("posetrack",
                                                                                                       "PoseTrack"))
        files[f"{p.dataset}.tex"] = latex.main_table(p, title)
        profiles = {e.key: e.profile for e in p.experiments if e.profile}
        eff = latex.experiment_efficiency(p, title, env_line(profiles)) if profiles else None
        if eff:
            files[f"{p.dataset}-efficiency.tex"] = eff
    paper_tex = latex.paper_efficiency(paper, env_line(paper)) if paper else None
    if paper_tex:
        files["paper-efficiency.tex"] = paper_tex
    for old in folder.glob("*.tex") if folder.is_dir() else []:
        if old.name not in files:
            old.unlink()
    for name, text in files.items():
        write_text(folder / name, text)
    return [folder / n for n in files]


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
