"""dsta.nn.attention: the CPU short-sequence path and the one-token block equal timm's attention and blocks."""

import pytest
import torch
from timm.models.vision_transformer import Attention, Block

from dsta.nn.attention import TokenAttention, block_query


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
