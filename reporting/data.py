"""The report's data, read and computed once: every output of the pipeline the report shows (``reporting.results``),
one page per dataset with its title and what it is missing, and the paper's claims (``reporting.claims``). Frozen:
the rows (``reporting.rows``) and the renderers (Markdown, LaTeX, figures) read it and never change it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dsta.core.errors import DataError
from dsta.core.io import load_json, load_yaml
from dsta.core.provenance import git_commit
from reporting.claims import Claim, claims
from reporting.results import (
    DATASETS,
    Experiment,
    dataset_status,
    load_benchmarks,
    load_experiments,
    load_paper_profiles,
    load_released,
    load_side_by_side,
    load_timings,
    outside_models,
    with_robustness,
)


@dataclass(frozen=True)
class BoxPrior:
    """A dataset's chance level: the box prior's poseval columns with the evaluation's boxes and with GT boxes
    (``columns["boxes"]``, ``columns["gt_boxes"]``), the boxes it was scored with (``gt`` or a detection file), the
    input size of its crops, where it was read and its provenance."""

    columns: dict
    boxes: str
    input_size: str
    source: str
    provenance: dict | None


@dataclass(frozen=True)
class Page:
    """One dataset's page: its experiments of this run, the released checkpoints evaluated here, the literature's
    rows (``reports/reference.yaml``), the dataset's status, and what is missing (listed, never filled in)."""

    dataset: str
    title: str
    experiments: tuple[Experiment, ...]
    reported: tuple[dict, ...]
    status: dict
    released: tuple[Experiment, ...] = ()  # released checkpoints evaluated here (no training)
    missing: tuple[str, ...] = ()
    box_prior: BoxPrior | None = None


@dataclass(frozen=True)
class ReportData:
    """Everything a report shows. ``timings``: the interleaved timing runs by params section; ``side_by_side`` and
    ``release_side_by_side``: the time ratios measured side by side (DSTA streaming / RLE, ours / the release);
    ``outside``: models scored from prediction files (robustness pages only); ``links``: the other reports beside
    this one (``OUT/*/about.yaml``)."""

    pages: tuple[Page, ...]
    experiments: tuple[Experiment, ...]
    paper: dict
    timings: dict
    benchmarks: tuple[dict, ...]
    side_by_side: tuple[dict, ...]
    release_side_by_side: tuple[dict, ...]
    claims: tuple[Claim, ...]
    reference: dict
    commit: str
    outside: tuple[Experiment, ...] = ()
    links: tuple[str, ...] = ()

    def page(self, dataset: str) -> Page:
        return next(p for p in self.pages if p.dataset == dataset)


def dataset_title(dataset: str, status: dict, params: dict) -> str:
    """A page's title: PoseTrack17 ..., or the synthetic set with its size (from its dataset.json, else params)."""
    if dataset != "synthetic":
        return dataset.replace("posetrack", "PoseTrack")
    cfg = status.get("config") or params.get("synthetic") or {}
    if cfg.get("train_sequences"):
        return f"Synthetic ({cfg['train_sequences']} train / {cfg.get('val_sequences', '?')} val videos)"
    return "Synthetic"


def missing(released: list[Experiment], experiments: list[Experiment]) -> tuple[str, ...]:
    """What a page cannot show yet, one line each: a skipped experiment (why), one not evaluated, one not profiled."""
    out = []
    for e in [*released, *experiments]:
        if e.skipped:
            out.append(f"`{e.key}`: {e.skipped}")
        elif e.evaluation is None:
            out.append(f"`{e.key}`: no evaluation yet (eval/{e.key}/metrics.json)")
        if e.profile is None and not e.released:
            out.append(f"`{e.key}`: no profile yet (profiles/{e.key}.json)")
    return tuple(out)


def box_prior(dataset: str, experiments: list[Experiment], folder: Path | None) -> BoxPrior | None:
    """The chance level of a page: ``folder/DATASET.json`` (the ``box_prior`` stage's file) where ``folder`` is given
    and holds one, else the copy the robustness stage's metrics carry (the page's first experiment that has one;
    every experiment of a dataset scores the same prior); None without either. A file scored with other boxes than
    the page's evaluations is refused, naming the file and field."""
    path = folder / f"{dataset}.json" if folder is not None else None
    if path is not None and path.is_file():
        doc = load_json(path)
        for field in ("columns", "boxes_file", "data"):
            if field not in doc:
                raise DataError(path, field, "missing (write it with python -m dsta.box_prior)")
        used = sorted(
            {str(e.evaluation.get("boxes")) for e in experiments if e.evaluation and e.evaluation.get("boxes")}
        )
        if used and used != [str(doc["boxes_file"])]:
            raise DataError(
                path,
                "boxes_file",
                f"{doc['boxes_file']!r}, but this page's evaluations used {used}: "
                f"a prior with other boxes is not their chance level",
            )
        w, h = doc["data"].get("input_size") or ("?", "?")
        return BoxPrior(doc["columns"], str(doc["boxes_file"]), f"{h}x{w}", f"`{path}`", doc.get("provenance"))
    e = next((e for e in experiments if e.robustness and "columns" in (e.robustness.get("box_prior") or {})), None)
    if e is None:
        return None
    return BoxPrior(
        e.robustness["box_prior"]["columns"],
        e.robustness.get("boxes") or "gt",
        e.input_size(),
        f"`box_prior/{e.dataset}.json`, as `robustness/{e.key}/metrics.json` carries it",
        e.robustness.get("provenance"),
    )


def load(
    params: Path,
    reference_path: Path,
    runs: Path,
    evals: Path,
    profiles: Path,
    benchmarks_path: Path,
    data: Path,
    robustness: Path | None = None,
    out: Path | None = None,
    box_priors: Path | None = None,
) -> ReportData:
    """Read the pipeline's outputs and compute the claims, once."""
    reference = load_yaml(reference_path)
    for key in ("citations", "columns"):
        if key not in (reference or {}):
            raise DataError(reference_path, key, "missing")
    experiments = with_robustness(load_experiments(params, runs, evals, profiles), robustness, evals, data)
    released = load_released(params, evals)
    doc = load_yaml(params) or {}
    pages = []
    for ds in DATASETS:
        status = dataset_status(data, ds)
        exps = [e for e in experiments if e.dataset == ds]
        rel = [e for e in released if e.dataset == ds]
        pages.append(
            Page(
                ds,
                dataset_title(ds, status, doc),
                tuple(exps),
                tuple(reference.get(ds, [])),
                status,
                tuple(rel),
                missing(rel, exps),
                box_prior(ds, exps, box_priors),
            )
        )
    paper = load_paper_profiles(profiles)
    timings = load_timings(profiles)
    bench = load_benchmarks(benchmarks_path)
    side_by_side = load_side_by_side(bench, profiles)
    links = tuple(
        f"Also: [{d.name}/]({d.name}/README.md), {load_yaml(d / 'about.yaml').get('title', d.name)}"
        for d in (sorted(out.glob("*/")) if out is not None else [])
        if (d / "about.yaml").is_file()
    )
    return ReportData(
        pages=tuple(pages),
        experiments=tuple(experiments),
        paper=paper,
        timings=timings,
        benchmarks=tuple(bench),
        side_by_side=tuple(side_by_side),
        release_side_by_side=tuple(load_side_by_side(bench, profiles, "ours_over_release")),
        claims=tuple(claims(experiments, paper, timings.get("experiments"), side_by_side)),
        reference=reference,
        commit=git_commit() or "unknown",
        outside=tuple(outside_models(robustness, experiments)),
        links=links,
    )
