"""How many kernel-launching operator calls one call of DSTA's head makes: the cost of a launch-bound step on a GPU.

``python -m benchmarks.head_ops --out benchmarks/head_ops.json [--backbone resnet50] [--num-frames 3] [--batch 64]
[--device cpu|cuda] [--time-batches 1 8 32 64]``

DSTA's head (``aggregate_frames``: both branches' transformer blocks, the aggregation and the output heads) is 0.05%
of ResNet-50's FLOPs, but on a GPU each operator call is a kernel launch of a few microseconds on a tensor of a few
hundred KB, so the number of calls, not the arithmetic, sets its time. Counted with one rule
(``benchmarks.profiling.ops``: an ``aten`` operator with a kernel of its own, not a view or an allocation, not
inside another counted operator), random weights and tokens, eval mode, no gradients, float32:

* ``aggregate_frames``: the whole head as inference on CUDA runs it (``DSTA.fused_head``: fused when the group size
  equals T; its weights fused once, before the count, as repeated calls under ``no_grad`` find them);
* ``aggregate_frames_blockwise``: the whole head with its modules run one by one (inference on the CPU, training; the
  head before issue 24 made 140 calls);
* ``compile``: ``torch._dynamo.explain`` of ``aggregate_frames``: graphs and graph breaks (1 and 0: one graph for
  inductor, and for CUDA graphs on a GPU);
* on CUDA (``--device cuda``) also ``cuda_kernels``: the GPU kernels the profiler saw per head call, each way (what
  the operator count stands for: a backend falling back to several kernels, or a hidden copy, shows here);
* ``time``: the fused head's time over the module-by-module head's at each of ``--time-batches``, timed interleaved
  in one process (``benchmarks.profiling.side_by_side``: median, quartiles and range of the per-round ratios), on
  this device: why the CPU keeps the modules. The counts do not depend on the machine's load; the times do, which is
  why only their ratios are given.

Every result carries its provenance.
"""
from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

import torch

from benchmarks.profiling.ops import count_cuda_kernels, count_kernel_calls
from benchmarks.profiling.side_by_side import interleaved, spread
from dsta.io import write_json
from dsta.models.dsta import DSTA
from dsta.provenance import provenance


def _summary(counts) -> dict[str, Any]:
    return {"calls": sum(counts.values()), "by_operator": dict(sorted(counts.items(), key=lambda kv: -kv[1]))}


def _time(fused: DSTA, modules: DSTA, shape: tuple[int, ...], device: torch.device, batches: list[int],
          rounds: int = 7, iters: int = 20) -> dict[str, Any]:
    out = {}
    for batch in batches:
        tokens = torch.randn(batch, *shape, device=device)
        with torch.no_grad():
            times = interleaved({"fused": lambda: fused.aggregate_frames(tokens),
                                 "modules": lambda: modules.aggregate_frames(tokens)}, device, 10, iters, rounds)
        out[str(batch)] = {"fused_over_modules": spread([f / m for f, m in zip(times["fused"], times["modules"])]),
                           "ms": {k: statistics.median(v) * 1e3 for k, v in times.items()}}
    return out


def head_ops(backbone: str = "resnet50", num_frames: int = 3, batch: int = 64, seed: int = 0,
             device: str = "cpu", time_batches: list[int] | None = None) -> dict[str, Any]:
    torch.manual_seed(seed)
    dev = torch.device(device)
    model = DSTA(backbone, num_frames=num_frames).eval().to(dev)
    blockwise = DSTA(backbone, num_frames=num_frames).eval().to(dev)
    blockwise.load_state_dict(model.state_dict())
    model.fused_head, blockwise.fused_head = True, False  # what CUDA runs / what the CPU runs
    shape = (num_frames, model.num_joints, model.embed_dim)
    tokens = torch.randn(batch, *shape, device=dev)
    paths = {"aggregate_frames": model.aggregate_frames, "aggregate_frames_blockwise": blockwise.aggregate_frames}
    with torch.no_grad():
        for fn in paths.values():
            fn(tokens)  # warm-up: first calls allocate, initialise and fuse
        result = {name: _summary(count_kernel_calls(fn, tokens)) for name, fn in paths.items()}
        if dev.type == "cuda":
            result["cuda_kernels"] = {name: count_cuda_kernels(fn, tokens) for name, fn in paths.items()}
        explained = torch._dynamo.explain(model.aggregate_frames)(tokens)
    if time_batches:
        result["time"] = _time(model, blockwise, shape, dev, time_batches)
    config = {"backbone": backbone, "num_frames": num_frames, "embed_dim": model.embed_dim,
              "depth": len(model.spatial_blocks), "num_heads": model.spatial_blocks[0].attn.num_heads,
              "batch": batch, "mode": f"eval, no_grad, fp32, {dev.type}",
              "fused": model.groups.group_size == num_frames}
    return {"kind": "head_ops", "config": config,
            "rule": "aten operators with a kernel of their own, not views or allocations, not inside another "
                    "counted operator (benchmarks/profiling/ops.py)",
            **result,
            "compile": {"graphs": explained.graph_count, "graph_breaks": explained.graph_break_count,
                        "break_reasons": [str(r.reason) for r in explained.break_reasons]},
            "provenance": provenance(seed, config)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--backbone", default="resnet50")
    ap.add_argument("--num-frames", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--time-batches", type=int, nargs="*", default=[], help="batches to time fused vs modules at")
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device here")
    result = head_ops(args.backbone, args.num_frames, args.batch, device=args.device, time_batches=args.time_batches)
    write_json(args.out, result, indent=2)
    names = ["aggregate_frames", "aggregate_frames_blockwise"]
    print(", ".join(f"{k}: {result[k]['calls']} calls" for k in names),
          f"| compiled: {result['compile']['graphs']} graph(s), {result['compile']['graph_breaks']} break(s)")
    for b, t in result.get("time", {}).items():
        r = t["fused_over_modules"]
        print(f"batch {b}: fused / modules {r['median']:.2f} [{r['min']:.2f}, {r['max']:.2f}]")


if __name__ == "__main__":
    main()
