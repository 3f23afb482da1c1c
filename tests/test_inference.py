"""dsta.inference: bf16 and channels-last give the same poses on the CPU; CUDA-only flags are refused by name.

Tolerances. channels-last fp32 does the same arithmetic in another memory order (other summation orders): 1e-4 of
the crop. bf16 autocast rounds every convolution and matmul input to an 8-bit mantissa (relative error 2^-9 per
rounding); through ResNet-18 and the token transformer the coordinates move by about 3% of their spread between
inputs (measured here: 0.0045 of the crop at a spread of 0.155), so 1% of the crop side is the bound: 2.6 px at 256
px, an order of magnitude under PCKh@0.5's threshold (half the head size, some 30 px for a person filling a 256 px
crop). The poses must vary between inputs by several times the bound, so the comparison is not vacuous.
"""

import pytest
import torch
from torch import nn

from dsta.core.errors import DataError
from dsta.inference import InferenceOptions, batch_runner
from dsta.models import create_model


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = create_model("dsta", backbone="resnet18", num_frames=3, embed_dim=32, depth=1).eval()
    with torch.no_grad():  # weights large enough that the pose depends on the input (RLE's init keeps it at 0.5)
        nn.init.normal_(m.joint_embed.linear.weight, std=1.0)
        nn.init.normal_(m.head_coord[1].weight, std=0.05)  # coords spread over about a crop
    return m


def poses(model, options, clip):
    return batch_runner(model, options, "cpu", clip.shape[0])(clip).coords


@pytest.mark.parametrize(
    "options,atol",
    [
        (InferenceOptions(channels_last=True), 1e-4),
        (InferenceOptions(dtype="bf16"), 0.01),
        (InferenceOptions(dtype="bf16", channels_last=True), 0.01),
    ],
)
def test_cpu_options_give_the_same_poses(model, options, atol):
    clip = torch.randn(8, 3, 3, 64, 48, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        ref = poses(model, InferenceOptions(), clip)
        out = poses(model, options, clip)
        model.to(memory_format=torch.contiguous_format)
    assert out.dtype == torch.float32
    err = (out - ref).abs().max().item()
    assert err < atol, f"{options.label}: max |coords - fp32 coords| = {err:.2e} of the crop"
    assert (ref - ref.mean(dim=0)).abs().max() > 5 * atol  # poses vary between inputs far more than the error


def test_channels_last_on_a_model_with_3d_convolutions():
    """DCPose holds 5-D weights, which ``model.to(memory_format=channels_last)`` refuses: its 4-D ones go NHWC, the
    rest stay, and the heatmaps equal fp32's."""
    torch.manual_seed(0)
    m = create_model("dcpose", backbone="resnet18", num_frames=3).eval()
    assert any(p.dim() == 5 for p in m.parameters())
    clip = torch.randn(2, 3, 3, 64, 48, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        ref = m(clip)
        InferenceOptions(channels_last=True).prepare_model(m)
        out = m(clip)
    convs = [p for p in m.parameters() if p.dim() == 4]
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    ref, out = (x if torch.is_tensor(x) else x.heatmaps for x in (ref, out))
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)


def test_dcpose_runs_under_cpu_bf16_autocast():
    """torchvision's CPU deformable convolution has no bf16 kernel: DCPose runs that layer in fp32 under autocast.
    The heatmaps stay within bf16 rounding of fp32's (the other layers are bf16): 2% of their range."""
    torch.manual_seed(0)
    m = create_model("dcpose", backbone="resnet18", num_frames=3).eval()
    clip = torch.randn(2, 3, 3, 64, 48, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        ref = m(clip)
        out = batch_runner(m, InferenceOptions(dtype="bf16"), "cpu", 2)(clip)
    ref, out = (x if torch.is_tensor(x) else x.heatmaps for x in (ref, out))
    assert out.dtype == torch.float32 and out.shape == ref.shape
    assert (out - ref).abs().max() < 0.02 * (ref.max() - ref.min())


def test_cuda_only_flag_is_refused_by_name():
    with pytest.raises(DataError, match="--cuda-graphs"):
        InferenceOptions(cuda_graphs=True).check("cpu")
    with pytest.raises(DataError, match="--dtype"):
        InferenceOptions(dtype="fp8").check("cpu")


def test_options_label_and_record():
    o = InferenceOptions(dtype="bf16", channels_last=True)
    assert o.label == "bf16+cl"
    assert o.as_dict() == {"dtype": "bf16", "channels_last": True, "compile": False, "cuda_graphs": False}


def test_predict_refuses_cuda_graphs_on_the_cpu(model):
    from dsta.predict import predict

    with pytest.raises(DataError, match="--cuda-graphs"):
        predict(model, None, None, torch.device("cpu"), options=InferenceOptions(cuda_graphs=True))


def test_wrapped_calls_run_without_autograd(model):
    """``wrap`` is inference: no autograd even when the caller has it on (CUDA graphs warm up and capture the call
    so; DSTA's fused head then keeps its weights instead of fusing them into every captured step)."""
    seen = []
    hook = model.register_forward_hook(lambda m, i, o: seen.append(torch.is_grad_enabled()))
    try:
        out = InferenceOptions().wrap(model, (), "cpu")(torch.randn(1, 3, 3, 64, 48))
    finally:
        hook.remove()
    assert seen == [False] and not out.coords.requires_grad
