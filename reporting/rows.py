"""A report's rows before formatting: the main table's groups of reported, reproduced, released and chance rows
(bold marks included), the models of the cost and speed tables, and the cell texts both the Markdown and the LaTeX
print (a missing number is a dash, never a guess). Pure functions of the report data (``reporting.data``)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from dsta.core.provenance import describe, machine_name
from reporting.data import Page
from reporting.labels import (
    BLOCKS,
    CHANCE_BLOCK,
    JOINT_NAMES,
    RELEASED_BLOCK,
    REPRODUCED_BLOCK,
    ROW_KINDS,
    UNPUBLISHED,
    backbone_label,
)
from reporting.results import GROUPS, Experiment, method_name, seed_groups, throughput_batch, timing

AP_COLUMNS = [*GROUPS, "Mean"]


DASH = "–"


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


def gflops_text(value: float | None) -> str:
    """GFLOPs with enough digits: 3 decimals, 4 under 0.1 (a tiny model's 0.0121)."""
    return DASH if value is None else f"{value:.{3 if value >= 0.1 else 4}f}"


def mflops_text(gflops: float | None) -> str:
    """A head's cost in MFLOPs (0.0057 GFLOPs is 5.70 MFLOPs: never printed as 0.0000)."""
    return DASH if gflops is None else f"{gflops * 1e3:.2f}"


def gflops_cell(profile: dict | None, mode: str = "clip") -> str:
    entry = mode_entry(profile, mode).get("gflops")
    if not entry:
        return DASH
    return f"{gflops_text(entry['total'])} ({gflops_text(entry['backbone'])} + {entry['head'] * 1e3:.2f} M)"


# the papers' layout: accuracy only, rows grouped and ordered as the field's tables (see ``main_rows``); the efficiency
# of the reproduced rows has tables of its own
AP_NAMES = [JOINT_NAMES[g] for g in GROUPS] + ["Mean"]


@dataclass
class Row:
    """One row of a main table, before formatting: ``kind`` is ``reproduced``, ``released``, ``delta`` or
    ``reported``."""

    kind: str
    method: str
    backbone: str
    frames: Any
    input: str
    ap: list[float | None]
    ref: int | None = None  # footnote of a reproduced row
    cite: str | None = None  # citation key of a reported row (or of the row a Δ compares with; a plugin's model)
    mark: str | None = None  # note letter of a reported row
    boxes: str = DASH
    init: str = DASH
    spread: float | None = None  # sample sd of the mean AP over seeds (reproduced rows with several seeds)
    seeds: int = 1
    tabulated_in: str | None = None  # the secondary table a reported number was copied from
    reproduction: bool = False  # a user's reproduction, not a published figure

    def mean_cell(self) -> str:
        mean = self.ap[-1]
        if self.seeds > 1 and mean is not None and self.spread is not None:
            return f"{mean:.1f} ± {self.spread:.1f} ({self.seeds} seeds)"
        return signed(mean) if self.kind == "delta" else fmt(mean)

    def cells(self) -> list[str]:
        values = [signed(v) for v in self.ap[:-1]] if self.kind == "delta" else [fmt(v) for v in self.ap[:-1]]
        method = f"{self.method} [{self.cite}]" if self.kind == "reproduced" and self.cite else self.method
        return [method, self.backbone, str(self.frames), self.input, self.boxes, self.init, *values, self.mean_cell()]

    def source(self) -> str:
        """The Markdown table's Source cell (``labels.ROW_KINDS``)."""
        return ROW_KINDS[self.label_kind].source.format(
            ref=self.ref,
            cite=self.cite,
            mark=f" ({self.mark})" if self.mark else "",
            tabulated=(
                ""
                if not self.tabulated_in
                else f" from [{self.tabulated_in}], not a publication"
                if self.tabulated_in in UNPUBLISHED
                else f" as tabulated in [{self.tabulated_in}]"
            ),
        )

    @property
    def label_kind(self) -> str:
        """The row's kind in ``labels.ROW_KINDS``: a user's reproduction is a reported row labelled apart."""
        return "reproduction" if self.reproduction else self.kind


def block_of(kind: str | None, frames: str | None) -> str:
    """The group of a row: heatmap- or regression-based (diffusion methods generate heatmaps), single or multi frame."""
    return BLOCKS[("regression" if kind == "regression" else "heatmap", "single" if frames == "single" else "multi")]


def reproduced_order(e: Experiment) -> tuple:
    return (
        e.kind != "heatmap",
        e.num_frames > 1,
        e.model not in ("rle", "heatmap_single"),
        e.num_frames,
        e.init() != "pretrained",
        e.key,
    )


def box_label(boxes: str | None) -> str:
    """The Boxes cell: ``GT`` for GT boxes, ``detected`` for a detection file (its path is in the footnote)."""
    if not boxes or boxes == DASH:
        return DASH
    return "GT" if boxes == "gt" else "detected"


def evaluated_boxes(e: Experiment) -> str:
    """The Boxes cell of an experiment: the boxes its evaluation used (else its config's)."""
    return box_label((e.evaluation or {}).get("boxes") or e.config["data"].get("boxes"))


def provenance(e: Experiment) -> str:
    """The footnote of a reproduced row: dataset and config, then the commit and machine of each of its numbers,
    each from the file that number came from."""
    env = (e.profile or {}).get("env", {})
    ev = e.evaluation or {}
    kw = ", ".join(f"{k}={v}" for k, v in e.kwargs.items() if k not in ("pretrained", "joint_groups"))
    train = e.config.get("train", {})
    recipe = (
        f"released weights {e.config.get('weights')}, no training, flip test "
        f"{'on' if (e.config.get('test') or {}).get('flip') else 'off'}"
        if e.released
        else f"{train.get('epochs')} epochs, batch {train.get('batch_size')}, lr {train.get('lr')}"
    )
    mAP = e.provenance("evaluation")
    parts = [f"AP: {describe(mAP)}" if mAP else "AP: not evaluated yet"]
    trained = e.provenance("training")
    if trained and (trained.get("commit"), machine_name(trained)) != ((mAP or {}).get("commit"), machine_name(mAP)):
        parts.append(f"training: {describe(trained)}")
    if e.profile:
        parts.append(
            f"efficiency: {describe(e.provenance('profile'))} ({env.get('dtype')}, {env.get('threads')} threads)"
        )
    return (
        f"`{e.key}`: dataset {e.dataset} (val, {ev.get('num_frames', '?')} labeled frames, boxes "
        f"{ev.get('boxes', e.config['data'].get('boxes'))}); config "
        f"`{e.key.replace('/', '.') if e.released else 'experiments.' + e.key}` of params.yaml "
        f"({e.model}: {kw}; {recipe}); " + "; ".join(parts) + "."
    )


@dataclass(frozen=True)
class Block:
    """One group of a main table: its name, its rows, and per row the AP columns where it holds the group's best
    value (bold)."""

    name: str
    rows: list[Row]
    best: list[set[int]]


@dataclass(frozen=True)
class MainTable:
    """A page's main table before formatting: its groups, the footnotes of its reproduced, released and chance rows,
    and the notes of its reported rows."""

    blocks: list[Block]
    footnotes: list[str]
    notes: list[str]

    @property
    def reproduced(self) -> bool:
        """Whether any group holds rows reproduced here."""
        return any(b.name.endswith(REPRODUCED_BLOCK) for b in self.blocks)


def main_rows(page: Page) -> MainTable:
    """The groups of a page's main table (name, rows), the footnotes of its reproduced rows and the notes of its
    reported rows. Several seeds of one experiment give one row: the mean of each column, the mean AP with its
    sample standard deviation and the number of seeds (the per-seed rows are in ``seed_table``)."""
    footnotes: list[str] = []
    notes: list[str] = []
    blocks: list[tuple[str, list[Row]]] = []
    reported_by_match = {r["match"]: r for r in page.reported if r.get("match")}
    released_by_match: dict[str, tuple[int, list]] = {}  # experiment -> (footnote, AP) of the release beside it
    reproduced: dict[str, list[Row]] = {}
    for n, e in enumerate(page.released, 1):  # the authors' checkpoints, evaluated here with no training
        ap = ap_values(e.evaluation)
        rows_of = reproduced.setdefault(f"{block_of(e.kind, e.frames_group())}, {RELEASED_BLOCK}", [])
        rows_of.append(
            Row(
                "released",
                e.method(),
                e.backbone(),
                e.num_frames,
                e.input_size(),
                ap,
                ref=n,
                boxes=evaluated_boxes(e),
                init="released",
            )
        )
        footnotes.append(f"[{n}] {provenance(e)}")
        match = e.config.get("match")
        ref = reported_by_match.get(match)
        if ref is not None:
            rows_of.append(Row("delta", "", "", "", "", delta(ap, ref["ap"]), cite=ref["cite"], boxes="", init=""))
        released_by_match[match] = (n, ap)
    groups = seed_groups(page.experiments)
    for n, (name, runs) in enumerate(
        sorted(groups.items(), key=lambda kv: reproduced_order(kv[1][0])), len(page.released) + 1
    ):
        e = runs[0]
        rows_of = reproduced.setdefault(f"{block_of(e.kind, e.frames_group())}, {REPRODUCED_BLOCK}", [])
        done = [ap_values(r.evaluation) for r in runs if r.evaluation]
        ap = (
            [
                None if any(v[i] is None for v in done) else statistics.fmean(v[i] for v in done)
                for i in range(len(AP_COLUMNS))
            ]
            if done
            else [None] * len(AP_COLUMNS)
        )
        spread = (
            statistics.stdev(v[-1] for v in done) if len(done) > 1 and all(v[-1] is not None for v in done) else None
        )
        rows_of.append(
            Row(
                "reproduced",
                e.method(),
                e.backbone(),
                e.num_frames,
                e.input_size(),
                ap,
                ref=n,
                boxes=evaluated_boxes(e),
                init=e.init(),
                spread=spread,
                seeds=max(len(done), 1),
                cite=e.cite(),
            )
        )
        seeds = f" (seeds: {', '.join(f'`{r.key}`' for r in runs)})" if len(runs) > 1 else ""
        footnotes.append(f"[{n}] {provenance(e)}{seeds}")
        ref = reported_by_match.get(name)
        if ref is not None:
            rows_of.append(Row("delta", "", "", "", "", delta(ap, ref["ap"]), cite=ref["cite"], boxes="", init=""))
        if name in released_by_match:  # retrained here vs the released weights evaluated here
            m, released_ap = released_by_match[name]
            rows_of.append(Row("delta", "", "", "", "", delta(ap, released_ap), cite=str(m), boxes="", init=""))
    by_block: dict[str, list[Row]] = {b: [] for b in BLOCKS.values()}
    for r in page.reported:
        mark = None
        if r.get("note"):
            mark = chr(ord("a") + len(notes))
            notes.append(f"({mark}) {r['method']} {r.get('backbone') or ''} T={r.get('T')}: {r['note']}.")
        method = f"{r['method']} (user's reproduction)" if r.get("reproduction") else r["method"]
        by_block[block_of(r.get("kind"), r.get("frames"))].append(
            Row(
                "reported",
                method,
                r.get("backbone") or DASH,
                r.get("T") or DASH,
                r.get("input") or DASH,
                list(r["ap"]),
                cite=r["cite"],
                mark=mark,
                boxes=box_label(r.get("boxes")),
                init="paper",
                tabulated_in=r.get("tabulated_in"),
                reproduction=bool(r.get("reproduction")),
            )
        )
    for name, rows in by_block.items():
        if rows:
            rows.sort(key=lambda r: (r.ap[-1] is not None, r.ap[-1] or 0.0))
            blocks.append((name, rows))
    blocks += list(reproduced.items())
    prior = box_prior_rows(page, len(footnotes) + 1)
    if prior:
        rows, note = prior
        blocks.append((CHANCE_BLOCK, rows))
        footnotes.append(note)
    return MainTable([Block(name, rows, best_in_block(rows)) for name, rows in blocks], footnotes, notes)


def box_prior_rows(page: Page, n: int) -> tuple[list[Row], str] | None:
    """The box prior (the training set's mean pose placed in each box: what a model that sees nothing scores), with
    the boxes the experiments were evaluated with and with GT boxes (``data.box_prior``)."""
    prior = page.box_prior
    if prior is None:
        return None
    protocols = [("boxes", box_label(prior.boxes))] + ([("gt_boxes", "GT")] if prior.boxes != "gt" else [])
    rows = [
        Row(
            "prior",
            "Box prior",
            DASH,
            DASH,
            prior.input_size,
            ap_values(prior.columns[k]),
            ref=n,
            boxes=label,
            init="no image",
        )
        for k, label in protocols
    ]
    generated = (prior.provenance or {}).get("data_generated_at")
    note = (
        f"[{n}] box prior: the mean training pose, normalised to the box, placed in every val box and scored "
        f"like a model (the `box_prior` stage, once per dataset: {prior.source}; {describe(prior.provenance)}"
        + (f"; on the dataset generated at commit {generated}" if generated else "")
        + "). A row at or below it owes its number to the boxes."
    )
    return rows, note


def best_in_block(rows: list[Row]) -> list[set[int]]:
    """Per row, the AP column indices where it holds the block's best value (only where a block compares >1 row)."""
    marks: list[set[int]] = [set() for _ in rows]
    comparable = [i for i, r in enumerate(rows) if r.kind not in ("delta", "prior")]  # the chance level is no entry
    if len(comparable) < 2:
        return marks
    for col in range(len(AP_COLUMNS)):
        for boxes in {rows[i].boxes for i in comparable}:  # GT-box and detected-box rows are not compared
            values = [
                (rows[i].ap[col], i) for i in comparable if rows[i].ap[col] is not None and rows[i].boxes == boxes
            ]
            _mark_best(rows, values, col, marks)
    return marks


def _mark_best(rows: list[Row], values: list[tuple[float, int]], col: int, marks: list[set[int]]) -> None:
    """Bold the best of ``values`` (value, row index) in column ``col``, and what ties with it."""
    if len(values) >= 2:
        top, best = max(values)
        for v, i in values:
            # the mean of several seeds has a spread: a value within either row's sd of the best ties with it
            sd = max(rows[j].spread or 0.0 for j in (i, best)) if col == len(AP_COLUMNS) - 1 else 0.0
            if round(v, 1) == round(top, 1) or top - v <= sd:
                marks[i].add(col)


def streaming_or_clip(e: Experiment) -> tuple[str, str]:
    """The mode that costs a new frame (streaming, where the model has it; a T=1 model's clip is its streaming) and
    how a cell says so."""
    if mode_entry(e.profile, "streaming"):
        return "streaming", ""
    return "clip", " (= clip: T=1)" if e.num_frames == 1 else " (clip: no streaming mode)"


@dataclass
class Model:
    """One model of an efficiency table: how a reader names it, and where its numbers are (``key``: its profile and
    its entries in the interleaved timing run)."""

    method: str
    backbone: str
    frames: Any
    input: str
    init: str
    key: str
    profile: dict | None


def experiment_models(experiments: list[Experiment]) -> list[Model]:
    """The experiments of a page, one per seed group (a model's cost does not depend on its seed), in the main
    table's order."""
    firsts = sorted((runs[0] for runs in seed_groups(experiments).values()), key=reproduced_order)
    return [Model(e.method(), e.backbone(), e.num_frames, e.input_size(), e.init(), e.key, e.profile) for e in firsts]


def paper_models(paper: dict[str, dict]) -> list[Model]:
    """The paper-size profiles, named as the papers name the models; single-frame first, then by T."""
    out = []
    for key, p in paper.items():
        kwargs = p.get("kwargs") or {}
        method = method_name(p.get("model", DASH), str(kwargs.get("backbone", "")))
        w, h = p.get("input_size") or ("?", "?")
        out.append(
            Model(
                method,
                backbone_label(str(kwargs.get("backbone") or DASH), p.get("model", "")),
                p.get("num_frames", 1),
                f"{h}x{w}",
                "",
                key,
                p,
            )
        )
    return sorted(
        out,
        key=lambda m: (
            m.frames != 1,
            m.method != "RLE",
            m.method,
            m.backbone != "ResNet-50",
            int(m.frames or 1),
            m.key,
        ),
    )


def speedup_text(entry: dict) -> list[str]:
    """The ``--fast-mode`` speed-up of one profile entry (a per-round ratio measured interleaved with fp32)."""
    f = entry.get("fast")
    if not f:
        return [DASH, DASH]
    q = f["latency"]["speedup"]
    return [options_label(f["options"]), f"{q['median']:.2f}x [{q['min']:.2f}, {q['max']:.2f}]"]


def cost_rows(models: list[Model]) -> list[tuple[Model, str, list[str]]]:
    """(model, mode, cells) of the cost table: counted quantities and memory, never a time."""
    rows = []
    for m in models:
        for mode, entry in ((m.profile or {}).get("modes") or {"clip": {}}).items():
            g = entry.get("gflops") or {}
            mem = (entry.get("memory_forward") or {}).get("peak_mib")
            train = ((m.profile or {}).get("memory_train_step") or {}).get("peak_mib")
            params = (m.profile or {}).get("params", {}).get("total")
            rows.append(
                (
                    m,
                    mode,
                    [
                        m.method,
                        m.backbone,
                        str(m.frames),
                        m.input,
                        m.init or DASH,
                        mode,
                        str(entry.get("backbone_passes", DASH)),
                        gflops_text(g.get("total")),
                        gflops_text(g.get("backbone")),
                        mflops_text(g.get("head")),
                        DASH if params is None else f"{params / 1e6:.2f}",
                        fmt(mem, 0),
                        fmt(train, 0),
                        *speedup_text(entry),
                    ],
                )
            )
    return rows


def timing_modes(m: Model, doc: dict | None) -> list[str]:
    """The modes a model was timed in (those of its profile, else clip)."""
    return list(((m.profile or {}).get("modes") or {"clip": {}}).keys())


def speed_rows(models: list[Model], doc: dict | None) -> list[tuple[Model, str, list[str]]]:
    """(model, mode, cells) of the speed table: every time from the one interleaved run ``doc``."""
    rows = []
    for m in models:
        for mode in timing_modes(m, doc):
            lat = timing(doc, m.key, mode)
            thr = timing(doc, m.key, mode, throughput_batch(doc))
            lat_text = f"{lat['ms']['median']:.1f} [{lat['ms']['p25']:.1f}, {lat['ms']['p75']:.1f}]" if lat else DASH
            fps_text = f"{thr['fps']['median']:.1f} [{thr['fps']['p25']:.1f}, {thr['fps']['p75']:.1f}]" if thr else DASH
            rows.append(
                (
                    m,
                    mode,
                    [
                        m.method,
                        m.backbone,
                        str(m.frames),
                        m.init or DASH,
                        mode,
                        lat_text,
                        fps_text,
                        str(lat["rounds"]) if lat else DASH,
                    ],
                )
            )
    return rows


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


def options_label(options: dict) -> str:
    """``fp32``, ``bf16 + channels-last``, ``fp16 + channels-last + compile + CUDA graphs`` ..."""
    parts = [options.get("dtype", "fp32")]
    parts += [
        name
        for key, name in (("channels_last", "channels-last"), ("compile", "compile"), ("cuda_graphs", "CUDA graphs"))
        if options.get(key)
    ]
    return " + ".join(parts)
