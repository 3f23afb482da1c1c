"""Peak memory of one call: a forward pass or a full training step.

On CUDA: ``torch.cuda.max_memory_allocated`` over the call. On CPU: the peak increase of the process's resident set
over the call (Linux ``VmHWM`` reset through ``/proc/self/clear_refs``; glibc's mmap threshold is pinned to 64 KiB and
the heap trimmed first, so freed tensors really leave the RSS), plus the bytes of the tensors already resident
(weights, inputs, gradients and optimizer state).
"""

from __future__ import annotations

import ctypes
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from benchmarks.profiling.specs import ModelSpec
from benchmarks.profiling.steps import step_inputs
from dsta.models import model_target

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
        return {
            "peak_mib": peak / 2**20,
            "increase_mib": (peak - before) / 2**20,
            "method": "torch.cuda.max_memory_allocated (all tensors on the device, weights included)",
        }
    if not cpu_memory_supported():
        return {"peak_mib": None, "increase_mib": None, "method": "unavailable (needs Linux /proc and glibc)"}
    libc = _libc()
    libc.malloc_trim(0)
    before = _status_mib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    fn()
    increase = max(0.0, _status_mib("VmHWM") - before)
    return {
        "peak_mib": resident_mib + increase,
        "increase_mib": increase,
        "method": "CPU: peak RSS increase over the call (VmHWM reset via /proc/self/clear_refs, glibc mmap "
        "threshold 64 KiB) + resident tensors (weights, inputs, grads, optimizer state)",
    }


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
        labels = {
            "heatmap": torch.rand(batch, j, h, w, device=device),
            "heatmap_weight": torch.ones(batch, j, device=device),
        }
    else:
        objective = make_objective(target, spec.input_size)
        labels = {
            "coords": torch.rand(batch, j, 2, device=device),
            "coord_weight": torch.ones(batch, j, 2, device=device),
        }
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
