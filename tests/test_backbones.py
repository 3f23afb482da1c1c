import pytest
import timm
import torch

from dsta.errors import DataError
from dsta.backbones import create_backbone


def test_imagenet_weights_missing_offline_is_a_warning(monkeypatch):
    real = timm.create_model

    def offline(name, pretrained=False, **kw):
        if pretrained:  # what timm raises when neither its cache nor the hub can be reached
            raise OSError("We couldn't connect to the hub")
        return real(name, pretrained=False, **kw)

    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.warns(UserWarning, match="ImageNet weights"):
        model = create_backbone("resnet18", "imagenet")
    assert model.num_features == 512


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
