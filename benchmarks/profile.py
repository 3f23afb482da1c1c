"""Profile a registered model: parameters, GFLOPs, peak memory, latency and throughput, each with its environment.

``python -m benchmarks.profile --model NAME [key=value ...] [--input-size W H] --out profile.json``
``python -m benchmarks.profile --params params.yaml --experiment dsta_t3 --out profile.json``

``NAME`` is a model config in ``configs/model/`` (``dsta_r50``, ``rle_tiny``, ...) or a registered model name
(``dsta``, ``rle``, ...); ``key=value`` pairs override its constructor arguments (values are YAML: ``num_frames=5``).
With ``--experiment`` the model and input size come from that experiment of params.yaml (the pipeline's way).

What is measured, for one key-frame prediction:

* **Parameters**: total, backbone (the submodule at the model's ``backbone_path``) and head (everything else).
* **GFLOPs** with fvcore, split the same way. *One multiply-add counts as one FLOP* (fvcore's convention, and the
  one papers quote). Handles are added for what fvcore would silently count as zero: ``scaled_dot_product_attention``
  (QK^T and AV), torchvision's ``deform_conv2d`` (the convolution plus bilinear sampling and modulation), the global
  mean pool and ``linalg_vector_norm``; norm layers use fvcore's own handles. Whatever is still uncounted (element-wise
  ops: additions, activations, max-pool) is listed under ``unsupported_ops`` next to the total.
* Two modes for multi-frame models: **clip** (the T frames go through the backbone for each prediction) and
  **streaming** (per-frame features are cached, so a new frame costs one backbone pass plus the aggregation over the
  cached features of T frames). Single-frame models have only the clip mode.
* **Peak memory** of a forward pass (batch 1) and of a training step (forward, loss, backward, AdamW step, at
  ``--train-batch``). On CUDA: ``torch.cuda.max_memory_allocated`` over the call. On CPU: the peak increase of the
  process's resident set over the call (Linux ``VmHWM`` reset through ``/proc/self/clear_refs``; glibc's mmap
  threshold is pinned to 64 KiB and the heap trimmed first, so freed tensors really leave the RSS), plus the bytes of
  the tensors already resident (weights, inputs, gradients and optimizer state).
* **Latency** at batch 1 and **throughput** (predictions per second) at ``--batch``: warm-up calls, then timed calls
  with device synchronisation; the median with the 25th/75th percentiles, min and max. ``--dtype {fp32,fp16,bf16}``
  (autocast), ``--channels-last``, ``--compile`` and (CUDA only) ``--cuda-graphs`` apply to these timings
  (``dsta.inference``); FLOPs and memory are of the fp32 model. ``env.options`` records them.
* ``--fast-mode LABEL`` (e.g. ``bf16+cl``, written as ``InferenceOptions.label`` writes it): latency and throughput
  once more, the model in that mode and in the options above timed **interleaved** call by call (a copy of the model
  each), so the speed-up of the fast mode is a ratio measured side by side: ``modes.<mode>.fast`` holds its options,
  both sides' milliseconds per call (median over rounds, spread) and the per-round speed-up. The report's efficiency
  table shows it beside the fp32 columns.

**Side by side** (``--side-by-side CONFIG[:MODE] ...``): several models timed interleaved in one process, with the
per-frame ratio to the first entry and its spread over rounds; see ``benchmarks.profiling.side_by_side``, whose
docstring gives the result schema. A ratio between two separate profiles is not reliable on a shared machine.
``--side-by-side-all experiments`` (or ``paper_profiles``) times every model of that params.yaml section, each in
every mode it has, in one such run: the report's latency and FPS columns come from these runs only.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.profiling.env import environment
from benchmarks.profiling.flops import FLOP_CONVENTION, backbone_path, count_flops, count_params
from benchmarks.profiling.memory import peak_memory, tensor_mib, training_step
from benchmarks.profiling.side_by_side import build_call, every_mode, interleaved, parse_entry, side_by_side, spread
from benchmarks.profiling.side_by_side import summary as side_by_side_summary
from benchmarks.profiling.specs import (
    ModelSpec,
    model_configs,
    parse_overrides,
    section_specs,
    spec_from_experiment,
    spec_from_model,
)
from benchmarks.profiling.steps import make_step, modes, step_inputs
from benchmarks.profiling.timing import time_calls
from dsta import inference
from dsta.core.configs import DEFAULT_INPUT_SIZE, check_input_size, check_model_kwargs, int_at_least, model_config_class
from dsta.core.errors import DataError, doc_summary, main_guard
from dsta.core.io import check_out_file, write_json
from dsta.core.provenance import provenance
from dsta.core.registry import list_models
from dsta.inference import InferenceOptions


class Progress:
    """One line on stderr per step, with the time since the start, so a minutes-long profile is never silent."""

    def __init__(self, name: str) -> None:
        self.name, self.t0 = name, time.perf_counter()

    def __call__(self, step: str) -> None:
        print(f"[{time.perf_counter() - self.t0:6.1f} s] {self.name}: {step}", file=sys.stderr, flush=True)


# -- the whole profile ----------------------------------------------------------------------------------------------
def profile(
    spec: ModelSpec,
    device: torch.device,
    batch: int = 32,
    train_batch: int = 8,
    warmup: int = 3,
    iters: int = 20,
    flops: bool = True,
    memory: bool = True,
    options: InferenceOptions | None = None,
    fast: InferenceOptions | None = None,
) -> dict[str, Any]:
    options = options or InferenceOptions()
    options.check(device)
    if fast is not None:
        fast.check(device)
    # height x width, as the papers write input sizes (256x192)
    progress = Progress(f"{spec.name} {spec.input_size[1]}x{spec.input_size[0]}")
    progress("building the model")
    model = spec.build().to(device)
    env = environment(device, options)
    result: dict[str, Any] = {
        "model": spec.name,
        "kwargs": spec.kwargs,
        "source": spec.source,
        "num_frames": model.num_frames,
        "input_size": list(spec.input_size),
        "env": env,
        "flop_convention": FLOP_CONVENTION,
        "params": count_params(model),
        "modes": {},
        "provenance": provenance(
            None, {"model": spec.name, "kwargs": spec.kwargs, "input_size": list(spec.input_size)}
        ),
    }
    for mode in modes(model):
        step = make_step(model, mode).eval()
        entry: dict[str, Any] = {"backbone_passes": model.num_frames if mode == "clip" else 1}
        if flops:
            progress(f"{mode}: counting GFLOPs")
            entry["gflops"] = count_flops(
                step, step_inputs(model, mode, 1, spec.input_size, device), backbone_path(model)
            )
        timed = make_step(options.prepare_model(model), mode).eval()
        for key, b in (("latency", 1), ("throughput", batch)):
            progress(f"{mode}: timing {key} at batch {b}")
            inputs = tuple(options.prepare_input(x) for x in step_inputs(model, mode, b, spec.input_size, device))
            run = options.wrap(timed, inputs, device)
            with torch.inference_mode():
                stats = time_calls(
                    lambda run=run, inputs=inputs: run(*inputs), device, warmup, iters if b == 1 else max(3, iters // 4)
                )
            stats.update(batch=b, fps=b / (stats["median_ms"] / 1e3))
            entry[key] = stats
        if fast is not None:
            progress(f"{mode}: {options.label} and {fast.label} interleaved")
            entry["fast"] = fast_mode(model, mode, spec.input_size, device, options, fast, batch, warmup, iters)
        if memory:
            progress(f"{mode}: peak memory of a forward pass")
            inputs = step_inputs(model, mode, 1, spec.input_size, device)
            with torch.inference_mode():
                step(*inputs)
                entry["memory_forward"] = {
                    **peak_memory(
                        lambda step=step, inputs=inputs: step(*inputs),
                        device,
                        tensor_mib([*model.parameters(), *model.buffers(), *inputs]),
                    ),
                    "batch": 1,
                }
        result["modes"][mode] = entry
    model.to(memory_format=torch.contiguous_format)  # memory and training step in the default format
    if memory:
        progress(f"peak memory of a training step at batch {train_batch}")
        train, resident = training_step(model, spec, train_batch, device)
        train()  # allocates gradients and optimizer state
        result["memory_train_step"] = {**peak_memory(train, device, tensor_mib(resident())), "batch": train_batch}
    result["per_frame_mode"] = "streaming" if "streaming" in result["modes"] else "clip"
    progress("done")
    return result


def fast_mode(
    model: torch.nn.Module,
    mode: str,
    input_size: tuple[int, int],
    device: torch.device,
    base: InferenceOptions,
    fast: InferenceOptions,
    batch: int,
    warmup: int,
    iters: int,
) -> dict[str, Any]:
    """Latency (batch 1) and throughput (``batch``) of ``model`` in ``fast`` and ``base`` options, interleaved call by
    call (ABBA) in ``max(5, iters)`` rounds of one call each, on two copies of the model."""
    out: dict[str, Any] = {"options": fast.as_dict(), "label": fast.label, "base": base.label}
    sides = {"base": base, "fast": fast}
    # each side on its own copy in the default layout (the caller may have made ``model`` channels-last)
    copies = {
        label: opts.prepare_model(copy.deepcopy(model).to(memory_format=torch.contiguous_format))
        for label, opts in sides.items()
    }
    for key, b in (("latency", 1), ("throughput", batch)):
        calls = {label: build_call(copies[label], mode, b, input_size, device, opts) for label, opts in sides.items()}
        secs = interleaved(calls, device, warmup, 1, max(5, iters))
        out[key] = {
            "batch": b,
            "base_ms": spread([t * 1e3 for t in secs["base"]]),
            "fast_ms": spread([t * 1e3 for t in secs["fast"]]),
            "speedup": spread([a / f for a, f in zip(secs["base"], secs["fast"])]),
        }
        out[key]["fps"] = b / (out[key]["fast_ms"]["median"] / 1e3)
        del calls
    return out


def summary(result: dict) -> str:
    rows = []
    for mode, e in result["modes"].items():
        g = e.get("gflops", {})
        mem = e.get("memory_forward", {}).get("peak_mib")
        rows.append(
            f"  {mode:9s} GFLOPs {g.get('total', float('nan')):8.3f} (backbone {g.get('backbone', 0):.3f} "
            f"+ head {g.get('head', 0):.4f})  latency {e['latency']['median_ms']:8.2f} ms  "
            f"{e['throughput']['fps']:8.1f} FPS @ bs{e['throughput']['batch']}"
            + (f"  fwd peak {mem:.0f} MiB" if mem is not None else "")
        )
        if "fast" in e:
            f = e["fast"]
            rows.append(
                f"  {'':9s} {f['label']}: latency {f['latency']['fast_ms']['median']:8.2f} ms "
                f"(x{f['latency']['speedup']['median']:.2f} over {f['base']}), "
                f"{f['throughput']['fps']:8.1f} FPS (x{f['throughput']['speedup']['median']:.2f})"
            )
    p = result["params"]
    head = (
        f"{result['model']} {result['input_size'][1]}x{result['input_size'][0]} T={result['num_frames']}: "
        f"{p['total'] / 1e6:.2f} M params (backbone {p['backbone'] / 1e6:.2f} M + head {p['head'] / 1e6:.3f} M)"
    )
    return "\n".join([head, *rows])


def parser() -> argparse.ArgumentParser:
    """The command's arguments: what to profile (one model, an experiment, or several side by side) and how."""
    p = argparse.ArgumentParser(description=doc_summary(__doc__))
    p.add_argument("overrides", nargs="*", help="constructor overrides, key=value (YAML values)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="a configs/model entry or a registered model name")
    src.add_argument("--experiment", help="an experiment of --params")
    src.add_argument(
        "--side-by-side",
        nargs="+",
        metavar="CONFIG[:MODE]",
        help="time these interleaved; ratios per frame over the first (see side_by_side)",
    )
    src.add_argument(
        "--side-by-side-all",
        choices=["experiments", "paper_profiles"],
        metavar="SECTION",
        help="time every model of this params section (experiments or paper_profiles) interleaved, "
        "each in every mode it has (the report's timings)",
    )
    p.add_argument("--batches", type=int_at_least(1), nargs="+", default=[1, 32], help="side by side: the batches")
    p.add_argument("--rounds", type=int_at_least(1), default=9, help="side by side: ABBA rounds (one ratio each)")
    p.add_argument(
        "--op-tables",
        type=int_at_least(0),
        default=0,
        metavar="ROWS",
        help="side by side: add torch.profiler top-op tables of this many rows",
    )
    p.add_argument("--params", default="params.yaml")
    p.add_argument(
        "--input-size",
        type=int_at_least(1),
        nargs=2,
        metavar=("W", "H"),
        default=None,
        help="network input (default: the experiment's, else 192 256)",
    )
    p.add_argument("--batch", type=int_at_least(1), default=32, help="batch of the throughput measurement")
    p.add_argument(
        "--train-batch", type=int_at_least(1), default=8, help="batch of the training-step memory measurement"
    )
    p.add_argument("--warmup", type=int_at_least(0), default=3)
    p.add_argument(
        "--iters",
        type=int_at_least(1),
        default=20,
        help="timed calls at batch 1 (a quarter of them at --batch); side by side: calls per block",
    )
    p.add_argument("--threads", type=int_at_least(1), default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--no-flops", action="store_true")
    p.add_argument("--no-memory", action="store_true")
    inference.add_arguments(p)
    p.add_argument(
        "--fast-mode",
        metavar="LABEL",
        help="also time this mode (e.g. bf16+cl) interleaved with the options above, on a copy",
    )
    p.add_argument("--out", required=True)
    return p


def spec_of(a: argparse.Namespace) -> ModelSpec:
    """The one model to profile (``--model`` or ``--experiment``, with overrides), its arguments checked against its
    typed config before a network is built (a DataError naming the key, no traceback); a bare registered name takes
    its typed config's defaults for what it was not given."""
    overrides = parse_overrides(a.overrides)
    if a.experiment:
        spec = spec_from_experiment(Path(a.params), a.experiment)
        spec.kwargs.update(overrides)
        if a.input_size:
            spec.input_size = tuple(a.input_size)
    else:
        spec = spec_from_model(a.model, overrides, tuple(a.input_size or DEFAULT_INPUT_SIZE))
    if spec.source.startswith("registered") and model_config_class(spec.name) is None:
        raise DataError(
            None,
            "--model",
            f"{a.model!r} is neither a configs/model entry ({', '.join(model_configs())})"
            f" nor a registered model ({', '.join(list_models())})",
        )
    where = (
        f"experiments.{a.experiment}.model.kwargs"
        if a.experiment
        else f"{spec.source}: kwargs"
        if spec.source.startswith("configs/")
        else "overrides"
    )
    typed = check_model_kwargs(spec.name, spec.kwargs, where)
    check_input_size(spec.input_size, typed.backbone, "--input-size" if a.input_size else "input size")
    if spec.source.startswith("registered"):
        spec.kwargs = dataclasses.asdict(typed)
    return spec


@main_guard
def main(argv: list[str] | None = None) -> dict:
    a = parser().parse_args(argv)  # counts and sizes are checked by their types (int_at_least): one usage line
    check_out_file(a.out)
    if a.input_size:
        check_input_size(a.input_size, None, "--input-size")
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    options = inference.from_args(a).check(device)
    fast = InferenceOptions.from_label(a.fast_mode, "--fast-mode") if a.fast_mode else None
    if fast is not None and fast.cuda_graphs and device.type != "cuda":
        raise DataError(None, "--fast-mode", f"{a.fast_mode!r}: CUDA graphs need a CUDA device, not {device.type}")
    if fast is not None and (a.side_by_side or a.side_by_side_all):
        raise DataError(None, "--fast-mode", "profiles one model; side by side, give the mode with --dtype etc.")
    if a.side_by_side:
        if a.overrides:
            raise DataError(None, "--side-by-side", "takes configs, not key=value overrides")
        size = tuple(a.input_size or DEFAULT_INPUT_SIZE)
        result = side_by_side(
            [parse_entry(e, size) for e in a.side_by_side],
            device,
            a.batches,
            options,
            a.warmup,
            a.iters,
            a.rounds,
            a.op_tables,
        )
        write_json(a.out, result, indent=2)
        print(side_by_side_summary(result))
        return result
    if a.side_by_side_all:
        if a.overrides or a.input_size:
            raise DataError(None, "--side-by-side-all", "takes the models and input sizes from --params")
        result = side_by_side(
            every_mode(section_specs(Path(a.params), a.side_by_side_all)),
            device,
            a.batches,
            options,
            a.warmup,
            a.iters,
            a.rounds,
            a.op_tables,
            section=a.side_by_side_all,
        )
        write_json(a.out, result, indent=2)
        print(side_by_side_summary(result))
        return result
    spec = spec_of(a)
    result = profile(
        spec, device, a.batch, a.train_batch, a.warmup, a.iters, not a.no_flops, not a.no_memory, options, fast
    )
    write_json(a.out, result, indent=2)
    print(summary(result))
    return result


if __name__ == "__main__":
    main()
