"""The report's Markdown pages: one per dataset (main table, clean vs corrupted, T ablation, training, figures,
footnotes) and the index (datasets, paper-size efficiency, benchmarks, reported figures)."""

from __future__ import annotations

from pathlib import Path

from dsta.core.io import load_yaml
from dsta.core.provenance import REPO, commit_name, cpu_model, from_env, machine_name
from reporting.claims import ONE_SEED_FLOOR
from reporting.data import Page, ReportData
from reporting.labels import backbone_note
from reporting.markdown import (
    ORDER_NOTE,
    ablation_table,
    claims_table,
    cost_table,
    main_table,
    mixed_provenance,
    seed_table,
    side_by_side_table,
    speed_table,
    split_table,
    table,
    timing_where,
    training_table,
)
from reporting.results import TIMED_CODE, seed_groups
from reporting.rows import (
    MainTable,
    env_line,
    experiment_models,
    fmt,
    gflops_text,
    mode_entry,
    paper_models,
    streaming_ratio,
)


def measured_where(profiles: dict[str, dict]) -> str:
    """Where a set of profiles was measured: each machine and commit named, and whether that machine built this
    report (a table of timings is never "here" unless it was)."""
    provs = [p.get("provenance") or from_env(p.get("env") or {}) for p in profiles.values()]
    machines = sorted({machine_name(v) or "an unrecorded machine" for v in provs})
    commits = sorted({commit_name(v) or "unrecorded" for v in provs})
    here = cpu_model()
    where = f"measured on {'; '.join(machines)} at commit{'s' if len(commits) > 1 else ''} {', '.join(commits)}"
    if machines != [here]:
        where += f" (not necessarily the machine that built this report: {here})"
    return where


def recipe_differences(
    dataset: str, experiments: list[str], path: Path = REPO / "reports" / "recipe_differences.yaml"
) -> list[str]:
    """What this project's paper recipes do differently from the official ones (``reports/recipe_differences.yaml``):
    those of every paper recipe, of this dataset, then of each experiment this page has a row of. Said as the
    recipe's differences, since a page without reproduced rows has no rows to differ."""
    diffs = load_yaml(path) or {}
    rows = "the reproduced rows above" if experiments else "this project's recipe (no reproduced row on this page yet)"
    out = [
        "## Differences from the official recipes",
        "",
        f"What {rows} still does differently from the released code (sources in `reports/recipe_differences.yaml`).",
        "",
        "Every paper recipe:",
        "",
    ]
    out += [f"- {d}" for d in [*diffs.get("all", []), *diffs.get(dataset, [])]] + [""]
    for exp, items in (diffs.get("experiments") or {}).items():
        if exp in experiments:
            out += [f"`{exp}`:", "", *[f"- {d}" for d in items], ""]
    return out


def efficiency_section(models: list, timings: dict | None, where: str) -> list[str]:
    """Cost (counted, from the per-model profiles) and speed (every time from one interleaved run), as two tables."""
    return [
        "### Cost (counted per model)",
        "",
        f"From `python -m benchmarks.profile`, {where}. One multiply-add = one FLOP; head = everything after the "
        f"backbone, in MFLOPs; peak memory of a forward pass at batch 1 and of a training step. The fast-mode "
        f"column is a ratio: that model timed in the fast mode and in fp32 interleaved call by call."
        + (f" {note}" if (note := backbone_note([m.backbone for m in models])) else ""),
        "",
        cost_table(models),
        "",
        "### Speed (one interleaved run)",
        "",
        timing_where(timings),
        "",
        speed_table(models, timings),
        "",
    ]


def synthetic_sections(report: ReportData, page: Page, timings: dict | None) -> list[str]:
    """The synthetic page's own sections: the paper's claims, the per-seed appendix, clean vs corrupted frames, the
    T ablation and training."""
    reproduced = [e for e in page.experiments if e.evaluation]
    out: list[str] = []
    multi = {k: v for k, v in seed_groups(reproduced).items() if len(v) > 1}
    out += [
        "## The paper's claims on this set",
        "",
        "Computed by `reporting/claims.py` from this run's metrics, profiles and timing run (never by hand). "
        "DSTA is fine-tuned from the `pretrain` stage's single-frame RLE backbone, as the paper fine-tunes it "
        "from RLE's COCO checkpoint; RLE is the compute-matched control `rle_ft` (RLE continued from the same "
        "backbone for the same steps). Margin: mean over seeds of the paired difference; spread: its sample "
        "standard deviation over seeds; interval: the 95% paired bootstrap over val sequences. With one "
        "seed a claim holds when its interval lies above 0 (without an interval: a margin over "
        f"{ONE_SEED_FLOOR} points, the largest shift of one seed's mAP between two machines); with several, "
        "when the margin exceeds the spread. Whether DSTA uses its neighbour frames (key frame vs every frame "
        "corrupted, the blank-frame control, the box prior): [robustness-synthetic.md](robustness-synthetic.md).",
        "",
        claims_table(report.claims),
        "",
    ]
    if multi:
        out += [
            "## Appendix: per-seed rows",
            "",
            "The main table's mean ± sd rows, one row per seed (params `seeds`).",
            "",
            seed_table(reproduced) or "",
            "",
        ]
    else:
        out += ["One seed per experiment (params `seeds`): the main table has no spread over seeds.", ""]
    out += [
        "## Clean vs corrupted frames",
        "",
        "Corrupted = synthetic frames with motion blur, defocus or an occluder crossing the person "
        "(`corrupted` image flag); mAP on each subset of the labeled val frames.",
        "",
        split_table(page.experiments),
        "",
        "## T ablation (DSTA)",
        "",
        "Per new frame: streaming mode (per-frame features cached); a T=1 model has one backbone pass per "
        "frame either way, so its streaming cost is its clip cost.",
        "",
        ablation_table(list(page.experiments), timings),
        "",
        "## Training",
        "",
        training_table(page.experiments),
        "",
    ]
    return out


def dataset_page(report: ReportData, page: Page, main_rows: MainTable, figures: dict[str, str]) -> str:
    """A dataset's page: its main table with footnotes, the recipe's differences, and on the synthetic set the
    claims, the per-seed appendix, clean vs corrupted, the T ablation and training; efficiency and figures."""
    timings = report.timings.get("experiments")
    title = page.title or page.dataset
    out = [f"# {title}", ""]
    if page.dataset != "synthetic":
        if not page.status.get("configured"):
            out += [
                f"**Not configured here**: {page.status.get('reason', 'no data')}. Only reported rows are shown; "
                f"run `python -m dsta.config experiments=paper_{page.dataset}` and `dvc repro` on a GPU machine "
                f"to add reproduced rows.",
                "",
            ]
    else:
        out += [
            "Synthetic PoseTrack-format videos generated by `python -m dsta.data.synthetic` (params `synthetic`), "
            "tiny configs. These numbers test the pipeline and compare the models at equal, small budgets; "
            "they are **not** comparable with PoseTrack figures, and no published row exists for them.",
            "",
        ]
    out += [
        "AP at PCKh@0.5 per joint on the val split (this project's poseval-identical evaluator). Boxes: the "
        "person boxes the rows were evaluated on (GT or detected: rows with different boxes are not comparable). "
        "Init: a reproduced row's start (pretrained backbone or scratch); several seeds of one experiment give "
        "one row, mean ± sample sd (n seeds). " + ORDER_NOTE,
        "",
    ]
    main, notes = main_table(main_rows)
    if page.released:
        out += [
            'Rows "released weights, evaluated here": the authors\' released checkpoints, converted '
            "(`python -m dsta.released`) and evaluated by this pipeline with each release's own test protocol "
            "(boxes, score threshold, flip), no training; a Δ row under one compares it with the reported row, a "
            "Δ row under a row of this run with the released row it names.",
            "",
        ]
    mixed = mixed_provenance([*page.experiments, *page.released])
    if mixed:
        out += [mixed, ""]
    out += [main, "", *[f"{n}  " for n in notes], ""]
    if page.dataset != "synthetic":
        out += recipe_differences(page.dataset, [e.key for e in page.experiments])
    latex = [f"[{page.dataset}.tex](latex/{page.dataset}.tex)"]
    if any(e.profile for e in page.experiments):
        latex += [
            f"[{page.dataset}-efficiency-{k}.tex](latex/{page.dataset}-efficiency-{k}.tex)" for k in ("cost", "speed")
        ]
    out += [
        f"LaTeX (booktabs, two-column page; preamble [latex/preamble.tex](latex/preamble.tex), citations "
        f"`reports/references.bib`): {', '.join(latex)}.",
        "",
    ]
    if page.dataset == "synthetic" and page.experiments:
        out += synthetic_sections(report, page, timings)
    exp_profiles = {e.key: e.profile for e in page.experiments if e.profile}
    if exp_profiles:
        out += [
            "## Efficiency of these models (clip vs streaming)",
            "",
            *efficiency_section(
                [m for m in experiment_models(page.experiments) if m.profile],
                timings,
                f"{measured_where(exp_profiles)} ({env_line(exp_profiles)})",
            ),
        ]
    if report.paper and page.dataset != "synthetic":
        out += [
            "## Paper-size efficiency",
            "",
            "See the [index](README.md#paper-size-efficiency) for the 256x192 profiles of every model.",
            "",
        ]
    if figures:
        out += ["## Figures", "", "Captions in [latex/figures.tex](latex/figures.tex).", ""]
    for name, path in figures.items():
        out += [f"![{name}]({path})", ""]
    if page.missing:
        out += ["## Missing", "", *[f"- {m}" for m in page.missing], ""]
    return "\n".join(out)


def detail(value) -> str | None:
    """A benchmark's extra-info value as a reader reads it (None for nested records the table leaves out)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return None
    return str(value)


def paper_facts(paper: dict[str, dict], reference: dict) -> list[str]:
    """The paper-size cost in sentences (the index and the project README say the same): DSTA-R50's head against the
    paper's figure, DSTA streaming over RLE per frame, DCPose's cost, and the operators not counted."""
    facts = []
    head = (mode_entry(paper.get("dsta_r50_t3"), "clip").get("gflops") or {}).get("head")
    if head is not None:
        ref = (reference.get("efficiency") or [{}])[0]
        facts.append(
            f"DSTA-R50 (T=3) head (everything after the backbone, T joint embeddings included): "
            f"{head * 1e3:.2f} MFLOPs ({head:.4f} GFLOPs) per prediction; the paper gives about "
            f"{ref.get('gflops', 0.02)} GFLOPs [{ref.get('cite', 'dsta')}]"
            + (f" ({ref['note']})" if ref.get("note") else "")
            + "."
        )
    ratio = streaming_ratio(paper)
    if ratio:
        facts.append(f"DSTA-R50 (T=3) streaming GFLOPs per frame / RLE-R50 GFLOPs per frame: {ratio}.")
    if "dcpose_hrnet_w48" in paper:
        dc = paper["dcpose_hrnet_w48"]["modes"]
        facts.append(
            f"DCPose-HRNet-W48: {dc['clip']['gflops']['total']:.1f} GFLOPs per prediction in clip mode, "
            f"{dc.get('streaming', dc['clip'])['gflops']['total']:.1f} streaming (head "
            f"{dc['clip']['gflops']['head']:.2f} GFLOPs)."
        )
    uncounted = sorted(
        {
            op
            for p in paper.values()
            for e in p["modes"].values()
            for op in (e.get("gflops") or {}).get("unsupported_ops", {})
        }
    )
    if uncounted:
        facts.append(
            f"Not counted (element-wise or shape ops, fvcore's convention; listed per model in "
            f"profiles/paper/*.json): {', '.join(f'`{op}`' for op in uncounted)}."
        )
    return facts


def timing_sections(report: ReportData) -> list[str]:
    """The index's measured times: DSTA streaming / RLE and ours / the release, side by side, and the benchmarks."""
    side_by_side = report.side_by_side
    out: list[str] = []
    if side_by_side:
        out += [
            "## Time per frame: DSTA T=3 streaming / single-frame RLE, measured side by side",
            "",
            "Each ratio comes from one process that times both models interleaved call by call (ABBA), so a load "
            "change on a shared machine hits both; a round gives one ratio, the table gives the median over "
            "rounds with its quartiles and range (`python -m benchmarks.profile --side-by-side`). The speed "
            "tables above come from one interleaved run of all their models, so their latencies may be "
            "compared within a table; a GPU row timed before the last change to the DSTA code "
            f"({', '.join(TIMED_CODE)}) is marked stale. "
            "CPU rows: this pipeline's `benchmark` stage (`benchmarks/bm_side_by_side.py`); GPU rows: the "
            "committed device runs in `profiles/side_by_side/gpu_*` (`benchmarks/gpu_side_by_side.sh`), each "
            "with its own commit. Goals (issue 16): CPU <= 1.05; GPU batch 1 with CUDA graphs <= 1.25; GPU "
            "batch 64 FPS >= 0.95x RLE's, i.e. a time ratio <= 1.053.",
            "",
            side_by_side_table(list(side_by_side)),
            "",
        ]
    if report.release_side_by_side:
        out += [
            "## Time per clip: our DSTA-R50 / the released forward, measured side by side",
            "",
            "Our DSTA-R50 T=3 (`configs/model/dsta_r50.yaml`, clip mode: three backbone passes and the head per "
            "prediction) and the released network's forward (`official_dsta_r50`: zgspose/DSTA "
            "`DSTA_STD_ResNet50` restated in `benchmarks/profiling/official_dsta.py`, the reference of our "
            "parity test; a torchvision ResNet-50, attention written out as the release's timm blocks) on the "
            "same weights, interleaved in one process as above. A ratio <= 1 says ours is at least as fast as "
            "the release. CPU rows: the `benchmark` stage (`benchmarks/bm_side_by_side.py`); GPU rows: "
            "`benchmarks/gpu_side_by_side.sh` runs.",
            "",
            side_by_side_table(
                list(report.release_side_by_side), "ours / release per clip", "release / ours ms per call"
            ),
            "",
        ]
    benchmarks = report.benchmarks
    if benchmarks:
        out += [
            "## Benchmarks (`pytest benchmarks --benchmark-only`)",
            "",
            f"pytest-benchmark on {benchmarks[0]['machine']} at commit {benchmarks[0]['commit']}; median and "
            f"interquartile range of the rounds. Each row was timed on its own, at its own moment: compare "
            f"models only through the speed tables and the side-by-side ratios above, never across these rows.",
            "",
            table(
                ["Benchmark", "Median ms", "IQR ms", "Rounds", "Details"],
                [
                    [
                        b["name"],
                        fmt(b["median_ms"], 2),
                        fmt(b["iqr_ms"], 2) if b["rounds"] > 1 else "– (one round)",
                        b["rounds"],
                        ", ".join(
                            f"{k}={detail(v)}"
                            for k, v in b["extra"].items()
                            if k not in ("commit", "device", "env") and detail(v) is not None
                        ),
                    ]
                    for b in benchmarks
                ],
            ),
            "",
        ]
    return out


def index_page(report: ReportData, figures: dict[str, str]) -> str:
    """The index: the pages, paper-size efficiency, the side-by-side time ratios, the benchmarks, the figures and the
    sources of the reported rows."""
    paper = report.paper
    out = [
        "# dsta-bench reports",
        "",
        f"Built by `python -m reporting.build` (the `report` stage of `dvc repro`) at commit {report.commit}, on "
        f"{cpu_model()}. Regenerate with `make repro`; never edit by hand.",
        "",
        "| Page | Data | Reproduced rows | Reported rows |",
        "|---|---|---|---|",
    ]
    for p in report.pages:
        data = (
            "synthetic default"
            if p.dataset == "synthetic"
            else "configured"
            if p.status.get("configured")
            else "not configured"
        )
        reproduced = sum(1 for e in p.experiments if e.evaluation)
        out.append(f"| [{p.dataset}]({p.dataset}.md) | {data} | {reproduced} | {len(p.reported)} |")
    out += [""] + list(report.links) + ([""] if report.links else [])
    if paper:
        out += [
            "## Paper-size efficiency",
            "",
            "Every model at its paper configuration, 256x192 input (`paper_profiles`). GFLOPs count one "
            "multiply-add as one FLOP (fvcore plus this project's handles for attention and deformable "
            "convolution). LaTeX: [latex/paper-efficiency-cost.tex](latex/paper-efficiency-cost.tex), "
            "[latex/paper-efficiency-speed.tex](latex/paper-efficiency-speed.tex).",
            "",
            *efficiency_section(
                paper_models(paper),
                report.timings.get("paper_profiles"),
                f"the `paper_profile` stage, {measured_where(paper)} ({env_line(paper)})",
            ),
            *[f"- {f}" for f in paper_facts(paper, report.reference)],
            "",
        ]
    out += timing_sections(report)
    out += ["## Figures", "", "Captions in [latex/figures.tex](latex/figures.tex).", ""]
    out += [f"![{name}]({path})" for name, path in figures.items()] + [""]
    reference = report.reference
    out += ["## Sources of the reported rows", ""] + [f"- **{k}**: {v}" for k, v in reference["citations"].items()]
    out += ["", *[f"- {n}" for n in reference.get("notes", [])], ""]
    return "\n".join(out)


def readme_block(report: ReportData) -> str:
    """The project README's results, generated: the synthetic summary (each experiment's mAP, clean and corrupted,
    GFLOPs, training time), the claims and the paper-size cost facts, each with the commit and machine it came from."""
    from dsta.core.provenance import describe

    experiments, paper = report.experiments, report.paper
    synth = [e for e in experiments if e.dataset == "synthetic"]
    rows = []
    for e in synth:
        ev = e.evaluation or {}
        split = ev.get("split") or {}
        clean, corrupted = split.get("false") or {}, split.get("true") or {}
        clip = (mode_entry(e.profile, "clip").get("gflops") or {}).get("total")
        streaming = (mode_entry(e.profile, "streaming").get("gflops") or {}).get("total")
        per_frame = (
            gflops_text(streaming)
            if streaming is not None
            else f"{gflops_text(clip)} (= clip)"
            if clip is not None and e.num_frames == 1
            else "–"
        )
        rob = e.robustness or {}
        recovery = rob.get("temporal_recovery")
        rows.append(
            [
                e.key,
                e.init(),
                fmt(ev.get("Total")),
                fmt(rob.get("clean_gt_boxes")),
                fmt(clean.get("Total")),
                fmt(corrupted.get("Total")),
                "–" if recovery is None else f"{100 * recovery:+.1f}%",
                gflops_text(clip),
                per_frame,
                fmt((e.training or {}).get("train_seconds"), 0),
            ]
        )
    first = synth[0] if synth else None
    frames = ""
    if first and first.evaluation and first.evaluation.get("split"):
        split = first.evaluation["split"]
        frames = (
            f" (clean {split.get('false', {}).get('num_frames', '?')} frames, corrupted "
            f"{split.get('true', {}).get('num_frames', '?')})"
        )
    out = [
        f"On the synthetic default{frames}; full tables, footnotes and LaTeX in "
        "[reports/synthetic.md](reports/synthetic.md).",
        "",
        table(
            [
                "experiment",
                "init",
                "val mAP",
                "GT boxes",
                "clean",
                "corrupted",
                "temporal recovery",
                "GFLOPs clip",
                "GFLOPs per frame, streaming",
                "train s",
            ],
            rows,
        ),
        "",
    ]
    prior = next((e.robustness["box_prior"] for e in synth if e.robustness and e.robustness.get("box_prior")), None)
    boxes = next((e.robustness.get("boxes") for e in synth if e.robustness), None)
    box_text = "GT boxes" if boxes in (None, "gt") else f"detected boxes ({boxes})"
    if prior:
        out += [
            f"val mAP, clean and corrupted: {box_text}; "
            f"GT boxes: the same checkpoint with GT boxes. Chance level, the box prior (the mean training pose "
            f"in each box, no image): {prior['boxes']:.1f} with these boxes, {prior['gt_boxes']:.1f} with GT "
            f"boxes. Temporal recovery: rPC with only the key frame corrupted minus rPC with every frame "
            f"corrupted, in % of clean mAP ([reports/robustness-synthetic.md](reports/robustness-synthetic.md)).",
            "",
        ]
    provs = sorted({describe(e.provenance("evaluation")) for e in synth if e.evaluation})
    if provs:
        out += [f"mAP from: {'; '.join(provs)}.", ""]
    if synth:
        out += [
            "The paper's claims on this run (`reporting/claims.py`; rules and spreads in "
            "[reports/synthetic.md](reports/synthetic.md#the-papers-claims-on-this-set)):",
            "",
            claims_table(report.claims),
            "",
        ]
    if paper:
        out += [
            f"At paper size (256x192; {measured_where(paper)}; tables in "
            f"[reports/README.md](reports/README.md#paper-size-efficiency)):",
            "",
            *[f"- {f}" for f in paper_facts(paper, report.reference)],
            "",
        ]
    return "\n".join(out).rstrip() + "\n"
