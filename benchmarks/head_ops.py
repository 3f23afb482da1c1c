"""DSTA's head: how many kernel-launching operator calls one head call makes, and which path is faster where.

``python -m benchmarks.head_ops --out benchmarks/head_ops.json [--backbone resnet50] [--num-frames 3] [--batch 64]
[--device cpu|cuda] [--time-batches 1 2 4 8 16] [--time-dtypes fp32 bf16 fp16] [--time-depths 2 4]``

DSTA's head (``aggregate_frames``: both branches' transformer blocks, the aggregation and the output heads) is 0.05%
of ResNet-50's FLOPs, but on a GPU each operator call is a kernel launch of a few microseconds on a tensor of a few
hundred KB, and on the CPU a dispatch of a few microseconds, so at small batches the number of calls, not the
arithmetic, sets its time. Counted with one rule (``benchmarks.profiling.ops``: an ``aten`` operator with a kernel of
its own, not a view or an allocation, not inside another counted operator), random weights and tokens, eval mode, no
gradients, float32:

* ``aggregate_frames``: the fused head (``dsta.models.dsta_fused.fuse_head``) with the attention CUDA runs (one
  ``scaled_dot_product_attention`` per depth);
* ``aggregate_frames_cpu``: the fused head as the CPU runs it (the attention as broadcast products);
* ``aggregate_frames_blockwise``: the paper's head, its modules run one by one (``dsta.models.dsta``; training, and
  inference where the fused head is not faster; the head before issue 24 made 140 calls);
* ``compile``: ``torch._dynamo.explain`` of the fused head: graphs and graph breaks (1 and 0: one graph for inductor,
  and for CUDA graphs on a GPU);
* on CUDA (``--device cuda``) also ``cuda_kernels``: the GPU kernels the profiler saw per head call, each way (what
  the operator count stands for: a backend falling back to several kernels, or a hidden copy, shows here);
* ``dispatch``: the fused head's time over the paper head's, timed interleaved in one process
  (``benchmarks.profiling.side_by_side``: median, quartiles and range of the per-round ratios) on this device, per
  autocast dtype (``--time-dtypes``), head depth (``--time-depths``; the default's tiny config has 2, the paper 4)
  and batch (``--time-batches``), and the rule that follows: per dtype, the largest timed batch up to which the fused
  head's median ratio is below 1 at every depth (``fused_up_to_batch``). ``dsta.models.dsta_fused.FUSED_UP_TO_BATCH``
  holds that rule for the CPU, with these numbers in its comment; a test checks the two agree.

The counts do not depend on the machine's load; the times do, which is why only their ratios are given. Every result
carries its provenance.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

import torch

from benchmarks.profiling.ops import count_cuda_kernels, count_kernel_calls
from benchmarks.profiling.side_by_side import interleaved, spread
from dsta.core.errors import doc_summary
from dsta.core.io import write_json
from dsta.core.provenance import provenance
from dsta.inference import DTYPES
from dsta.models.dsta import DSTA
from dsta.models.dsta_fused import FusedDSTA, fuse_head


def _summary(counts) -> dict[str, Any]:
    return {"calls": sum(counts.values()), "by_operator": dict(sorted(counts.items(), key=lambda kv: -kv[1]))}


def _pair(depth: int, num_frames: int, device: torch.device, backbone: str = "resnet18") -> tuple[DSTA, FusedDSTA]:
    """A DSTA with random head weights (eval) and its fused form (which wraps it: no copy of the backbone)."""
    model = DSTA(backbone, num_frames=num_frames, depth=depth).eval().to(device)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not name.startswith("backbone."):
                p.add_(0.1 * torch.randn_like(p))  # away from the zero position embeddings and unit norms
    return model, fuse_head(model)


def time_paths(
    model: DSTA,
    fused: FusedDSTA,
    device: torch.device,
    batches: list[int],
    dtype: str,
    rounds: int = 7,
    iters: int = 20,
) -> dict[str, Any]:
    """The fused head's time over the paper head's at each batch, interleaved (ABBA), under ``dtype`` autocast."""
    out = {}
    shape = (model.num_frames, model.num_joints, model.embed_dim)
    cast = torch.autocast(device.type, dtype=DTYPES[dtype], enabled=dtype != "fp32")
    for batch in batches:
        tokens = torch.randn(batch, *shape, device=device)
        with torch.no_grad(), cast:
            times = interleaved(
                {
                    "fused": lambda tokens=tokens: fused.aggregate_frames_fused(tokens),
                    "modules": lambda tokens=tokens: model.aggregate_frames(tokens),
                },
                device,
                10,
                iters,
                rounds,
            )
        out[str(batch)] = {
            "fused_over_modules": spread([f / m for f, m in zip(times["fused"], times["modules"])]),
            "ms": {k: statistics.median(v) * 1e3 for k, v in times.items()},
        }
    return out


def fused_up_to_batch(timed: dict[str, dict[str, Any]]) -> int:
    """The largest timed batch up to which the fused head is faster (median ratio < 1) at every timed depth; 0 when
    it is not faster even at the smallest batch. ``timed``: depth -> batch -> ``time_paths`` entry."""
    batches = sorted({int(b) for per_depth in timed.values() for b in per_depth})
    limit = 0
    for batch in batches:
        if not all(per_depth[str(batch)]["fused_over_modules"]["median"] < 1 for per_depth in timed.values()):
            break
        limit = batch
    return limit


def dispatch(
    device: torch.device, num_frames: int, batches: list[int], dtypes: list[str], depths: list[int]
) -> dict[str, Any]:
    """Per dtype: the ratios at each depth and batch, and ``fused_up_to_batch``."""
    out: dict[str, Any] = {"device_type": device.type, "batches": batches, "depths": depths, "dtypes": {}}
    for dtype in dtypes:
        timed = {}
        for depth in depths:
            torch.manual_seed(depth)
            model, fused = _pair(depth, num_frames, device)
            timed[f"depth {depth}"] = time_paths(model, fused, device, batches, dtype)
        out["dtypes"][dtype] = {"fused_up_to_batch": fused_up_to_batch(timed), "time": timed}
    return out


def head_ops(
    backbone: str = "resnet50",
    num_frames: int = 3,
    batch: int = 64,
    seed: int = 0,
    device: str = "cpu",
    time_batches: list[int] | None = None,
    time_dtypes: tuple[str, ...] = ("fp32",),
    time_depths: tuple[int, ...] = (4,),
) -> dict[str, Any]:
    torch.manual_seed(seed)
    dev = torch.device(device)
    model, fused = _pair(4, num_frames, dev, backbone)
    cpu_fused = fuse_head(model)  # a second form of the same model, with the other attention
    fused.attention_kernel, cpu_fused.attention_kernel = True, False  # what CUDA runs / what the CPU runs
    shape = (num_frames, model.num_joints, model.embed_dim)
    tokens = torch.randn(batch, *shape, device=dev)
    paths = {
        "aggregate_frames": fused.aggregate_frames_fused,
        "aggregate_frames_cpu": cpu_fused.aggregate_frames_fused,
        "aggregate_frames_blockwise": model.aggregate_frames,
    }
    with torch.no_grad():
        for fn in paths.values():
            fn(tokens)  # warm-up: first calls allocate and initialise
        result = {name: _summary(count_kernel_calls(fn, tokens)) for name, fn in paths.items()}
        if dev.type == "cuda":
            result["cuda_kernels"] = {name: count_cuda_kernels(fn, tokens) for name, fn in paths.items()}
        explained = torch._dynamo.explain(fused.aggregate_frames_fused)(tokens)
    if time_batches:
        result["dispatch"] = dispatch(dev, num_frames, time_batches, list(time_dtypes), list(time_depths))
    config = {
        "backbone": backbone,
        "num_frames": num_frames,
        "embed_dim": model.embed_dim,
        "depth": len(model.spatial_blocks),
        "num_heads": model.spatial_blocks[0].attn.num_heads,
        "batch": batch,
        "mode": f"eval, no_grad, fp32, {dev.type}",
    }
    return {
        "kind": "head_ops",
        "config": config,
        "rule": "aten operators with a kernel of their own, not views or allocations, not inside another "
        "counted operator (benchmarks/profiling/ops.py)",
        **result,
        "compile": {
            "graphs": explained.graph_count,
            "graph_breaks": explained.graph_break_count,
            "break_reasons": [str(r.reason) for r in explained.break_reasons],
        },
        "provenance": provenance(seed, config),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=doc_summary(__doc__))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--backbone", default="resnet50")
    ap.add_argument("--num-frames", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--time-batches", type=int, nargs="*", default=[], help="batches to time fused vs modules at")
    ap.add_argument("--time-dtypes", nargs="+", default=["fp32"], choices=list(DTYPES), help="autocast dtypes timed")
    ap.add_argument("--time-depths", type=int, nargs="+", default=[4], help="head depths timed (tiny 2, paper 4)")
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device here")
    result = head_ops(
        args.backbone,
        args.num_frames,
        args.batch,
        device=args.device,
        time_batches=args.time_batches,
        time_dtypes=tuple(args.time_dtypes),
        time_depths=tuple(args.time_depths),
    )
    write_json(args.out, result, indent=2)
    names = ["aggregate_frames", "aggregate_frames_cpu", "aggregate_frames_blockwise"]
    print(
        ", ".join(f"{k}: {result[k]['calls']} calls" for k in names),
        f"| compiled: {result['compile']['graphs']} graph(s), {result['compile']['graph_breaks']} break(s)",
    )
    for dtype, d in result.get("dispatch", {}).get("dtypes", {}).items():
        for depth, per_batch in d["time"].items():
            ratios = ", ".join(f"b{b} {t['fused_over_modules']['median']:.2f}" for b, t in per_batch.items())
            print(f"{dtype} {depth}: fused / modules {ratios}")
        print(f"{dtype}: fused up to batch {d['fused_up_to_batch']}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
