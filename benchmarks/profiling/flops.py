"""Parameters and GFLOPs (fvcore), split into backbone and head.

*One multiply-add counts as one FLOP* (fvcore's convention, and the one papers quote). Handles are added for what
fvcore would silently count as zero: ``scaled_dot_product_attention`` (QK^T and AV), torchvision's ``deform_conv2d``
(the convolution plus bilinear sampling and modulation), the global mean pool and ``linalg_vector_norm``; norm layers
use fvcore's own handles. Whatever is still uncounted (element-wise ops: additions, activations, max-pool) is listed
under ``unsupported_ops`` next to the total.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from math import prod
from typing import Any

import torch
from torch import nn

from dsta.models import backbone_path

FLOP_CONVENTION = "one multiply-add = one FLOP (fvcore); element-wise ops not counted"


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
    return {
        "total": total / 1e9,
        "backbone": back / 1e9,
        "head": (total - back) / 1e9,
        "by_operator": {k: v / 1e9 for k, v in sorted(analysis.by_operator().items())},
        "unsupported_ops": dict(sorted(analysis.unsupported_ops().items())),
    }
