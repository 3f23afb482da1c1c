import pytest
import torch

from benchmarks.profiling.official_dsta import official_forward
from dsta.convert_official import convert
from dsta.core import keypoints as kp
from dsta.models import create_model, load_checkpoint, read_checkpoint, save_checkpoint
from dsta.models.dsta import DSTA
from tests.release_layouts import DSTA_LAYOUT
from tests.release_layouts import dsta_release_state_dict as _official_state_dict

LAYOUT = DSTA_LAYOUT


def test_official_layout_param_count():
    params = sum(
        torch.Size(e["shape"]).numel()
        for e in LAYOUT["state_dict"]
        if not e["name"].endswith(("running_mean", "running_var", "num_batches_tracked", "flow.mask"))
    )
    assert params == LAYOUT["num_parameters"] == 24_745_407


def test_conversion_gives_the_official_network(tmp_path):
    sd = _official_state_dict()
    src, dst = tmp_path / "official.pth", tmp_path / "ours.pt"
    torch.save({"epoch": 19, "state_dict": sd}, src)
    convert(src, dst)
    model = load_checkpoint(dst).eval()
    assert sum(p.numel() for p in model.parameters()) == 24_745_407
    ckpt = read_checkpoint(dst)
    assert ckpt["model"] == "dsta" and ckpt["kwargs"]["num_frames"] == 3 and ckpt["kwargs"]["backbone"] == "resnet50"

    torch.manual_seed(0)
    frames = torch.randn(2, 3, 3, 128, 96)  # (B, T, 3, H, W)
    ref_coords, ref_sigma = official_forward(sd, frames.flatten(1, 2))  # official input: (B, 3T, H, W)
    with torch.no_grad():
        out = model(frames)
    assert (out.coords - ref_coords).abs().max() <= 1e-4
    assert (out.sigma - ref_sigma).abs().max() <= 1e-4
    assert ref_coords.std() > 1e-3  # a meaningful comparison, not two constants


def test_conversion_rejects_other_checkpoints(tmp_path):
    from dsta.core.errors import DataError

    torch.save({"state_dict": {"conv.weight": torch.zeros(1)}}, tmp_path / "x.pth")
    with pytest.raises(DataError, match="fc_coord"):
        convert(tmp_path / "x.pth", tmp_path / "y.pt")


@pytest.mark.parametrize("t", [1, 3, 5, 7])
def test_any_odd_t(t):
    model = DSTA("resnet18", num_frames=t, embed_dim=16, depth=1, num_heads=4).eval()
    with torch.no_grad():
        out = model(torch.randn(2, t, 3, 64, 48))
    assert out.coords.shape == (2, 17, 2) and out.sigma.shape == (2, 17, 2) and out.score.shape == (2, 17)
    assert ((out.sigma > 0) & (out.sigma < 1)).all()


def test_bad_arguments():
    from dsta.core.errors import DataError

    with pytest.raises(DataError, match="model.num_frames"):
        DSTA("resnet18", num_frames=4)
    with pytest.raises(DataError, match="model.backbone"):
        DSTA("vgg16", num_frames=3)
    with pytest.raises(ValueError, match="joint grouping"):
        DSTA("resnet18", num_frames=3, joint_groups="coco")


def test_custom_skeleton_groups():
    groups = kp.JointGroups(names=("a", "b"), groups=((0, 1), (2, 3)), ungrouped=(4,))
    model = DSTA("resnet18", num_frames=3, joint_groups=groups, embed_dim=16, depth=1, num_heads=4).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 3, 64, 48)).coords.shape == (1, 5, 2)


def test_readout_follows_the_joint_groups():
    """Our token k is keypoint token_order[k]; each keypoint's output must come from its own token."""
    model = DSTA("resnet18", num_frames=1, embed_dim=16, depth=1, num_heads=4)
    order = kp.POSETRACK_JOINT_GROUPS.token_order
    assert [order[t] for t in model.readout.tolist()] == list(range(17))


def test_checkpoint_round_trip(tmp_path):
    kwargs = dict(backbone="resnet18", num_frames=3, embed_dim=16, depth=1, num_heads=4)
    model = create_model("dsta", **kwargs).eval()
    save_checkpoint(tmp_path / "c.pt", "dsta", kwargs, model, epoch=3, config={"a": 1})
    again = load_checkpoint(tmp_path / "c.pt").eval()
    x = torch.randn(1, 3, 3, 64, 48)
    with torch.no_grad():
        assert torch.equal(model(x).coords, again(x).coords)
    assert read_checkpoint(tmp_path / "c.pt")["epoch"] == 3


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ["resnet18", "resnet50", "hrnet_w32"])
def test_backbones_forward_and_backward(backbone):
    model = DSTA(backbone, num_frames=3, embed_dim=16, depth=1, num_heads=4)
    out = model(torch.randn(2, 3, 3, 128, 96))  # HRNet needs sides divisible by 32
    (out.coords.sum() + out.sigma.sum()).backward()
    assert model.joint_embed.linear.weight.grad is not None


def _bias_names(model):
    return [n for n, _ in model.named_parameters() if n.endswith("bias") and not n.startswith("backbone.")]


def test_official_init_as_the_release_initialises():
    """zgspose/DSTA ``init_weights``: every bias of the new layers 0, the aggregation (``weighted_mean``) from
    N(0, 0.001), the flow's linear layers at PyTorch's default init (not xavier(0.01)); the backbone untouched."""
    torch.manual_seed(0)
    default = DSTA("resnet18", num_frames=3, embed_dim=32, depth=2, num_heads=8)
    torch.manual_seed(0)
    model = DSTA("resnet18", num_frames=3, embed_dim=32, depth=2, num_heads=8, init="official")
    params = dict(model.named_parameters())
    names = _bias_names(model)
    for part in (
        "spatial_blocks.0.attn.qkv.bias",
        "temporal_blocks.1.mlp.fc2.bias",
        "head_coord.1.bias",
        "head_sigma.1.bias",
        "joint_embed.linear.bias",
        "aggregate.bias",
        "flow.s.0.0.bias",
        "flow.t.5.4.bias",
    ):
        assert part in names
    assert all(torch.count_nonzero(params[n]) == 0 for n in names)
    # the default keeps PyTorch's biases and starts the coordinates at the crop centre
    assert torch.count_nonzero(dict(default.named_parameters())["spatial_blocks.0.attn.qkv.bias"]) > 0
    assert (dict(default.named_parameters())["head_coord.1.bias"] > 0.3).all()
    # the aggregation's weight is the first draw after the call: N(0, 0.001)
    torch.manual_seed(1)
    model.init_official()
    torch.manual_seed(1)
    assert torch.equal(model.aggregate.weight, torch.empty(1, 2, 1, 1).normal_(0, 0.001))
    # the flow at PyTorch's default Linear init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), instead of xavier(0.01)
    hidden = model.flow.s[0][2].weight  # 64 x 64: bound 1/8, std 1/(8 sqrt 3) = 0.072
    assert hidden.abs().max() <= 0.125 and 0.065 < hidden.std() < 0.080
    assert default.flow.s[0][2].weight.abs().max() < 0.01 * (6 / 128) ** 0.5 + 1e-7  # xavier(0.01) bound
    # the rest as built: the backbone and the transformer weights equal the default model's (same seed, same draws)
    for name, p in default.named_parameters():
        if name.startswith("backbone.") or name.endswith("qkv.weight") or name.startswith("pos"):
            assert torch.equal(p, params[name]), name
    with pytest.raises(AssertionError, match="init"):
        DSTA("resnet18", num_frames=3, init="xavier")
