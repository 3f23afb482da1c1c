"""Every registered model: forward and backward at tiny size, and overfitting a batch of 4 synthetic clips."""

import pytest
import torch
from torch.utils.data import DataLoader

from dsta.data.dataset import TopDownClipDataset
from dsta.models import create_model, model_target, own_models
from dsta.objectives import make_objective

TINY = {
    "dsta": dict(backbone="resnet18", num_frames=3, embed_dim=16, depth=1, num_heads=4),
    "rle": dict(backbone="resnet18"),
    "heatmap_single": dict(backbone="resnet18", deconv_channels=32),
    "dcpose": dict(
        backbone="resnet18",
        deconv_channels=32,
        prf_channels=17,
        combine_channels=32,
        prf_blocks=1,
        combine_blocks=1,
        dilations=(1, 2, 3),
    ),  # 16x12 heatmaps: the paper's 3..15 would overshoot
}
INPUT = (48, 64)
HEATMAP = (12, 16)


def test_every_registered_model_has_a_tiny_config():
    assert set(own_models()) == set(TINY)


def _batch(root, name, n=4):
    model_frames = TINY[name].get("num_frames", 3 if name == "dcpose" else 1)
    ds = TopDownClipDataset(
        root / "annotations" / "train",
        root,
        num_frames=model_frames,
        input_size=INPUT,
        target=model_target(name),
        heatmap_size=HEATMAP,
        heatmap_sigma=1.0,
    )
    return next(iter(DataLoader(ds, batch_size=n)))


def _setup(name, root, n):
    torch.manual_seed(0)
    objective = make_objective(model_target(name), INPUT, heatmap_size=HEATMAP, heatmap_sigma=1.0)
    return create_model(name, **TINY[name]), _batch(root, name, n), objective


@pytest.mark.parametrize("name", sorted(TINY))
def test_forward_backward(name, synthetic_tiny):
    model, batch, objective = _setup(name, synthetic_tiny, 2)
    out = model(batch["image"])
    loss = objective.loss(model, out, batch)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for n, p in model.named_parameters() if p.requires_grad and "flow" not in n)
    coords, scores = objective.decode(out)
    assert coords.shape == (2, 17, 2) and scores.shape == (2, 17)


def _error(name, objective, out, batch):
    """What must drop 10x: the heatmap MSE for heatmap models; for regression models the mean absolute
    coordinate error (the RLE loss is a negative log-likelihood, unbounded below, so a ratio of it means nothing)."""
    if model_target(name) == "heatmap":
        return objective.loss(None, out, batch).item()
    w = batch["coord_weight"] > 0
    return (out.coords - batch["coords"]).abs()[w].mean().item()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TINY))
def test_overfits_four_clips(name, synthetic_tiny):
    model, batch, objective = _setup(name, synthetic_tiny, 4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    with torch.no_grad():
        start = _error(name, objective, model(batch["image"]), batch)
    for _ in range(100):
        out = model(batch["image"])
        loss = objective.loss(model, out, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        end = _error(name, objective, model(batch["image"]), batch)
    assert end <= start / 10, (start, end)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,kwargs,params",
    [
        ("rle", dict(backbone="resnet50"), 23_701_148),
        ("heatmap_single", dict(backbone="resnet50"), 33_999_697),
        ("heatmap_single", dict(backbone="hrnet_w48"), 63_595_745),  # the official pose HRNet-W48, key by key
        ("dcpose", dict(backbone="hrnet_w48"), 65_198_798),
    ],
)
def test_paper_size(name, kwargs, params):
    """The paper configurations build, run at 256x192 on the CPU, and have the documented parameter counts."""
    model = create_model(name, **kwargs).eval()
    assert sum(p.numel() for p in model.parameters()) == params
    with torch.no_grad():
        out = model(torch.randn(1, model.num_frames, 3, 256, 192))
    shape = tuple(out.shape) if torch.is_tensor(out) else tuple(out.coords.shape)
    assert shape == ((1, 17, 64, 48) if model_target(name) == "heatmap" else (1, 17, 2))


def test_dcpose_official_recipe_freezes_the_per_frame_network():
    """FREEZE_HRNET_WEIGHTS: only PTM, PRF and PCN train; the per-frame network gets no gradient."""
    model = create_model("dcpose", backbone="resnet18", deconv_channels=16, dilations=[1], freeze_rough=True)
    assert not any(p.requires_grad for p in model.rough.parameters())
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and not any(n.startswith("rough.") for n in trainable)
    model(torch.randn(1, 3, 3, 64, 48)).mean().backward()
    assert all(p.grad is None for p in model.rough.parameters())


def test_rle_starts_from_a_whole_release_checkpoint(tmp_path):
    """pretrained = a RegressFlow release checkpoint (coco-laplace-rle.pth) loads backbone, heads and flow."""
    torch.manual_seed(0)
    src = create_model("rle", backbone="resnet18")
    state = {
        ("preact." + k[len("backbone.") :] if k.startswith("backbone.") else k): v.clone() + 0.01
        for k, v in src.state_dict().items()
        if v.is_floating_point()
    }
    torch.save({"state_dict": state}, tmp_path / "coco-laplace-rle.pth")
    model = create_model("rle", backbone="resnet18", pretrained=str(tmp_path / "coco-laplace-rle.pth"))
    ours = model.state_dict()
    assert torch.equal(
        ours["flow.s.0.0.weight"] if "flow.s.0.0.weight" in ours else ours["fc_sigma.linear.weight"],
        state["flow.s.0.0.weight"] if "flow.s.0.0.weight" in ours else state["fc_sigma.linear.weight"],
    )
    assert torch.allclose(ours["fc_coord.linear.bias"], state["fc_coord.linear.bias"] + 0.5)
    assert torch.equal(ours["backbone.conv1.weight"], state["preact.conv1.weight"])
