"""Side-by-side timing: several models in one process, their calls interleaved, ratios with their spread.

Two profiles timed at different moments on a shared machine do not give a ratio: each saw a different load. Here
every entry is built once, warmed up, and then timed in **rounds** of ``iters`` calls each, the entries taking turns
call by call in ABBA order (A B, B A, A B, ...), so a load that comes and goes hits both sides alike. A round gives
one median per entry and one ratio per entry over the reference (the first entry), so the load of that round
cancels; the result is the median of those per-round ratios with their quartiles, min and
max over the rounds.

``python -m benchmarks.profile --side-by-side rle_r50 dsta_r50:streaming --batches 1 32 --rounds 9 --out X.json``

An entry is ``CONFIG[:MODE]`` (a ``configs/model`` entry or registered name; MODE ``clip``, ``streaming`` or
``features``, default clip; ``features`` is streaming without its head, so that ``rle_tiny dsta_tiny:streaming
dsta_tiny:features`` splits streaming's extra cost over RLE into features and head). All entries share the input
size, batch, device and inference options.

Result schema (``write_json`` of ``side_by_side(...)``; read by the report)::

    {
      "kind": "side_by_side",
      "reference": "rle_r50:clip",                 # ratios are entry / reference, per frame (one call = batch frames)
      "input_size": [W, H],
      "options": {"dtype", "channels_last", "compile", "cuda_graphs"},
      "env": {"device", "device_type", "torch", "dtype", "threads", "commit", "python"},
      "protocol": {"warmup", "iters", "rounds", "order": "ABBA per call"},
      "entries": {"<label>": {"config", "model", "mode", "kwargs", "num_frames", "source"}},
      "batches": {
        "<batch>": {
          "ms_per_call": {"<label>": {"median", "p25", "p75", "min", "max", "rounds": [ms, ...]}},
          "fps":         {"<label>": frames per second at the median},
          "ratio":       {"<label>": {"median", "p25", "p75", "min", "max", "rounds": [r, ...]}},
        }
      },
      "op_tables": {"<label>@<batch>": "torch.profiler table, top ops by self CPU/CUDA time"}   # when asked for
    }
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from benchmarks.profiling.env import environment
from benchmarks.profiling.specs import ModelSpec, spec_from_model
from benchmarks.profiling.steps import STEPS, make_step, modes, step_inputs
from dsta.core.errors import DataError
from dsta.inference import InferenceOptions


@dataclass
class Entry:
    config: str
    mode: str
    spec: ModelSpec

    @property
    def label(self) -> str:
        return f"{self.config}:{self.mode}"


def parse_entry(text: str, input_size: tuple[int, int]) -> Entry:
    config, _, mode = text.partition(":")
    mode = mode or "clip"
    if mode not in STEPS:
        raise DataError(None, text, f"an entry is CONFIG[:MODE] with MODE one of {', '.join(STEPS)}")
    return Entry(config, mode, spec_from_model(config, {}, input_size))


def every_mode(specs: dict[str, ModelSpec]) -> list[Entry]:
    """An entry per model and mode: clip for every model, streaming too where its model has that mode (the model is
    built once here to ask it). Single-frame regression models first (the reference is the first entry)."""
    entries = []
    for key, spec in sorted(specs.items(), key=lambda kv: kv[1].name != "rle"):
        entries += [Entry(key, mode, spec) for mode in modes(spec.build())]
    return entries


def spread(values: list[float]) -> dict[str, Any]:
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return {
        "median": statistics.median(values),
        "p25": q[0],
        "p75": q[2],
        "min": min(values),
        "max": max(values),
        "rounds": values,
    }


def interleaved(
    fns: dict[str, Callable[[], Any]], device: torch.device, warmup: int, iters: int, rounds: int
) -> dict[str, list[float]]:
    """Per entry, the median seconds per call of each round. Within a round the entries take turns call by call,
    in ABBA order (A B, then B A, ...), so every entry's ``iters`` calls of a round sample the same moments."""
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    sync()
    labels = list(fns)
    out: dict[str, list[float]] = {k: [] for k in labels}
    turn = 0
    for _ in range(rounds):
        times: dict[str, list[float]] = {k: [] for k in labels}
        for _ in range(iters):
            for label in labels if turn % 2 == 0 else labels[::-1]:
                start = time.perf_counter()
                fns[label]()
                sync()
                times[label].append(time.perf_counter() - start)
            turn += 1
        for label in labels:
            out[label].append(statistics.median(times[label]))
    return out


def build_call(
    model: nn.Module,
    mode: str,
    batch: int,
    input_size: tuple[int, int],
    device: torch.device,
    options: InferenceOptions,
) -> Callable[[], Any]:
    """One key-frame prediction step of ``model`` at ``batch`` with the options applied, as a no-argument call."""
    step = make_step(model, mode).eval()
    inputs = tuple(options.prepare_input(x) for x in step_inputs(model, mode, batch, input_size, device))
    run = options.wrap(step, inputs, device)

    def call():
        with torch.inference_mode():
            return run(*inputs)

    return call


def op_table(call: Callable[[], Any], device: torch.device, rows: int = 15, calls: int = 5) -> str:
    """torch.profiler's table of the top operators of ``calls`` calls (self time)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    call()
    with profile(activities=activities) as prof:
        for _ in range(calls):
            call()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=rows)


def side_by_side(
    entries: list[Entry],
    device: torch.device,
    batches: list[int],
    options: InferenceOptions,
    warmup: int = 2,
    iters: int = 5,
    rounds: int = 9,
    op_tables: int = 0,
    section: str | None = None,
) -> dict[str, Any]:
    """Time ``entries`` interleaved at every batch; ratios per frame over the first entry (see the module doc)."""
    if len(entries) < 2:
        raise DataError(None, "--side-by-side", "needs at least two entries (the first is the reference)")
    options.check(device)
    models = {}
    for e in entries:
        model = options.prepare_model(e.spec.build().to(device))
        if e.mode not in modes(model, breakdown=True):
            raise DataError(None, e.label, f"{e.spec.name} has no {e.mode} mode (it has {', '.join(modes(model))})")
        models[e.label] = model
    ref = entries[0].label
    result: dict[str, Any] = {
        "kind": "side_by_side",
        "reference": ref,
        "input_size": list(entries[0].spec.input_size),
        "options": options.as_dict(),
        "env": environment(device, options),
        "protocol": {"warmup": warmup, "iters": iters, "rounds": rounds, "order": "ABBA per call"},
        "entries": {
            e.label: {
                "config": e.config,
                "model": e.spec.name,
                "mode": e.mode,
                "kwargs": e.spec.kwargs,
                "input_size": list(e.spec.input_size),
                "num_frames": models[e.label].num_frames,
                "source": e.spec.source,
            }
            for e in entries
        },
        "batches": {},
        "op_tables": {},
    }
    if section:
        result["section"] = section  # every model of this params.yaml section (``--side-by-side-all``)
    for batch in batches:
        calls = {
            e.label: build_call(models[e.label], e.mode, batch, e.spec.input_size, device, options) for e in entries
        }
        secs = interleaved(calls, device, warmup, iters, rounds)
        ms = {k: spread([s * 1e3 for s in v]) for k, v in secs.items()}
        result["batches"][str(batch)] = {
            "ms_per_call": ms,
            "fps": {k: batch / (v["median"] / 1e3) for k, v in ms.items()},
            "ratio": {k: spread([a / b for a, b in zip(secs[k], secs[ref])]) for k in secs if k != ref},
        }
        if op_tables:
            for label, call in calls.items():
                result["op_tables"][f"{label}@{batch}"] = op_table(call, device, op_tables)
        del calls
    return result


def summary(result: dict) -> str:
    o = result["options"]
    env = result["env"]
    lines = [
        f"side by side on {env['device']}, torch {env['torch']}, {env['threads']} threads, "
        f"{InferenceOptions(**o).label}, input {result['input_size'][0]}x{result['input_size'][1]}, "
        f"{result['protocol']['rounds']} rounds x {result['protocol']['iters']} calls, commit {env['commit']}"
    ]
    for batch, b in result["batches"].items():
        for label, m in b["ms_per_call"].items():
            r = b["ratio"].get(label)
            ratio = (
                (
                    f"  ratio {r['median']:.3f} [p25 {r['p25']:.3f}, p75 {r['p75']:.3f}; min {r['min']:.3f}, "
                    f"max {r['max']:.3f}]"
                )
                if r
                else "  (reference)"
            )
            lines.append(f"  bs{batch:<4} {label:24s} {m['median']:9.2f} ms/call  {b['fps'][label]:9.1f} FPS{ratio}")
    return "\n".join(lines)
