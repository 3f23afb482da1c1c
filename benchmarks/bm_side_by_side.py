"""DSTA T=3 streaming vs single-frame RLE per frame, timed side by side (interleaved, one process): the ratios the
report prints, with their spread over rounds, in ``extra_info`` of ``pytest benchmarks --benchmark-only``.

The timed quantity is the whole interleaved measurement; what matters is ``extra_info["ratio"]`` (median, p25, p75,
min, max of the per-round ratios DSTA / RLE). Paper size at batch 1 and 32, tiny at batch 32, fp32; tiny at batch 32
compiled (``torch.compile``, inductor's C++ code on the CPU: it fuses DSTA's head of about a hundred small operators,
2.3 -> 1.1 ms at batch 32); bf16 + channels-last at paper size batch 1. The tiny rows take more rounds: a call is
about 50 ms, and the head's share of it (about 5%) is the size of one round's noise on a shared machine. On CUDA the
same entries run on the GPU with CUDA graphs at batch 1 and batch 64 instead of 32. Speed targets are stated here,
not asserted: timed unit tests on shared machines would fail at random.

``test_dsta_over_the_release_forward``: our DSTA-R50 T=3 clip forward over the released network's
(``official_dsta_r50``, ``benchmarks/profiling/official_dsta.py``) on the same weights, interleaved the same way, at
paper size: fp32 at batch 1 and 8 and bf16 autocast at batch 1 on the CPU; fp32 and fp16 autocast at batch 1 and 64
on CUDA. Issue 24 asks that ours be at least as fast as the release (a ratio <= 1) on both devices.
"""

import shutil

import pytest
import torch

from benchmarks.profiling.side_by_side import parse_entry, side_by_side
from dsta.core.configs import DEFAULT_INPUT_SIZE
from dsta.inference import InferenceOptions

CUDA = torch.cuda.is_available()
DEVICE = torch.device("cuda" if CUDA else "cpu")
PAPER, TINY = DEFAULT_INPUT_SIZE, (48, 64)
CASES = [  # (reference, entry, input size, batch, options, rounds, calls per round)
    ("rle_r50", "dsta_r50:streaming", PAPER, 1, InferenceOptions(cuda_graphs=CUDA), 9, 3),
    ("rle_r50", "dsta_r50:streaming", PAPER, 64 if CUDA else 32, InferenceOptions(), 5, 1),
    ("rle_tiny", "dsta_tiny:streaming", TINY, 32, InferenceOptions(), 15, 5),
    ("rle_tiny", "dsta_tiny:streaming", TINY, 32, InferenceOptions(compile=True), 15, 5),
    (
        "rle_r50",
        "dsta_r50:streaming",
        PAPER,
        1,
        InferenceOptions(dtype="bf16", channels_last=True, cuda_graphs=CUDA),
        5,
        3,
    ),
]


# Issue 16's goals as a ceiling on the time ratio DSTA / RLE per frame: 1.05 on the CPU; on CUDA 1.25 at batch 1 (CUDA
# graphs) and, at batch 64, FPS at least 0.95x RLE's, i.e. a time ratio under 1 / 0.95.
def goal(batch: int) -> float:
    return (1.25 if batch == 1 else 1 / 0.95) if CUDA else 1.05


@pytest.mark.parametrize(
    "ref,entry,size,batch,options,rounds,iters", CASES, ids=[f"{c[1]}-bs{c[3]}-{c[4].label}" for c in CASES]
)
def test_dsta_streaming_over_rle_per_frame(benchmark, ref, entry, size, batch, options, rounds, iters):
    if benchmark.disabled:  # `make test` (--benchmark-disable): the code path once, not the measurement
        rounds, iters = 2, 1
    if options.compile and DEVICE.type == "cpu" and not (shutil.which("c++") or shutil.which("g++")):
        pytest.skip("torch.compile on the CPU needs a C++ compiler")
    entries = [parse_entry(ref, size), parse_entry(entry, size)]
    result = benchmark.pedantic(
        side_by_side,
        args=(entries, DEVICE, [batch], options),
        kwargs={"warmup": 1, "iters": iters, "rounds": rounds},
        rounds=1,
        iterations=1,
    )
    label = entries[1].label
    ratio = result["batches"][str(batch)]["ratio"][label]
    benchmark.extra_info.update(
        ratio={k: v for k, v in ratio.items() if k != "rounds"},
        ratio_rounds=ratio["rounds"],
        reference=result["reference"],
        entry=label,
        batch=batch,
        input_size=list(size),
        options=options.as_dict(),
        env=result["env"],
        protocol=result["protocol"],
        goal_max_ratio=goal(batch),
    )
    assert ratio["min"] > 0


RELEASE_CASES = [  # (batch, options, rounds, calls per round)
    (1, InferenceOptions(), 7, 2),
    (64 if CUDA else 8, InferenceOptions(), 5, 1),
    (1, InferenceOptions(dtype="fp16" if CUDA else "bf16"), 5, 2),
    *([(64, InferenceOptions(dtype="fp16"), 5, 1)] if CUDA else []),
]


@pytest.mark.parametrize(
    "batch,options,rounds,iters", RELEASE_CASES, ids=[f"bs{c[0]}-{c[1].label}" for c in RELEASE_CASES]
)
def test_dsta_over_the_release_forward(benchmark, batch, options, rounds, iters):
    if benchmark.disabled:
        rounds, iters, batch = 2, 1, 1
    entries = [parse_entry("official_dsta_r50", PAPER), parse_entry("dsta_r50", PAPER)]
    result = benchmark.pedantic(
        side_by_side,
        args=(entries, DEVICE, [batch], options),
        kwargs={"warmup": 1, "iters": iters, "rounds": rounds},
        rounds=1,
        iterations=1,
    )
    ratio = result["batches"][str(batch)]["ratio"][entries[1].label]
    benchmark.extra_info.update(
        ratio={k: v for k, v in ratio.items() if k != "rounds"},
        ratio_rounds=ratio["rounds"],
        reference=result["reference"],
        entry=entries[1].label,
        batch=batch,
        input_size=list(PAPER),
        options=options.as_dict(),
        env=result["env"],
        protocol=result["protocol"],
        goal_max_ratio=1.0,
    )
    assert ratio["min"] > 0
