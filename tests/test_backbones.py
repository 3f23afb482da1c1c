import pytest
import timm
import torch

from dsta.core.errors import DataError
from dsta.nn.backbones import create_backbone, create_hrnet_pose


def test_imagenet_weights_missing_offline_is_an_error(monkeypatch):
    """Offline GPU machines have no hub: a paper run must stop, not train from random init."""
    real = timm.create_model

    def offline(name, pretrained=False, **kw):
        if pretrained:  # what timm raises when neither its cache nor the hub can be reached
            raise OSError("We couldn't connect to the hub")
        return real(name, pretrained=False, **kw)

    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(DataError, match="model.pretrained: ImageNet weights for resnet18 unavailable"):
        create_backbone("resnet18", "imagenet")
    with pytest.raises(DataError, match="ImageNet weights for hrnet_w48 unavailable"):
        create_hrnet_pose("hrnet_w48", "imagenet")


def test_hrnet_pose_trunk_drops_the_dead_fuse_outputs():
    """timm's HRNet-W48 builds stage4[-1].fuse_layers[1:] (1,730,208 parameters) that the pose HRNet never has;
    without them the trunk has the official pose HRNet-W48's 63,594,912 (63,595,745 with the 17-joint 1x1 head)."""
    full = timm.create_model("hrnet_w48", features_only=True, feature_location="", out_indices=(1,))
    trunk = create_hrnet_pose("hrnet_w48")
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(full) - count(trunk) == 1_730_208 and count(trunk) == 63_594_912
    assert len(trunk.stage4[-1].fuse_layers) == 1
    out = trunk(torch.zeros(1, 3, 64, 64))
    assert len(out) == 1 and out[0].shape == (1, 48, 16, 16)
    assert set(trunk.state_dict()) <= set(full.state_dict())


def test_loads_an_rle_coco_style_checkpoint(tmp_path):
    """RLE's COCO checkpoint keeps the ResNet under preact., next to its heads and flow."""
    src = timm.create_model("resnet18", num_classes=0, global_pool="")
    state = {f"preact.{k}": v for k, v in src.state_dict().items()}
    state["fc_coord.linear.weight"] = torch.zeros(34, 512)
    state["flow.mask"] = torch.zeros(6, 2)
    torch.save({"state_dict": state}, tmp_path / "coco-rle.pth")
    model = create_backbone("resnet18", str(tmp_path / "coco-rle.pth"))
    assert all(torch.equal(model.state_dict()[k], v) for k, v in src.state_dict().items())


def test_timm_layout_and_errors(tmp_path):
    src = timm.create_model("resnet18", num_classes=10)
    torch.save(src.state_dict(), tmp_path / "imagenet.pth")
    model = create_backbone("resnet18", str(tmp_path / "imagenet.pth"))
    assert torch.equal(model.conv1.weight, src.conv1.weight)
    with pytest.raises(DataError, match="model.pretrained"):
        create_backbone("resnet18", str(tmp_path / "missing.pth"))
    torch.save({"conv1.weight": src.conv1.weight}, tmp_path / "partial.pth")
    with pytest.raises(DataError, match="weights missing"):
        create_backbone("resnet18", str(tmp_path / "partial.pth"))
