"""Counting the kernel-launching operator calls of a function with ``torch.profiler``: what a launch-bound step costs.

On a GPU each operator call that computes something launches at least one kernel, and for DSTA's head (tensors of a
few hundred KB) each of those costs more in launch overhead than in arithmetic. Counted on the CPU, with one rule:

**An operator call counts when** it is an ``aten::`` op that is not a composite (an op whose every overload but
``out=`` is ``CompositeImplicitAutograd`` in the dispatcher, such as ``aten::linear``, ``aten::layer_norm`` or
``aten::contiguous``, only calls other operators, and those count), neither a view (its schema returns an alias of
an input without writing it: ``view``, ``transpose``, ``expand``, ``split``, ...; and ``_unsafe_view``) nor an
allocation (``empty``, ``empty_like``, ``resize_``, ...), and no operator around it counts already (``baddbmm``'s
internal copy of its input into the output, ``stack``'s ``cat``, ``clone``'s ``copy_`` are part of that one call).
So ``F.linear`` counts as one call (``addmm``), ``torch.stack`` as one, and a ``reshape`` that copies as one.

On a CUDA device ``count_cuda_kernels`` counts what the rule stands for: the GPU kernels themselves.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from functools import cache
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

if not torch.cuda.is_available():  # kineto logs "ERROR ... gpuGetDeviceCount failed" at every CPU-only profile: noise
    os.environ.setdefault("KINETO_LOG_LEVEL", "5")

# allocations, and ``_unsafe_view`` (a view whose schema does not say so)
NO_KERNEL = frozenset(
    {
        "aten::empty",
        "aten::empty_strided",
        "aten::empty_like",
        "aten::new_empty",
        "aten::new_empty_strided",
        "aten::resize_",
        "aten::set_",
        "aten::_unsafe_view",
    }
)


def _full_name(name: str, overload: str) -> str:
    return f"{name}.{overload}" if overload else name


def _dispatched(name: str, overload: str) -> bool:
    """Whether the dispatcher knows this overload (TorchScript also lists list and scalar overloads it does not)."""
    try:
        torch._C._dispatch_has_kernel_for_dispatch_key(_full_name(name, overload), "CPU")
    except RuntimeError:
        return False
    return True


@cache
def launches_kernel(name: str) -> bool:
    """Whether an ``aten::`` operator (by its profiler name) computes in a kernel of its own (see the module)."""
    if not name.startswith("aten::") or name in NO_KERNEL:
        return False
    schemas = [
        s
        for s in torch._C._jit_get_schemas_for_operator(name)
        if _dispatched(name, s.overload_name) and not s.overload_name.endswith("out")
    ]
    if schemas and all(
        torch._C._dispatch_has_kernel_for_dispatch_key(_full_name(name, s.overload_name), "CompositeImplicitAutograd")
        for s in schemas
    ):
        return False  # a composite (linear, layer_norm, contiguous, ...): only calls other operators, which count
    views = [
        all(r.alias_info is not None and not r.alias_info.is_write for r in s.returns) and len(s.returns) > 0
        for s in schemas
    ]
    return not (schemas and all(views))


def count_kernel_calls(fn: Callable[..., Any], *args: Any) -> Counter:
    """Run ``fn(*args)`` once under the profiler; the operator calls that count (module docstring), by name."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn(*args)
    counts: Counter = Counter()

    def visit(event, inside: bool) -> None:
        counted = not inside and launches_kernel(event.name)
        if counted:
            counts[event.name] += 1
        for child in event.cpu_children:
            visit(child, inside or counted)

    for event in prof.events():
        if event.cpu_parent is None:
            visit(event, False)
    return counts


def count_cuda_kernels(fn: Callable[..., Any], *args: Any) -> int:
    """Run ``fn(*args)`` once under the profiler on a CUDA device; the GPU kernels it launched (memory copies and
    sets included: each is a launch too)."""
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        fn(*args)
        torch.cuda.synchronize()
    return sum(1 for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA)
