"""The report's tables as Markdown (pipe tables), from the rows of ``reporting.rows``."""

from __future__ import annotations

from dsta.core.provenance import commit_name, machine_name
from reporting.claims import ONE_SEED_FLOOR, Claim
from reporting.results import Experiment, seed_groups, throughput_batch, timing
from reporting.rows import (
    AP_NAMES,
    DASH,
    MainTable,
    Model,
    ap_values,
    cost_rows,
    fmt,
    gflops_cell,
    gflops_text,
    mode_entry,
    options_label,
    signed,
    speed_rows,
    streaming_or_clip,
)


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


MAIN_HEADER = ["Method", "Backbone", "T", "Input", "Boxes", "Init", *AP_NAMES, "Source"]


ORDER_NOTE = (
    "Rows are grouped as in the DSTA paper (heatmap- then regression-based; single- then multi-frame; "
    "diffusion methods generate heatmaps and sit with them), ordered by mean AP within each group; the "
    "best value of each column within a group, among rows with the same boxes, is in bold (in the Mean "
    "column also every value within one seed standard deviation of it). Reproduced rows come last, in the "
    "same groups (single-frame baselines first, then by T, pretrained before scratch)."
)


def mixed_provenance(experiments: list[Experiment]) -> str | None:
    """A warning when the numbers of a page come from more than one commit or machine (None when they do not)."""
    commits, machines, unknown = set(), set(), False
    for e in experiments:
        for record in ("evaluation", "profile"):
            prov = e.provenance(record)
            if prov is None:
                continue
            if prov.get("recorded") is False:
                unknown = True
                continue
            commits.add(commit_name(prov) or "unknown")
            machines.add(machine_name(prov) or "unknown")
    if len(commits) <= 1 and len(machines) <= 1 and not unknown:
        return None

    def named(what: str, items: set[str], sep: str) -> str:
        return f"{what}{'s' if len(items) > 1 else ''} {sep.join(sorted(items))}" if items else f"no recorded {what}"

    out = (
        f"**Mixed provenance**: the numbers on this page come from {named('commit', commits, ', ')} and "
        f"{named('machine', machines, '; ')}"
    )
    if unknown:
        out += ", and some outputs record no commit or machine (made before provenance blocks existed)"
    return out + ". Each footnote names the commit and machine of its own numbers."


def main_table(main: MainTable) -> tuple[str, list[str]]:
    """The main table as Markdown (an italic group line before each group), and the footnotes and notes beneath it."""
    lines = []
    first_ap = MAIN_HEADER.index(AP_NAMES[0])
    for block in main.blocks:
        lines.append([f"*{block.name}*"] + [""] * (len(MAIN_HEADER) - 1))
        for r, best in zip(block.rows, block.best):
            cells = r.cells()
            for col in best:
                cells[first_ap + col] = f"**{cells[first_ap + col]}**"
            lines.append([*cells, r.source()])
    return table(MAIN_HEADER, lines), main.footnotes + main.notes


def seed_table(experiments: list[Experiment]) -> str | None:
    """The appendix: one row per seed of every experiment run with several seeds (None when none was)."""
    rows = []
    for name, runs in seed_groups(experiments).items():
        if len(runs) < 2:
            continue
        for e in runs:
            ap = ap_values(e.evaluation)
            rows.append(
                [name, f"`{e.key}`", (e.config.get("train") or {}).get("seed", 0), e.init(), *[fmt(v) for v in ap]]
            )
    return table(["Experiment", "Run", "Seed", "Init", *AP_NAMES], rows) if rows else None


def split_table(experiments: list[Experiment]) -> str:
    rows = []
    for e in experiments:
        split = (e.evaluation or {}).get("split") or {}
        clean, corrupted = split.get("false") or {}, split.get("true") or {}
        total = (e.evaluation or {}).get("Total")
        c, k = clean.get("Total"), corrupted.get("Total")
        rows.append(
            [
                e.key,
                e.method(),
                e.num_frames,
                fmt(total),
                f"{fmt(c)} ({clean.get('num_frames', DASH)})",
                f"{fmt(k)} ({corrupted.get('num_frames', DASH)})",
                signed(None if c is None or k is None else k - c),
            ]
        )
    return table(
        ["Experiment", "Method", "T", "mAP", "clean (frames)", "corrupted (frames)", "corrupted − clean"], rows
    )


def ablation_table(experiments: list[Experiment], timings: dict | None = None) -> str:
    """DSTA over T: accuracy, cost per prediction and per new frame, and the time per new frame from the
    interleaved timing run (pretrained runs only: the scratch run is a different experiment)."""
    rows = []
    dsta = [runs[0] for runs in seed_groups(experiments).values() if runs[0].model == "dsta"]
    for e in sorted(dsta, key=lambda e: (e.init() != "pretrained", e.num_frames)):
        split = (e.evaluation or {}).get("split") or {}
        stream, note = streaming_or_clip(e)
        lat = timing(timings, e.key, stream)
        g = (mode_entry(e.profile, stream).get("gflops") or {}).get("total")
        rows.append(
            [
                e.num_frames,
                e.init(),
                fmt((e.evaluation or {}).get("Total")),
                fmt((split.get("false") or {}).get("Total")),
                fmt((split.get("true") or {}).get("Total")),
                gflops_cell(e.profile, "clip"),
                gflops_text(g) + (note if g is not None else ""),
                (f"{lat['ms']['median']:.1f} [{lat['ms']['p25']:.1f}, {lat['ms']['p75']:.1f}]{note}" if lat else DASH),
            ]
        )
    return table(
        [
            "T",
            "Init",
            "mAP",
            "clean",
            "corrupted",
            "GFLOPs clip (backbone + head)",
            "GFLOPs per new frame, streaming",
            "ms per new frame (batch 1), median [p25, p75]",
        ],
        rows,
    )


def training_table(experiments: list[Experiment]) -> str:
    rows = []
    for e in experiments:
        t = e.training or {}
        rows.append(
            [
                e.key,
                t.get("epochs", DASH),
                fmt(t.get("untrained_val_mAP")),
                fmt((t.get("val") or {}).get("Total")),
                fmt(t.get("train_seconds"), 0),
            ]
        )
    return table(["Experiment", "Epochs", "val mAP untrained", "val mAP trained", "train seconds"], rows)


COST_HEADER = [
    "Method",
    "Backbone",
    "T",
    "Input",
    "Init",
    "Mode",
    "Backbone passes",
    "GFLOPs",
    "Backbone GFLOPs",
    "Head MFLOPs",
    "Params (M)",
    "Fwd peak MiB (bs 1)",
    "Train-step peak MiB",
    "Fast mode",
    "Speed-up: fp32 / fast latency, median [min, max]",
]


def cost_table(models: list[Model]) -> str:
    return table(COST_HEADER, [cells for _, _, cells in cost_rows(models)])


def speed_header(doc: dict | None) -> list[str]:
    batch = throughput_batch(doc)
    return [
        "Method",
        "Backbone",
        "T",
        "Init",
        "Mode",
        "Latency ms (batch 1), median [p25, p75]",
        f"FPS (batch {batch or '?'}), median [p25, p75]",
        "Rounds",
    ]


def speed_table(models: list[Model], doc: dict | None) -> str:
    return table(speed_header(doc), [cells for _, _, cells in speed_rows(models, doc)])


def timing_where(doc: dict | None) -> str:
    """What the speed table's numbers are: one interleaved run, its protocol, machine and commit."""
    if not doc:
        return (
            "No interleaved timing run (profiles/side_by_side/all_*.json, the `side_by_side` stage) was found: "
            "the speed columns are empty rather than filled from separately timed profiles."
        )
    env, pr = doc.get("env", {}), doc.get("protocol", {})
    return (
        f"All times in this table come from ONE process that timed every model and mode interleaved call by "
        f"call (ABBA), so they saw the same load and may be compared (`{doc.get('_path', '')}`, "
        f"`python -m benchmarks.profile --side-by-side-all {doc.get('section', '?')}`, the `side_by_side` stage): "
        f"{pr.get('rounds')} rounds of {pr.get('iters')} calls per model after {pr.get('warmup')} warm-up calls; "
        f"a value is the median over rounds of each round's median, with the quartiles over rounds. "
        f"{env.get('device', '?')}, torch {env.get('torch', '?')}, {env.get('dtype', '?')}, "
        f"{env.get('threads', '?')} threads, commit {env.get('commit', '?')}."
    )


def side_by_side_table(
    rows: list[dict], ratio: str = "DSTA / RLE per frame", times: str = "RLE / DSTA ms per call"
) -> str:
    """Time ratios (DSTA streaming / RLE per frame by default), each row measured side by side, with its spread over
    rounds; ``ratio`` and ``times`` name the ratio and the two times (reference first)."""

    def size(row: dict) -> str:
        w, h = row["input_size"] or ("?", "?")
        return f"{h}x{w}"

    out = []
    for r in sorted(
        rows,
        key=lambda r: (
            r["device_type"] != "cpu",
            r["device"],
            str(r["input_size"]),
            r["batch"],
            options_label(r["options"]) != "fp32",
            options_label(r["options"]),
        ),
    ):
        q = r["ratio"]
        ms = f"{r['reference_ms']:.2f} / {r['entry_ms']:.2f}" if r.get("reference_ms") and r.get("entry_ms") else DASH
        n = len(q.get("rounds", []))
        spread = (
            (f" [{q['p25']:.3f}, {q['p75']:.3f}]", f"{q['min']:.3f}-{q['max']:.3f}")
            if n != 1
            else ("", "one round: no spread")
        )
        stale = r.get("stale")
        out.append(
            [
                r["device"],
                size(r),
                r["batch"],
                options_label(r["options"]),
                f"**{q['median']:.3f}**{spread[0]}",
                spread[1],
                n or DASH,
                ms,
                f"{r['commit']}, torch {r['torch']}, {r['threads']} thread{'s' if r['threads'] != 1 else ''}",
                f"**stale**: the timed DSTA code changed at {stale}" if stale else "current",
                r["source"],
            ]
        )
    return table(
        [
            "Device",
            "Input",
            "Batch",
            "Mode",
            f"{ratio}, median [p25, p75]",
            "min-max",
            "Rounds",
            times,
            "Commit, stack",
            "Timed code",
            "Source",
        ],
        out,
    )


def claims_table(rows: list[Claim]) -> str:
    out = [
        "| Claim | Measured | Margin (or counted value) | Spread | Seeds | Verdict | Rule |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in rows:
        margin = c.margin_text()
        spread = (
            "–"
            if c.seeds == 0
            else f"± {c.spread:.1f}"
            if c.spread is not None
            else "one seed"
            if c.interval
            else f"one seed (floor {ONE_SEED_FLOOR})"
        )
        if c.interval:
            spread += f"; 95% CI [{c.interval[0]:+.1f}, {c.interval[1]:+.1f}]"
        out.append(
            f"| {c.claim} | {c.measured} | {margin} | {spread} | {c.seeds or '–'} | **{c.verdict}** | {c.rule} |"
        )
    return "\n".join(out)
