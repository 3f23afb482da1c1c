"""dsta.models.dsta_fused: the fused head equals the paper's, its blocks equal timm's run one by one, and the path
it takes is the measured rule."""

import json
from functools import partial
from pathlib import Path

import pytest
import torch
from timm.models.vision_transformer import Block
from torch import nn

from dsta.core import keypoints as kp
from dsta.inference import InferenceOptions
from dsta.models.dsta import DSTA
from dsta.models.dsta_fused import (
    FUSED_UP_TO_BATCH,
    FusedDSTA,
    fuse_branch_blocks,
    fuse_head,
    fused_blocks,
    fused_is_faster,
)
from dsta.nn.attention import TokenAttention

ROOT = Path(__file__).resolve().parents[1]


def _perturbed(model, seed=0):
    """Random weights everywhere (the zero-initialised position embeddings and norms included)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g))
    return model.eval()


FUSED_CASES = {  # (model kwargs): the PoseTrack grouping both ways, other groupings, widths and depths
    "posetrack": dict(num_frames=3),
    "posetrack-official-readout": dict(num_frames=3, official_readout=True),
    "t5-groups-of-5": dict(
        num_frames=5,
        joint_groups=kp.JointGroups(
            names=("a", "b", "c"), groups=((4, 0, 7, 1, 9), (2, 12, 5, 3, 14), (6, 8, 10, 11, 13)), ungrouped=(15, 16)
        ),
    ),
    "t1-groups-of-1": dict(
        num_frames=1, joint_groups=kp.JointGroups(names=("a", "b"), groups=((1,), (0,)), ungrouped=(2, 3))
    ),
    "c48-4-heads-depth-1-mlp3": dict(num_frames=3, embed_dim=48, num_heads=4, depth=1, mlp_ratio=3.0),
}


@pytest.mark.parametrize("kwargs", FUSED_CASES.values(), ids=FUSED_CASES.keys())
@pytest.mark.parametrize("kernel", [False, True], ids=["cpu-attention", "cuda-attention"])
def test_fused_head_equals_the_paper_head(kwargs, kernel):
    """Both attentions of the fused head (broadcast products, the CPU's; ``scaled_dot_product_attention``, CUDA's)
    give the paper head's pose within float rounding, at batch 1 and 5, and the whole forward too."""
    model = _perturbed(DSTA("resnet18", **kwargs))
    fused = fuse_head(model, inplace=False)
    fused.attention_kernel = kernel
    t, j, c = model.num_frames, model.num_joints, model.embed_dim
    with torch.no_grad():
        for batch in (1, 5):
            tokens = torch.randn(batch, t, j, c)
            ours, ref = fused.aggregate_frames_fused(tokens), model.aggregate_frames(tokens)
            for name in ("coords", "sigma", "score"):
                assert batch == 1 or getattr(ref, name).std() > 0.01  # a meaningful comparison
                torch.testing.assert_close(getattr(ours, name), getattr(ref, name), atol=2e-5, rtol=1e-5)
        clip = torch.randn(2, t, 3, 64, 48)
        torch.testing.assert_close(fused(clip).coords, model(clip).coords, atol=2e-5, rtol=1e-5)


def test_fuse_head_is_a_snapshot_and_inference_only():
    """The folded weights are the model's at the call: a later change of the model does not reach them, fusing
    again does. ``inplace=False`` leaves the model to train on; the fused form refuses training mode."""
    model = _perturbed(DSTA("resnet18", num_frames=3))
    fused = fuse_head(model, inplace=False)
    assert isinstance(fused, FusedDSTA) and fused.model is not model and model.training is False
    tokens = torch.randn(2, 3, 17, 32)
    with torch.no_grad():
        before = fused.aggregate_frames_fused(tokens).coords
        model.temporal_blocks[1].mlp.fc2.bias.add_(torch.randn(32))
        assert torch.equal(fused.aggregate_frames_fused(tokens).coords, before)
        again = fuse_head(model)
        assert again.model is model  # in place: the model is wrapped, not copied
        changed = again.aggregate_frames_fused(tokens).coords
        assert not torch.allclose(changed, before)
        torch.testing.assert_close(changed, model.aggregate_frames(tokens).coords, atol=2e-5, rtol=1e-5)
    with pytest.raises(RuntimeError, match="for inference"):
        fused.train()
    assert fused.eval() is fused


def test_fuse_head_leaves_other_models_as_they_are():
    """T = 5 with groups of 3 (two sequence lengths) has no fused form; nor has any other model."""
    model = DSTA("resnet18", num_frames=5)
    assert fuse_head(model) is model
    other = nn.Linear(2, 2)
    assert fuse_head(other) is other


def test_fused_head_follows_dtype_and_device_moves():
    """The weights are folded in the model's precision: a float64 model's fused head equals its paper head to float64
    rounding; the buffers move with ``.to()`` (a float32 fold moved to float64 keeps float32's rounding)."""
    model = _perturbed(DSTA("resnet18", num_frames=3)).double()
    tokens = torch.randn(3, 3, 17, 32, dtype=torch.float64)
    with torch.no_grad():
        ref = model.aggregate_frames(tokens).coords
        out = fuse_head(model, inplace=False).aggregate_frames_fused(tokens)
        assert out.coords.dtype == torch.float64
        torch.testing.assert_close(out.coords, ref, atol=1e-10, rtol=1e-10)
        moved = fuse_head(model.float(), inplace=False).double().aggregate_frames_fused(tokens)
        assert moved.coords.dtype == torch.float64
        torch.testing.assert_close(moved.coords, ref, atol=2e-5, rtol=1e-5)


def test_fused_head_under_autocast_keeps_its_weights_in_autocasts_dtype():
    """Under autocast the folded weights are cast once to autocast's dtype and kept (autocast's casts then copy
    nothing); the final norm's scale and shift stay float32; a float32 call uses the float32 buffers."""
    model = _perturbed(DSTA("resnet18", num_frames=3))
    fused = fuse_head(model, inplace=False)
    tokens = torch.randn(3, 3, 17, 32)
    with torch.no_grad():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = fused.aggregate_frames_fused(tokens)
            weights = fused.weights()
            assert fused.weights() is weights  # kept
        assert weights.head_w.dtype == weights.blocks[0][0].dtype == torch.bfloat16
        assert weights.norm_w.dtype == torch.float32  # group norms run in float32 under autocast
        ref = model.aggregate_frames(tokens).coords
        torch.testing.assert_close(low.coords.float(), ref, atol=0.1, rtol=0.05)  # bf16: 8 bits of mantissa
        assert fused.weights().head_w.dtype == torch.float32
        torch.testing.assert_close(fused.aggregate_frames_fused(tokens).coords, ref, atol=2e-5, rtol=1e-5)


def test_the_path_follows_the_measured_rule(monkeypatch):
    """On the CPU the fused head runs up to ``FUSED_UP_TO_BATCH`` clips per call (per autocast dtype), the paper's
    head beyond; on a device the table does not list (CUDA), always the fused one."""
    assert fused_is_faster("cuda", 4096, None) and fused_is_faster("cuda", 1, torch.float16)
    limit = FUSED_UP_TO_BATCH[("cpu", None)]
    assert limit >= 1 and fused_is_faster("cpu", limit, None) and not fused_is_faster("cpu", limit + 1, None)
    assert not fused_is_faster("cpu", 1, torch.float16)  # measured slower at every batch
    fused = fuse_head(_perturbed(DSTA("resnet18", num_frames=3)))
    calls = []
    monkeypatch.setattr(FusedDSTA, "aggregate_frames_fused", lambda self, tokens: calls.append(len(tokens)))
    with torch.no_grad():
        fused.aggregate_frames(torch.randn(limit, 3, 17, 32))
        fused.aggregate_frames(torch.randn(limit + 1, 3, 17, 32))
        with torch.autocast("cpu", dtype=torch.float16):
            fused.aggregate_frames(torch.randn(1, 3, 17, 32))
    assert calls == [limit]


def test_the_rule_is_the_one_head_ops_measured():
    """``FUSED_UP_TO_BATCH`` for the CPU is what ``benchmarks/head_ops.json`` derives from its interleaved timings
    (``benchmarks.head_ops.fused_up_to_batch``, recomputed here from the committed ratios)."""
    from benchmarks.head_ops import fused_up_to_batch

    measured = json.loads((ROOT / "benchmarks/head_ops.json").read_text())["dispatch"]
    assert measured["device_type"] == "cpu" and measured["depths"] == [2, 4]
    dtypes = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
    for name, entry in measured["dtypes"].items():
        rule = FUSED_UP_TO_BATCH[("cpu", dtypes[name])]
        assert fused_up_to_batch(entry["time"]) == entry["fused_up_to_batch"] == rule
    assert {dtype for device, dtype in FUSED_UP_TO_BATCH if device == "cpu"} == set(dtypes.values())


def test_inference_code_runs_the_inference_form():
    """``InferenceOptions.prepare_model`` (predict, profile, side by side) and streaming take ``fuse_head``'s form."""
    from dsta.streaming import StreamingPose

    model = DSTA("resnet18", num_frames=3)
    assert isinstance(InferenceOptions().prepare_model(model), FusedDSTA)
    assert isinstance(StreamingPose(DSTA("resnet18", num_frames=3), (48, 64)).model, FusedDSTA)


def test_fused_head_compiles_to_one_graph():  # inductor's C++ build: about 10 s
    """``torch.compile(fullgraph=True)`` of the fused head: no graph break (CPU inductor, the CUDA attention, as
    CUDA graphs capture it)."""
    import shutil

    if not (shutil.which("c++") or shutil.which("g++")):
        pytest.skip("torch.compile on the CPU needs a C++ compiler")
    torch._dynamo.reset()
    fused = fuse_head(_perturbed(DSTA("resnet18", num_frames=3, embed_dim=16, depth=2, num_heads=4)))
    fused.attention_kernel = True
    tokens = torch.randn(2, 3, 17, 16)
    compiled = torch.compile(fused.aggregate_frames_fused, fullgraph=True, backend="inductor")
    with torch.no_grad():
        out, ref = compiled(tokens), fused.model.aggregate_frames(tokens)
    torch.testing.assert_close(out.coords, ref.coords, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.sigma, ref.sigma, atol=1e-5, rtol=1e-5)


# -- the fused blocks ----------------------------------------------------------------------------------------------
def _stacks(branches, depth, dim=32, heads=8, perturb=True):
    torch.manual_seed(0)
    stacks = [
        [
            Block(dim, heads, 2.0, qkv_bias=True, attn_layer=TokenAttention, norm_layer=partial(nn.LayerNorm, eps=1e-6))
            for _ in range(depth)
        ]
        for _ in range(branches)
    ]
    with torch.no_grad():
        for blk in (b for stack in stacks for b in stack):
            if perturb:
                for p in blk.parameters():
                    p.add_(0.2 * torch.randn_like(p))  # norms away from (1, 0), biases away from 0: all folds work
            blk.eval()
    return stacks


def _run_fused(stacks, x, kernel=None):
    """x (P, N, L, C) -> (P, N, L, C) through ``fused_blocks`` (rows (N, L), channels (P, C))."""
    p, n, seq, c = x.shape
    out = fused_blocks(
        x.permute(1, 2, 0, 3).reshape(n * seq, p, c),
        fuse_branch_blocks(stacks),
        seq,
        stacks[0][0].attn.num_heads,
        stacks[0][0].norm1.eps,
        kernel,
    )
    return out.view(n, seq, p, c).permute(2, 0, 1, 3)


@pytest.mark.parametrize(
    "branches,sequences,tokens,dim,heads", [(2, 6, 3, 32, 8), (1, 4, 5, 32, 8), (3, 2, 9, 32, 8), (2, 3, 3, 48, 4)]
)
@pytest.mark.parametrize("kernel", [False, True], ids=["cpu-attention", "cuda-attention"])
def test_fused_blocks_equal_each_branch_run_block_by_block(branches, sequences, tokens, dim, heads, kernel):
    """Head widths 4 (padded to 8) and 12 (padded to 16); 1 to 3 branches; inputs and outputs with gradients."""
    stacks = _stacks(branches, 2, dim, heads)
    x = torch.randn(branches, sequences, tokens, dim, requires_grad=True)
    ref = torch.stack([stack[1](stack[0](x[i])) for i, stack in enumerate(stacks)])
    out = _run_fused(stacks, x, kernel)
    assert ref.std() > 0.5
    torch.testing.assert_close(out, ref, atol=2e-5, rtol=1e-5)
    # the folds are differentiable in the input and in every parameter
    params = [p for stack in stacks for blk in stack for p in blk.parameters()]
    grads = torch.autograd.grad(out.square().sum(), [x, *params])
    grads_ref = torch.autograd.grad(ref.square().sum(), [x, *params])
    for ours, theirs in zip(grads, grads_ref):
        torch.testing.assert_close(ours, theirs, atol=1e-5 * theirs.abs().max().item() + 1e-6, rtol=1e-3)


def test_fused_weights_are_block_diagonal_with_the_biases_folded():
    """The layout the GPU kernels see: qkv (P C, 3 P H 8), projection (P H 8, P C), fc1 (P C, P hidden + 8), fc2
    back; nothing of one branch reaches another's channels, and the constant channel and unit carry the biases."""
    stacks = _stacks(2, 1)
    qkv_w, qkv_b, proj_w, fc1_w, fc1_b, fc2_w = fuse_branch_blocks(stacks)[0]
    assert qkv_w.shape == (64, 3 * 2 * 8 * 8) and proj_w.shape == (2 * 8 * 8, 64)
    assert fc1_w.shape == (64, 2 * 64 + 8) and fc2_w.shape == (2 * 64 + 8, 64)
    cols = qkv_w.view(2, 32, 3, 2, 8, 8)
    assert cols[0, :, :, 1].abs().sum() == 0 and cols[1, :, :, 0].abs().sum() == 0  # block diagonal
    assert cols[..., 4:].abs().sum() == 0  # padded channels get no input
    v_bias = qkv_b.view(3, 2, 8, 8)[2]
    assert torch.equal(v_bias[..., 4], torch.ones(2, 8)) and v_bias[..., 5:].abs().sum() == 0
    torch.testing.assert_close(proj_w.view(2, 8, 8, 2, 32)[1, 0, 4, 1], stacks[1][0].attn.proj.bias)
    assert fc1_b[-8] == 8.0 and torch.equal(fc2_w[-8] * 8, torch.cat([s[0].mlp.fc2.bias for s in stacks]))


def test_fused_blocks_under_bf16_autocast():
    stacks = _stacks(2, 1, perturb=False)
    x = torch.randn(2, 4, 3, 32)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = _run_fused(stacks, x)
    ref = torch.stack([stack[0](x[i]) for i, stack in enumerate(stacks)])
    torch.testing.assert_close(out.float(), ref, atol=0.1, rtol=0.05)  # bf16 keeps 8 bits of mantissa


def test_fused_blocks_refuse_blocks_they_cannot_fold():
    stacks = _stacks(2, 1)
    stacks[1][0].mlp.act = nn.GELU(approximate="tanh")
    with pytest.raises(AssertionError, match="plain"):
        fuse_branch_blocks(stacks)
    stacks = _stacks(2, 1)
    stacks[0][0].norm2 = nn.LayerNorm(32, bias=False)  # no shift to fold
    with pytest.raises(AssertionError, match="plain"):
        fuse_branch_blocks(stacks)
    stacks[0][0].norm2 = nn.RMSNorm(32)
    with pytest.raises(AssertionError, match="plain"):
        fuse_branch_blocks(stacks)
