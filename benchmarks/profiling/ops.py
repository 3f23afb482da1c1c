"""Counting the kernel-launching operator calls of a function with ``torch.profiler``: what a launch-bound step costs.

On a GPU each operator call that computes something launches at least one kernel, and for DSTA's head (tensors of a
few hundred KB) each of those costs more in launch overhead than in arithmetic. Counted on the CPU, with one rule:

**An operator call counts when** it is an ``aten::`` op with a kernel of its own (a CPU kernel registered in the
dispatcher for one of its overloads; composites such as ``aten::linear``, ``aten::layer_norm``, ``aten::stack`` or
``aten::clone`` only call other operators, and those count), it is neither a view (its schema returns an alias of an input without writing it: ``view``,
``transpose``, ``expand``, ``split``, ...) nor an allocation (``empty``, ``empty_strided``, ``resize_``), and no
operator around it counts already (``baddbmm``'s internal copy of its input into the output is part of that one
call). So ``F.linear`` counts as one call (``addmm``), ``torch.stack`` as one (``cat``), and a ``reshape`` that
has to copy as one (``clone`` / ``copy_``).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from functools import cache
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

ALLOCATIONS = frozenset({"aten::empty", "aten::empty_strided", "aten::resize_", "aten::set_"})


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
    if not name.startswith("aten::") or name in ALLOCATIONS:
        return False
    schemas = [s for s in torch._C._jit_get_schemas_for_operator(name) if _dispatched(name, s.overload_name)]
    if not any(torch._C._dispatch_has_kernel_for_dispatch_key(_full_name(name, s.overload_name), "CPU")
               for s in schemas):  # composites (linear, layer_norm, stack, clone, ...) only call other operators
        return False
    views = [all(r.alias_info is not None and not r.alias_info.is_write for r in s.returns) and len(s.returns) > 0
             for s in schemas]
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
