"""How many kernel-launching operator calls one call of DSTA's head makes: the cost of a launch-bound step on a GPU.

``python -m benchmarks.head_ops --out benchmarks/head_ops.json [--backbone resnet50] [--num-frames 3] [--batch 64]``

DSTA's head (``aggregate_frames``: both branches' transformer blocks, the aggregation and the output heads) is 0.05%
of ResNet-50's FLOPs, but on a GPU each operator call is a kernel launch of a few microseconds on a tensor of a few
hundred KB, so the number of calls, not the arithmetic, sets its time. Counted on the CPU with one rule
(``benchmarks.profiling.ops``: an ``aten`` operator with a kernel of its own, not a view or an allocation, not
inside another counted operator), random weights and tokens, eval mode, no gradients:

* ``aggregate_frames``: the whole head as inference on CUDA runs it (``DSTA.fused_head``: fused when the group size
  equals T; its weights fused once, before the count, as repeated calls under ``no_grad`` find them);
* ``aggregate_frames_blockwise``: the whole head with its modules run one by one (inference on the CPU, where that
  is faster; training; the head before issue 24 made 140 calls);
* ``compile``: ``torch._dynamo.explain`` of ``aggregate_frames``: graphs and graph breaks (1 and 0: one graph for
  inductor, and for CUDA graphs on a GPU).

Not a timed benchmark: the counts do not depend on the machine's load. Every result carries its provenance.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from benchmarks.profiling.ops import count_kernel_calls
from dsta.io import write_json
from dsta.models.dsta import DSTA
from dsta.provenance import provenance


def _summary(counts) -> dict[str, Any]:
    return {"calls": sum(counts.values()), "by_operator": dict(sorted(counts.items(), key=lambda kv: -kv[1]))}


def head_ops(backbone: str = "resnet50", num_frames: int = 3, batch: int = 64, seed: int = 0) -> dict[str, Any]:
    torch.manual_seed(seed)
    model = DSTA(backbone, num_frames=num_frames).eval()
    tokens = torch.randn(batch, num_frames, model.num_joints, model.embed_dim)
    blockwise = DSTA(backbone, num_frames=num_frames).eval()
    blockwise.load_state_dict(model.state_dict())
    model.fused_head, blockwise.fused_head = True, False  # what CUDA runs / what the CPU runs
    paths = {"aggregate_frames": model.aggregate_frames, "aggregate_frames_blockwise": blockwise.aggregate_frames}
    with torch.no_grad():
        for fn in paths.values():
            fn(tokens)  # warm-up: first calls allocate and initialise
        result = {name: _summary(count_kernel_calls(fn, tokens)) for name, fn in paths.items()}
        explained = torch._dynamo.explain(model.aggregate_frames)(tokens)
    config = {"backbone": backbone, "num_frames": num_frames, "embed_dim": model.embed_dim,
              "depth": len(model.spatial_blocks), "num_heads": model.spatial_blocks[0].attn.num_heads,
              "batch": batch, "mode": "eval, no_grad, fp32, CPU",
              "fused": model.groups.group_size == num_frames}
    return {"kind": "head_ops", "config": config,
            "rule": "aten operators with a CPU kernel of their own, not views or allocations, not inside another "
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
    args = ap.parse_args(argv)
    result = head_ops(args.backbone, args.num_frames, args.batch)
    write_json(args.out, result, indent=2)
    names = ["aggregate_frames", "aggregate_frames_blockwise"]
    print(", ".join(f"{k}: {result[k]['calls']} calls" for k in names),
          f"| compiled: {result['compile']['graphs']} graph(s), {result['compile']['graph_breaks']} break(s)")


if __name__ == "__main__":
    main()
