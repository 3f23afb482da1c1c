"""The DCPose converter (``baselines.convert_dcpose``): the released PoseTrack17 layout (every key, shape and dtype,
``../shared/dcpose-official``) maps key by key onto ``baselines.dcpose.DCPose``, and the converted network computes
the released forward (``tests/official_dcpose_reference.py``), including the modulated deformable convolution's
offset layout and raw masks."""

import pytest
import torch
from torchvision.ops import deform_conv2d

from baselines.convert_dcpose import OFFICIAL_KWARGS, convert, from_release
from baselines.convert_dcpose import main as convert_main
from dsta.core.errors import DataError
from dsta.core.io import sha256_of
from dsta.models import create_model, load_checkpoint, read_checkpoint
from tests.official_dcpose_reference import modulated_deform_conv, official_forward
from tests.release_layouts import DCPOSE_LAYOUT, dcpose_release_state_dict, save_as_released

LAYOUT = DCPOSE_LAYOUT


@pytest.fixture(scope="module")
def released():
    return dcpose_release_state_dict()


def test_layout_counts():
    params = sum(
        torch.Size(e["shape"]).numel()
        for e in LAYOUT["keys"]
        if not e["key"].endswith(("running_mean", "running_var", "num_batches_tracked"))
    )
    assert len(LAYOUT["keys"]) == LAYOUT["num_keys"] == 2215
    assert params == LAYOUT["params_total"] == 65_198_798


def test_every_released_key_maps_onto_dcpose(released):
    mapped = from_release(released, len(OFFICIAL_KWARGS["dilations"]))
    ours = create_model("dcpose", **OFFICIAL_KWARGS).state_dict()
    assert set(mapped) == set(ours)  # every key mapped, nothing left over on either side
    for key, value in ours.items():
        assert mapped[key].shape == value.shape and mapped[key].dtype == value.dtype, key
    # the stacked deformable convolutions keep the release's order of dilations
    for d in range(5):
        assert torch.equal(mapped["deform_weight"][d], released[f"modulated_deform_conv_list.{d}.deform_conv.weight"])
        assert torch.equal(mapped["deform_bias"][d], released[f"modulated_deform_conv_list.{d}.deform_conv.bias"])
    assert torch.equal(
        mapped["prf.1.branches.3.2.1.running_var"],
        released["diff_temporal_fuse.layers.1.conv_bn_relu2_4_3.bn.running_var"],
    )
    assert torch.equal(mapped["rough.final.weight"], released["rough_pose_estimation_net.final_layer.weight"])


@pytest.mark.slow
def test_converted_network_computes_the_released_forward(released, tmp_path):
    src, dst = tmp_path / "dcpose_pt17.pth", tmp_path / "ours.pt"
    save_as_released(released, src)
    convert(src, dst)
    ckpt = read_checkpoint(dst)
    assert ckpt["model"] == "dcpose" and ckpt["kwargs"] == OFFICIAL_KWARGS
    model = load_checkpoint(dst).eval()
    assert sum(p.numel() for p in model.parameters()) == 65_198_798

    torch.manual_seed(0)
    frames = torch.randn(2, 3, 3, 64, 96)  # (B, T, 3, H, W) in temporal order: previous, current, next
    margin = torch.tensor([[1, 1], [2, 1]])  # (c - p, n - c); the second sample weights the frames unequally
    official_x = torch.cat([frames[:, 1], frames[:, 0], frames[:, 2]], dim=1)  # the release's (current, previous, next)
    ref = official_forward(released, official_x, margin)
    with torch.no_grad():
        out = model(frames, margin=margin)
    assert out.shape == ref.shape == (2, 17, 16, 24)
    assert ref.std() > 1e-2  # a meaningful comparison, not two constants
    assert (out - ref).abs().max() <= 1e-4 * ref.abs().max()


@pytest.mark.slow
def test_converted_release_predicts(released, tmp_path):
    """The command's output carries the data and model config that ``dsta.predict`` reads (as the DSTA converter's
    does: the release's 384x288 input, its 96x72 heatmaps) and the sha256 of the converted file, and runs through it,
    on a small synthetic video (one person: the 384x288 HRNet-W48 is slow on a CPU). ``dsta.demo`` streams DSTA
    checkpoints only (issue 30)."""
    from dsta.data.synthetic import SyntheticConfig, generate
    from dsta.predict import main as predict_main

    src, dst = tmp_path / "PoseTrack17_DCPose.pth", tmp_path / "dcpose.pt"
    save_as_released(released, src)
    convert_main([str(src), str(dst), "--data", "posetrack18"])
    ckpt = read_checkpoint(dst)
    data, model = ckpt["config"]["data"], ckpt["config"]["model"]
    assert data["name"] == "posetrack18" and data["input_size"] == [288, 384] and data["val_ann"] == "annotations/val"
    assert model["name"] == "dcpose" and model["kwargs"] == OFFICIAL_KWARGS and model["heatmap"]["size"] == [72, 96]
    assert ckpt["source_sha256"] == sha256_of(src)
    data = tmp_path / "ds"
    generate(data, SyntheticConfig(train_sequences=1, val_sequences=1, frames=4, max_persons=1, seed=3))
    metrics = predict_main(
        ["--checkpoint", str(dst), "--data-root", str(data), "--out", str(tmp_path / "eval"), "--boxes", "gt"]
    )
    assert 0 <= metrics["Total"] <= 100 and metrics["model"] == "dcpose" and metrics["dataset"] == "posetrack18"


def test_conversion_rejects_other_checkpoints(tmp_path):
    torch.save({"state_dict": {"conv.weight": torch.zeros(1)}}, tmp_path / "x.pth")
    with pytest.raises(DataError, match="DcPose_RSN"):
        convert(tmp_path / "x.pth", tmp_path / "y.pt")


# -- the modulated deformable convolution ------------------------------------------------------------------------


def test_offsets_are_dy_dx_per_kernel_point_and_masks_are_raw():
    """A hand-built case, independent of both implementations: identity weights on the centre tap, the centre
    point's offset (dy, dx) = (0, 1) and its mask 2 give 2 x the image shifted one pixel left (the last column reads
    outside: 0); the same offset in the dy slot shifts it one row up."""
    x = torch.arange(20.0).view(1, 1, 4, 5)
    weight = torch.zeros(1, 1, 3, 3)
    weight[0, 0, 1, 1] = 1
    centre = 4  # kernel point (1, 1), row-major
    for slot, expected in (
        (1, torch.cat([x[..., 1:], torch.zeros(1, 1, 4, 1)], -1)),
        (0, torch.cat([x[..., 1:, :], torch.zeros(1, 1, 1, 5)], -2)),
    ):
        offset = torch.zeros(1, 18, 4, 5)
        offset[:, 2 * centre + slot] = 1.0
        mask = torch.zeros(1, 9, 4, 5)
        mask[:, centre] = 2.0
        for out in (
            deform_conv2d(x, offset, weight, None, padding=(1, 1), mask=mask),
            modulated_deform_conv(x, offset, mask, weight, None, dilation=1, groups=1),
        ):
            assert torch.allclose(out, 2 * expected)


@pytest.mark.parametrize("groups,dilation", [(1, 1), (2, 2), (4, 3)])
def test_torchvision_matches_the_released_kernel(groups, dilation):
    """``torchvision.ops.deform_conv2d`` (what ``baselines.dcpose`` runs) against the direct bilinear sampling of
    the release's kernel: fractional offsets of several pixels (many samples fall partly or wholly outside the image),
    raw masks with negative values, several deformable groups, dilation as padding."""
    g = torch.Generator().manual_seed(groups * 10 + dilation)
    c, h, w = 4, 7, 9
    x = torch.randn(2, c, h, w, generator=g, dtype=torch.float64)
    offset = 3 * torch.randn(2, 2 * groups * 9, h, w, generator=g, dtype=torch.float64)
    mask = torch.rand(2, groups * 9, h, w, generator=g, dtype=torch.float64) * 3 - 1
    weight = torch.randn(5, c, 3, 3, generator=g, dtype=torch.float64)
    bias = torch.randn(5, generator=g, dtype=torch.float64)
    ours = deform_conv2d(
        x, offset, weight, bias, padding=(dilation, dilation), dilation=(dilation, dilation), mask=mask
    )
    ref = modulated_deform_conv(x, offset, mask, weight, bias, dilation, groups)
    assert torch.allclose(ours, ref, atol=1e-10)
