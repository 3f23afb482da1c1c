"""dsta.attention: the CPU short-sequence path, the one-token block and the side-by-side branches equal timm's
attention and blocks."""
from functools import partial

import pytest
import torch
from timm.models.vision_transformer import Attention, Block
from torch import nn

from dsta.attention import TokenAttention, block_query, fuse_branch_blocks, fused_blocks


@pytest.mark.parametrize("batch,tokens", [(6, 3), (4, 5), (2, 9), (2, 20)])  # 20: past the short path
def test_token_attention_equals_timm(batch, tokens):
    torch.manual_seed(0)
    ref, ours = Attention(32, 8, qkv_bias=True).eval(), TokenAttention(32, 8, qkv_bias=True).eval()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(batch, tokens, 32)
    torch.testing.assert_close(ours(x), ref(x), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(ours.forward_query(x, tokens // 2), ref(x)[:, tokens // 2], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("dim,heads", [(24, 2), (64, 4)])  # head widths 12 and 16: the scale folded into a matrix
def test_token_attention_other_widths_and_state_dict(dim, heads):
    torch.manual_seed(0)
    ref, ours = Attention(dim, heads, qkv_bias=True).eval(), TokenAttention(dim, heads, qkv_bias=True).eval()
    assert ours.state_dict().keys() == ref.state_dict().keys()  # the head matrices are not checkpoint state
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(3, 5, dim)
    torch.testing.assert_close(ours(x), ref(x), atol=1e-6, rtol=1e-5)


def test_token_attention_under_bf16_autocast():
    """The fp32 head matrices meet bf16 q, k, v under autocast; the result stays within bf16 rounding of fp32."""
    torch.manual_seed(0)
    ref, ours = Attention(32, 8, qkv_bias=True).eval(), TokenAttention(32, 8, qkv_bias=True).eval()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(6, 3, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = ours(x)
    torch.testing.assert_close(out.float(), ref(x), atol=0.05, rtol=0.05)  # bf16 keeps 8 bits of mantissa


def test_block_query_equals_the_block_at_one_token_with_gradients():
    torch.manual_seed(0)
    ref = Block(32, 8, 2.0, qkv_bias=True).eval()
    ours = Block(32, 8, 2.0, qkv_bias=True, attn_layer=TokenAttention).eval()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(5, 3, 32, requires_grad=True)
    torch.testing.assert_close(block_query(ours, x, 1), ref(x)[:, 1], atol=1e-6, rtol=1e-5)
    block_query(ours, x, 1).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad[:, 0].abs().sum() > 0  # keys and values of other tokens count


def _stacks(branches, depth, dim=32, heads=8, perturb=True):
    torch.manual_seed(0)
    stacks = [[Block(dim, heads, 2.0, qkv_bias=True, attn_layer=TokenAttention,
                     norm_layer=partial(nn.LayerNorm, eps=1e-6)) for _ in range(depth)] for _ in range(branches)]
    with torch.no_grad():
        for blk in (b for stack in stacks for b in stack):
            if perturb:
                for p in blk.parameters():
                    p.add_(0.2 * torch.randn_like(p))  # norms away from (1, 0), biases away from 0: all folds work
            blk.eval()
    return stacks


def _run_fused(stacks, x, fused=None):
    """x (P, N, L, C) -> (P, N, L, C) through ``fused_blocks`` (rows (N, L), channels (P, C))."""
    p, n, seq, c = x.shape
    attn = stacks[0][0].attn
    out = fused_blocks(x.permute(1, 2, 0, 3).reshape(n * seq, p, c), fused or fuse_branch_blocks(stacks), seq,
                       attn.num_heads, attn.scale, stacks[0][0].norm1.eps)
    return out.view(n, seq, p, c).permute(2, 0, 1, 3)


@pytest.mark.parametrize("branches,sequences,tokens,dim,heads", [(2, 6, 3, 32, 8), (1, 4, 5, 32, 8),
                                                                 (3, 2, 9, 32, 8), (2, 3, 3, 48, 4)])
def test_fused_blocks_equal_each_branch_run_block_by_block(branches, sequences, tokens, dim, heads):
    """Head widths 4 (padded to 8) and 12 (padded to 16); 1 to 3 branches; inputs and outputs with gradients."""
    stacks = _stacks(branches, 2, dim, heads)
    x = torch.randn(branches, sequences, tokens, dim, requires_grad=True)
    ref = torch.stack([stack[1](stack[0](x[i])) for i, stack in enumerate(stacks)])
    out = _run_fused(stacks, x)
    assert ref.std() > 0.5
    torch.testing.assert_close(out, ref, atol=2e-5, rtol=1e-5)
    # differentiable in the input and in every parameter (built fresh under autograd)
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
