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
  with device synchronisation; the median with the 25th/75th percentiles, min and max.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import platform
import statistics
import subprocess
import time
import warnings
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import Any, Callable

import torch
import yaml
from torch import nn

from dsta.config import load_experiment
from dsta.errors import DataError, main_guard
from dsta.io import write_json
from dsta.models import create_model, model_target

REPO = Path(__file__).resolve().parents[1]
MODEL_CONFIGS = REPO / "configs" / "model"
FLOP_CONVENTION = "one multiply-add = one FLOP (fvcore); element-wise ops not counted"


# -- what to profile ---------------------------------------------------------------------------------------------
@dataclass
class ModelSpec:
    name: str  # registered model
    kwargs: dict
    input_size: tuple[int, int]  # width, height
    source: str  # where the spec came from

    def build(self) -> nn.Module:
        return create_model(self.name, **{**self.kwargs, "pretrained": None}).eval()


def model_configs() -> dict[str, dict]:
    """Every model config in ``configs/model`` by file stem."""
    return {p.stem: yaml.safe_load(p.read_text()) for p in sorted(MODEL_CONFIGS.glob("*.yaml"))}


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise DataError(None, pair, "overrides are key=value pairs (constructor arguments)")
        out[key] = yaml.safe_load(value)
    return out


def spec_from_model(model: str, overrides: dict, input_size: tuple[int, int]) -> ModelSpec:
    configs = model_configs()
    if model in configs:
        cfg = configs[model]
        return ModelSpec(cfg["name"], {**cfg["kwargs"], **overrides}, input_size, f"configs/model/{model}.yaml")
    return ModelSpec(model, overrides, input_size, f"registered model {model!r}")


def spec_from_experiment(params: Path, experiment: str) -> ModelSpec:
    exp = load_experiment(params, experiment)
    w, h = exp["data"]["input_size"]
    return ModelSpec(exp["model"]["name"], dict(exp["model"]["kwargs"]), (int(w), int(h)),
                     f"{params}:experiments.{experiment}")


# -- the two ways of making one key-frame prediction ------------------------------------------------------------
def _plain(out: Any) -> Any:
    """Model outputs as tensors (tracing and timing do not need the dataclass)."""
    return (out.coords, out.sigma) if hasattr(out, "coords") else out


class ClipStep(nn.Module):
    """One prediction from a whole clip: T backbone passes."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, clip: torch.Tensor) -> Any:
        return _plain(self.model(clip))


class StreamingStep(nn.Module):
    """One prediction when the features of the T - 1 earlier frames are cached: one backbone pass for the new frame,
    then the aggregation over T frames."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, frame: torch.Tensor, cached: torch.Tensor) -> Any:
        new = self.model.frame_features(frame).unsqueeze(1)
        return _plain(self.model.aggregate_frames(torch.cat([cached, new], dim=1)))


def supports_streaming(model: nn.Module) -> bool:
    return model.num_frames > 1 and hasattr(model, "frame_features") and hasattr(model, "aggregate_frames")


def step_inputs(model: nn.Module, mode: str, batch: int, input_size: tuple[int, int],
                device: torch.device) -> tuple[torch.Tensor, ...]:
    w, h = input_size
    gen = torch.Generator().manual_seed(0)
    if mode == "clip":
        return (torch.randn(batch, model.num_frames, 3, h, w, generator=gen).to(device),)
    frame = torch.randn(batch, 3, h, w, generator=gen).to(device)
    with torch.no_grad():
        feat = model.frame_features(frame)
    cached = feat.unsqueeze(1).expand(batch, model.num_frames - 1, *feat.shape[1:]).contiguous()
    return frame, cached


def make_step(model: nn.Module, mode: str) -> nn.Module:
    return ClipStep(model) if mode == "clip" else StreamingStep(model)


def modes(model: nn.Module) -> list[str]:
    return ["clip", "streaming"] if supports_streaming(model) else ["clip"]


# -- parameters and FLOPs -----------------------------------------------------------------------------------------
def backbone_path(model: nn.Module) -> str:
    return getattr(model, "backbone_path", "backbone")


def count_params(model: nn.Module) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    backbone = sum(p.numel() for p in model.get_submodule(backbone_path(model)).parameters())
    return {"total": total, "backbone": backbone, "head": total - backbone}


def _shape(value) -> list[int]:
    from fvcore.nn.jit_handles import get_shape

    return get_shape(value)


def sdpa_flops(inputs: list, outputs: list) -> int:
    """``softmax(Q K^T) V``: (..., L, E) x (..., S, E) -> (..., L, S), then (..., L, S) x (..., S, Ev)."""
    q, k, v = (_shape(inputs[i]) for i in range(3))
    return prod(q[:-2]) * q[-2] * k[-2] * (q[-1] + v[-1])


def deform_conv2d_flops(inputs: list, outputs: list) -> int:
    """Modulated deformable convolution: the convolution's multiply-adds, plus for every sampled input value 4 for
    the bilinear interpolation and 1 for the modulation mask."""
    x, weight, out = _shape(inputs[0]), _shape(inputs[1]), _shape(outputs[0])
    use_mask = bool(inputs[13].toIValue())
    cout, cin_per_group, kh, kw = weight
    positions = x[0] * out[2] * out[3]
    return positions * cout * cin_per_group * kh * kw + positions * x[1] * kh * kw * (4 + int(use_mask))


def _per_input_element(inputs: list, outputs: list) -> int:
    return prod(_shape(inputs[0]))


FLOP_HANDLES: dict[str, Callable] = {
    "aten::scaled_dot_product_attention": sdpa_flops,
    "torchvision::deform_conv2d": deform_conv2d_flops,
    "aten::mean": _per_input_element,  # global average pooling, as fvcore counts adaptive_avg_pool2d
    "aten::linalg_vector_norm": _per_input_element,  # the norm-scaled linear layers
}


def count_flops(step: nn.Module, inputs: tuple[torch.Tensor, ...], backbone: str) -> dict[str, Any]:
    """GFLOPs of one call of ``step`` split into backbone (module ``model.<backbone>``) and head."""
    from fvcore.nn import FlopCountAnalysis

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about data-dependent asserts
        analysis = FlopCountAnalysis(step, inputs).set_op_handle(**FLOP_HANDLES)
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        total = analysis.total()
        by_module = analysis.by_module()
    back = by_module.get(f"model.{backbone}", 0)
    return {"total": total / 1e9, "backbone": back / 1e9, "head": (total - back) / 1e9,
            "by_operator": {k: v / 1e9 for k, v in sorted(analysis.by_operator().items())},
            "unsupported_ops": dict(sorted(analysis.unsupported_ops().items()))}


# -- memory ---------------------------------------------------------------------------------------------------------
_LIBC = None


def _libc():
    global _LIBC
    if _LIBC is None:
        try:
            _LIBC = ctypes.CDLL("libc.so.6")
            _LIBC.mallopt(-3, 64 * 1024)  # M_MMAP_THRESHOLD: large blocks are mmapped and returned on free
        except OSError:
            _LIBC = False
    return _LIBC


def _status_mib(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def cpu_memory_supported() -> bool:
    return platform.system() == "Linux" and bool(_libc()) and os.access("/proc/self/clear_refs", os.W_OK)


def tensor_mib(tensors) -> float:
    return sum(t.numel() * t.element_size() for t in tensors) / 2**20


def peak_memory(fn: Callable[[], Any], device: torch.device, resident_mib: float) -> dict[str, Any]:
    """Peak memory of one call of ``fn`` (already warmed up). ``resident_mib``: tensors alive before the call."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
        return {"peak_mib": peak / 2**20, "increase_mib": (peak - before) / 2**20,
                "method": "torch.cuda.max_memory_allocated (all tensors on the device, weights included)"}
    if not cpu_memory_supported():
        return {"peak_mib": None, "increase_mib": None, "method": "unavailable (needs Linux /proc and glibc)"}
    libc = _libc()
    libc.malloc_trim(0)
    before = _status_mib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    fn()
    increase = max(0.0, _status_mib("VmHWM") - before)
    return {"peak_mib": resident_mib + increase, "increase_mib": increase,
            "method": "CPU: peak RSS increase over the call (VmHWM reset via /proc/self/clear_refs, glibc mmap "
                      "threshold 64 KiB) + resident tensors (weights, inputs, grads, optimizer state)"}


def training_step(model: nn.Module, spec: ModelSpec, batch: int, device: torch.device) -> tuple[Callable, Callable]:
    """A full training step (forward, loss, backward, AdamW) on random data, and a function listing the tensors it
    keeps alive between steps."""
    from dsta.objectives import make_objective

    target = model_target(spec.name)
    (clip,) = step_inputs(model, "clip", batch, spec.input_size, device)
    j = model.num_joints
    if target == "heatmap":
        with torch.no_grad():
            h, w = model(clip[:1]).shape[-2:]
        objective = make_objective(target, spec.input_size, heatmap_size=(w, h))
        labels = {"heatmap": torch.rand(batch, j, h, w, device=device), "heatmap_weight": torch.ones(batch, j,
                                                                                                     device=device)}
    else:
        objective = make_objective(target, spec.input_size)
        labels = {"coords": torch.rand(batch, j, 2, device=device), "coord_weight": torch.ones(batch, j, 2,
                                                                                               device=device)}
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step() -> None:
        model.train()
        optimizer.zero_grad(set_to_none=False)
        loss = objective.loss(model, model(clip), labels)
        loss.backward()
        optimizer.step()

    def resident():
        state = [v for s in optimizer.state.values() for v in s.values() if torch.is_tensor(v)]
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        return [*model.parameters(), *model.buffers(), *grads, *state, clip, *labels.values()]

    return step, resident


# -- timing ---------------------------------------------------------------------------------------------------------
def time_calls(fn: Callable[[], Any], device: torch.device, warmup: int, iters: int) -> dict[str, float]:
    """Seconds per call: ``warmup`` untimed calls, then ``iters`` timed ones, each synchronised on CUDA."""
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return {"median_ms": statistics.median(times) * 1e3, "p25_ms": q[0] * 1e3, "p75_ms": q[2] * 1e3,
            "min_ms": min(times) * 1e3, "max_ms": max(times) * 1e3, "iters": iters, "warmup": warmup}


# -- environment ----------------------------------------------------------------------------------------------------
def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name} ({os.cpu_count()} logical CPUs)"


SOURCE_PATHS = ("dsta", "baselines", "benchmarks/*.py", "reports/build.py", "reports/plots.py", "configs", "pyproject.toml")


def git_commit() -> str | None:
    """The commit of the code, with ``-dirty`` when a source file differs from it (pipeline outputs such as
    dvc.lock and metrics files do not count)."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *SOURCE_PATHS],
                               cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def environment(device: torch.device) -> dict[str, Any]:
    return {"device": device_name(device), "device_type": device.type, "torch": torch.__version__,
            "dtype": "float32", "threads": torch.get_num_threads(), "commit": git_commit(),
            "python": platform.python_version()}


# -- the whole profile ----------------------------------------------------------------------------------------------
def profile(spec: ModelSpec, device: torch.device, batch: int = 32, train_batch: int = 8, warmup: int = 3,
            iters: int = 20, flops: bool = True, memory: bool = True) -> dict[str, Any]:
    model = spec.build().to(device)
    env = environment(device)
    result: dict[str, Any] = {
        "model": spec.name, "kwargs": spec.kwargs, "source": spec.source, "num_frames": model.num_frames,
        "input_size": list(spec.input_size), "env": env, "flop_convention": FLOP_CONVENTION,
        "params": count_params(model), "modes": {}}
    for mode in modes(model):
        step = make_step(model, mode).eval()
        entry: dict[str, Any] = {"backbone_passes": model.num_frames if mode == "clip" else 1}
        if flops:
            entry["gflops"] = count_flops(step, step_inputs(model, mode, 1, spec.input_size, device),
                                          backbone_path(model))
        for key, b in (("latency", 1), ("throughput", batch)):
            inputs = step_inputs(model, mode, b, spec.input_size, device)
            with torch.inference_mode():
                stats = time_calls(lambda: step(*inputs), device, warmup, iters if b == 1 else max(3, iters // 4))
            stats.update(batch=b, fps=b / (stats["median_ms"] / 1e3))
            entry[key] = stats
        if memory:
            inputs = step_inputs(model, mode, 1, spec.input_size, device)
            with torch.inference_mode():
                step(*inputs)
                entry["memory_forward"] = {
                    **peak_memory(lambda: step(*inputs), device,
                                  tensor_mib([*model.parameters(), *model.buffers(), *inputs])), "batch": 1}
        result["modes"][mode] = entry
    if memory:
        train, resident = training_step(model, spec, train_batch, device)
        train()  # allocates gradients and optimizer state
        result["memory_train_step"] = {**peak_memory(train, device, tensor_mib(resident())), "batch": train_batch}
    result["per_frame_mode"] = "streaming" if "streaming" in result["modes"] else "clip"
    return result


def summary(result: dict) -> str:
    rows = []
    for mode, e in result["modes"].items():
        g = e.get("gflops", {})
        mem = e.get("memory_forward", {}).get("peak_mib")
        rows.append(f"  {mode:9s} GFLOPs {g.get('total', float('nan')):8.3f} (backbone {g.get('backbone', 0):.3f} "
                    f"+ head {g.get('head', 0):.4f})  latency {e['latency']['median_ms']:8.2f} ms  "
                    f"{e['throughput']['fps']:8.1f} FPS @ bs{e['throughput']['batch']}"
                    + (f"  fwd peak {mem:.0f} MiB" if mem is not None else ""))
    p = result["params"]
    head = (f"{result['model']} {result['input_size'][0]}x{result['input_size'][1]} T={result['num_frames']}: "
            f"{p['total'] / 1e6:.2f} M params (backbone {p['backbone'] / 1e6:.2f} M + head {p['head'] / 1e6:.3f} M)")
    return "\n".join([head, *rows])


@main_guard
def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("overrides", nargs="*", help="constructor overrides, key=value (YAML values)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="a configs/model entry or a registered model name")
    src.add_argument("--experiment", help="an experiment of --params")
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--input-size", type=int, nargs=2, metavar=("W", "H"), default=None,
                   help="network input (default: the experiment's, else 192 256)")
    p.add_argument("--batch", type=int, default=32, help="batch of the throughput measurement")
    p.add_argument("--train-batch", type=int, default=8, help="batch of the training-step memory measurement")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=20, help="timed calls at batch 1 (a quarter of them at --batch)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--no-flops", action="store_true")
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    for name in ("batch", "train_batch", "iters"):
        if getattr(a, name) < 1:
            raise DataError(None, f"--{name.replace('_', '-')}", "must be >= 1")
    if a.threads:
        torch.set_num_threads(a.threads)
    overrides = parse_overrides(a.overrides)
    if a.experiment:
        spec = spec_from_experiment(Path(a.params), a.experiment)
        spec.kwargs.update(overrides)
        if a.input_size:
            spec.input_size = tuple(a.input_size)
    else:
        spec = spec_from_model(a.model, overrides, tuple(a.input_size or (192, 256)))
    device = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    result = profile(spec, device, a.batch, a.train_batch, a.warmup, a.iters, not a.no_flops, not a.no_memory)
    write_json(a.out, result, indent=2)
    print(summary(result))
    return result


if __name__ == "__main__":
    main()
