"""Inference options shared by ``dsta.predict`` and ``benchmarks.profile``: dtype, memory format, compile, CUDA graphs.

* ``--dtype {fp32,fp16,bf16}``: autocast around the forward pass (weights stay fp32, as in AMP training); outputs are
  cast back to fp32. bf16 autocast works on the CPU too; fp16 autocast on the CPU is accepted (torch supports it) but
  is rarely faster there.
* ``--channels-last``: convolution weights and 4-D inputs in NHWC (channels-last) memory format.
* ``--compile``: ``torch.compile`` of the step (inductor; on the CPU it needs a C++ compiler).
* ``--cuda-graphs``: capture the step once for its fixed input shapes and replay it (CUDA only). Inputs are copied
  into the captured buffers, and the outputs are the captured buffers: the next call overwrites them, so callers that
  keep outputs copy them (``dsta.predict`` decodes them to numpy at once).

Every result records ``InferenceOptions.as_dict()``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from dsta.core.configs import INFERENCE_DTYPES, INFERENCE_FLAGS, parse_inference_label
from dsta.core.errors import DataError
from dsta.models.dsta_fused import fuse_head

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
assert tuple(DTYPES) == INFERENCE_DTYPES, "the dtype names live in dsta.core.configs"


@dataclass(frozen=True)
class InferenceOptions:
    dtype: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    cuda_graphs: bool = False

    def check(self, device: torch.device | str) -> InferenceOptions:
        """Refuse what the device cannot do, naming the flag."""
        if self.dtype not in DTYPES:
            raise DataError(None, "--dtype", f"must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.cuda_graphs and torch.device(device).type != "cuda":
            raise DataError(None, "--cuda-graphs", f"needs a CUDA device, not {torch.device(device).type}")
        return self

    @classmethod
    def from_label(cls, label: str, where: str) -> InferenceOptions:
        """The inverse of ``label``: ``InferenceOptions.from_label("bf16+cl", "--fast-mode")``."""
        return cls(**parse_inference_label(label, where))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def label(self) -> str:
        """Short name of the combination: ``bf16+cl+compile+graphs``."""
        return "+".join([self.dtype] + [key for key, name in INFERENCE_FLAGS.items() if getattr(self, name)])

    def autocast(self, device: torch.device | str):
        if self.dtype == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(torch.device(device).type, dtype=DTYPES[self.dtype])

    def prepare_model(self, model: nn.Module) -> nn.Module:
        """The model's inference form (``dsta.models.dsta_fused.fuse_head``: DSTA's head fused where that is faster;
        other models as they are), in eval mode, its weights read now (fuse again after changing them).
        Channels-last: every 4-D parameter and buffer (the 2-D convolutions') in NHWC, in place. Not
        ``model.to(memory_format=...)``, which refuses a model holding any 5-D weight (DCPose's 3-D convolutions)."""
        if self.channels_last:
            with torch.no_grad():
                for t in [*model.parameters(), *model.buffers()]:
                    if t.dim() == 4:
                        t.data = t.data.contiguous(memory_format=torch.channels_last)
        return fuse_head(model.eval())

    def prepare_input(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def wrap(
        self, fn: Callable[..., Any], example: tuple[torch.Tensor, ...], device: torch.device | str
    ) -> Callable[..., Any]:
        """``fn`` (a model or step taking tensors) with autocast, compile and CUDA graphs applied, without autograd;
        fp32 outputs.
        ``example``: inputs of the fixed shapes that CUDA graphs capture (ignored otherwise)."""
        self.check(device)
        body = torch.compile(fn, dynamic=False) if self.compile else fn

        def run(*inputs):  # inference: no autograd (also while CUDA graphs warm up and capture it)
            with torch.no_grad(), self.autocast(device):
                return _to_fp32(body(*inputs))

        if not self.cuda_graphs:
            return run
        return _capture(run, tuple(self.prepare_input(x) for x in example))


def add_arguments(parser, cuda_note: str = "") -> None:
    """The four flags on an argparse parser."""
    parser.add_argument("--dtype", choices=list(DTYPES), default="fp32", help="autocast dtype of inference")
    parser.add_argument("--channels-last", action="store_true", help="NHWC memory format for convolutions")
    parser.add_argument("--compile", action="store_true", help="torch.compile the forward pass")
    parser.add_argument(
        "--cuda-graphs",
        action="store_true",
        help="capture and replay the forward pass for fixed shapes (CUDA only)" + cuda_note,
    )


def from_args(args) -> InferenceOptions:
    return InferenceOptions(args.dtype, args.channels_last, args.compile, args.cuda_graphs)


def _to_fp32(out: Any) -> Any:
    if torch.is_tensor(out):
        return out.float() if out.is_floating_point() else out
    if isinstance(out, tuple):
        return tuple(_to_fp32(o) for o in out)
    if hasattr(out, "__dataclass_fields__"):
        return type(out)(**{k: _to_fp32(getattr(out, k)) for k in out.__dataclass_fields__})
    return out


def _capture(run: Callable[..., Any], example: tuple[torch.Tensor, ...]) -> Callable[..., Any]:
    """Warm ``run`` up on a side stream, capture it into a CUDA graph, return a replaying function."""
    static = tuple(x.clone() for x in example)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            run(*static)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = run(*static)

    def replay(*inputs):
        for buf, x in zip(static, inputs):
            if x is not buf:
                buf.copy_(x)
        graph.replay()
        return out

    replay.graph = graph  # keeps the graph (and its memory pool) alive with the function
    return replay


def batch_runner(
    model: nn.Module, options: InferenceOptions, device: torch.device | str, batch_size: int
) -> Callable[[torch.Tensor], Any]:
    """``model(images)`` with the options, for a loader whose batches have at most ``batch_size`` samples. With CUDA
    graphs one graph is captured at ``batch_size``: a smaller (last) batch is padded with its last sample and the
    outputs cut back, and outputs are copies (the graph's buffers are reused by the next call)."""
    model = options.prepare_model(model.eval())
    state: dict[str, Callable] = {}

    def call(images: torch.Tensor) -> Any:
        images = options.prepare_input(images)
        n = images.shape[0]
        if options.cuda_graphs and n < batch_size:
            images = torch.cat([images, images[-1:].expand(batch_size - n, *images.shape[1:])])
        if "run" not in state:
            state["run"] = options.wrap(model, (images,), device)
        out = state["run"](images)
        return _take(out, n) if options.cuda_graphs else out

    return call


def _take(out: Any, n: int) -> Any:
    if torch.is_tensor(out):
        return out[:n].clone()
    if hasattr(out, "__dataclass_fields__"):
        return type(out)(**{k: _take(getattr(out, k), n) for k in out.__dataclass_fields__})
    return tuple(_take(o, n) for o in out)
