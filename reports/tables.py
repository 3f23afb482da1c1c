"""Numbers to Markdown cells and tables, laid out like the papers' (a missing number is a dash, never a guess)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from dsta.provenance import commit_name, describe, machine_name
from reports.results import GROUPS, Experiment

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


def gflops_cell(profile: dict | None, mode: str = "clip") -> str:
    entry = mode_entry(profile, mode).get("gflops")
    if not entry:
        return DASH
    return f"{entry['total']:.3f} ({entry['backbone']:.3f} + {entry['head']:.4f})"


def params_cell(profile: dict | None) -> str:
    return DASH if not profile else f"{profile['params']['total'] / 1e6:.2f} M"


def mem_cell(profile: dict | None, mode: str = "clip") -> str:
    mem = mode_entry(profile, mode).get("memory_forward", {}).get("peak_mib")
    return DASH if mem is None else f"{mem:.0f} MiB"


def fps_cell(profile: dict | None, mode: str = "clip") -> str:
    thr = mode_entry(profile, mode).get("throughput")
    return DASH if not thr else f"{thr['fps']:.0f}"


def short(value: Any) -> Any:
    return f"{value:.4g}" if isinstance(value, float) else value


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# the papers' layout: accuracy only; the efficiency of the reproduced rows has a table of its own
MAIN_HEADER = ["Method", "Backbone", "T", "Input", *AP_COLUMNS, "Source"]


@dataclass
class Page:
    dataset: str
    experiments: list[Experiment]
    reported: list[dict]
    status: dict
    commit: str
    notes: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    released: list[Experiment] = field(default_factory=list)  # released checkpoints evaluated here (no training)


def provenance(e: Experiment, commit: str) -> str:
    """The footnote of a reproduced row: dataset and config, then the commit and machine of each of its numbers,
    each from the file that number came from (``commit`` is the report's own, used for nothing measured)."""
    env = (e.profile or {}).get("env", {})
    ev = e.evaluation or {}
    kw = ", ".join(f"{k}={v}" for k, v in e.kwargs.items() if k not in ("pretrained", "joint_groups"))
    train = e.config.get("train", {})
    recipe = (f"released weights {e.config.get('weights')}, no training, flip test "
              f"{'on' if (e.config.get('test') or {}).get('flip') else 'off'}" if e.released else
              f"{train.get('epochs')} epochs, batch {train.get('batch_size')}, lr {train.get('lr')}")
    mAP = e.provenance("evaluation")
    parts = [f"AP: {describe(mAP)}" if mAP else "AP: not evaluated yet"]
    trained = e.provenance("training")
    if trained and (trained.get("commit"), machine_name(trained)) != ((mAP or {}).get("commit"), machine_name(mAP)):
        parts.append(f"training: {describe(trained)}")
    if e.profile:
        parts.append(f"efficiency: {describe(e.provenance('profile'))} ({env.get('dtype')}, {env.get('threads')} "
                     f"threads)")
    return (f"`{e.key}`: dataset {e.dataset} (val, {ev.get('num_frames', '?')} labeled frames, boxes "
            f"{ev.get('boxes', e.config['data'].get('boxes'))}); config "
            f"`{e.key.replace('/', '.') if e.released else 'experiments.' + e.key}` of params.yaml "
            f"({e.model}: {kw}; {recipe}); " + "; ".join(parts) + ".")


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

    out = (f"**Mixed provenance**: the numbers on this page come from {named('commit', commits, ', ')} and "
           f"{named('machine', machines, '; ')}")
    if unknown:
        out += ", and some outputs record no commit or machine (made before provenance blocks existed)"
    return out + ". Each footnote names the commit and machine of its own numbers."


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
    cite: str | None = None  # citation key of a reported row (or of the row a Δ compares with)
    mark: str | None = None  # note letter of a reported row

    def cells(self) -> list[str]:
        values = [signed(v) for v in self.ap] if self.kind == "delta" else [fmt(v) for v in self.ap]
        return [self.method, self.backbone, str(self.frames), self.input, *values]

    def source(self) -> str:
        mark = f" ({self.mark})" if self.mark else ""
        return {"reproduced": f"this run [{self.ref}]", "released": f"released weights, evaluated here [{self.ref}]",
                "delta": f"Δ vs [{self.cite}]"}.get(self.kind, f"[{self.cite}]{mark}")


def main_rows(page: Page) -> tuple[list[Row], list[str], list[str]]:
    """The rows of a page's main table, the footnotes of its reproduced rows and the notes of its reported rows."""
    rows, footnotes, notes = [], [], []
    reported_by_match = {r["match"]: r for r in page.reported if r.get("match")}
    released_by_match: dict[str, tuple[int, list]] = {}  # experiment -> (footnote, AP) of the release beside it
    for n, e in enumerate([*page.released, *page.experiments], 1):
        ap = ap_values(e.evaluation)
        if e.skipped:
            page.missing.append(f"`{e.key}`: {e.skipped}")
        elif e.evaluation is None:
            page.missing.append(f"`{e.key}`: no evaluation yet (eval/{e.key}/metrics.json)")
        if e.profile is None and not e.released:
            page.missing.append(f"`{e.key}`: no profile yet (profiles/{e.key}.json)")
        kind = "released" if e.released else "reproduced"
        rows.append(Row(kind, e.method(), e.backbone(), e.num_frames, e.input_size(), ap, ref=n))
        footnotes.append(f"[{n}] {provenance(e, page.commit)}")
        match = e.config.get("match") if e.released else e.key
        ref = reported_by_match.get(match)
        if ref is not None:
            rows.append(Row("delta", "", "", "", "", delta(ap, ref["ap"]), cite=ref["cite"]))
        if e.released:
            released_by_match[match] = (n, ap)
        elif e.key in released_by_match:  # retrained here vs the released weights evaluated here
            rows.append(Row("delta", "", "", "", "", delta(ap, released_by_match[e.key][1]),
                            cite=str(released_by_match[e.key][0])))
    for r in page.reported:
        mark = None
        if r.get("note"):
            mark = chr(ord("a") + len(notes))
            notes.append(f"({mark}) {r['method']} {r.get('backbone') or ''} T={r.get('T')}: {r['note']}.")
        rows.append(Row("reported", r["method"], r.get("backbone") or DASH, r.get("T") or DASH, r.get("input") or DASH,
                        list(r["ap"]), cite=r["cite"], mark=mark))
    return rows, footnotes, notes


def main_table(page: Page) -> tuple[str, list[str]]:
    """The main table as Markdown, and the footnotes and notes to print beneath it."""
    rows, footnotes, notes = main_rows(page)
    return table(MAIN_HEADER, [[*r.cells(), r.source()] for r in rows]), footnotes + notes


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
FAST_HEADER = ["Fast mode", "its latency bs1 ms", "x fp32, latency [min, max]", "its FPS", "x fp32, FPS [min, max]"]


def fast_columns(entry: dict) -> list[str]:
    """The ``--fast-mode`` timing of a profile entry: that mode's latency and FPS, and its speed-up over fp32 per
    round of the interleaved measurement (median [min, max])."""
    f = entry.get("fast")
    if not f:
        return [DASH] * len(FAST_HEADER)

    def speedup(key: str) -> str:
        q = f[key]["speedup"]
        return f"{q['median']:.2f} [{q['min']:.2f}, {q['max']:.2f}]"

    return [options_label(f["options"]), fmt(f["latency"]["fast_ms"]["median"], 1), speedup("latency"),
            f"{fmt(f['throughput']['fps'], 1)} @ {f['throughput']['batch']}", speedup("throughput")]


def efficiency_table(profiles: dict[str, dict]) -> str:
    """Model cost per mode; where the profiles timed a fast mode too (``benchmarks.profile --fast-mode``), its
    latency, FPS and speed-up over fp32 (measured interleaved with fp32) follow the fp32 columns."""
    rows = efficiency_rows(profiles)
    entries = [entry for p in profiles.values() for entry in p["modes"].values()]
    if not any(e.get("fast") for e in entries):
        return table(EFFICIENCY_HEADER, rows)
    at = EFFICIENCY_HEADER.index("Fwd peak MiB")  # the fast-mode columns follow the fp32 timings
    return table(EFFICIENCY_HEADER[:at] + FAST_HEADER + EFFICIENCY_HEADER[at:],
                 [row[:at] + fast_columns(e) + row[at:] for row, e in zip(rows, entries)])


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
    parts += [name for key, name in (("channels_last", "channels-last"), ("compile", "compile"),
                                     ("cuda_graphs", "CUDA graphs")) if options.get(key)]
    return " + ".join(parts)


def side_by_side_table(rows: list[dict]) -> str:
    """DSTA streaming / RLE time per frame, each row measured side by side, with its spread over rounds."""
    def size(row: dict) -> str:
        w, h = row["input_size"] or ("?", "?")
        return f"{h}x{w}"

    out = []
    for r in sorted(rows, key=lambda r: (r["device_type"] != "cpu", r["device"], str(r["input_size"]), r["batch"],
                                         options_label(r["options"]) != "fp32", options_label(r["options"]))):
        q = r["ratio"]
        ms = (f"{r['reference_ms']:.2f} / {r['entry_ms']:.2f}" if r.get("reference_ms") and r.get("entry_ms")
              else DASH)
        out.append([r["device"], size(r), r["batch"], options_label(r["options"]),
                    f"**{q['median']:.3f}** [{q['p25']:.3f}, {q['p75']:.3f}]", f"{q['min']:.3f}-{q['max']:.3f}",
                    len(q.get("rounds", [])) or DASH, ms, f"{r['commit']}, torch {r['torch']}, {r['threads']} thread{'s' if r['threads'] != 1 else ''}",
                    r["source"]])
    return table(["Device", "Input", "Batch", "Mode", "DSTA / RLE per frame, median [p25, p75]", "min-max",
                  "Rounds", "RLE / DSTA ms per call", "Commit, stack", "Source"], out)
