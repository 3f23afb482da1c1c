import torch
import torch.nn.functional as F
import torchvision

from baselines.convert_rle import convert
from dsta.models import create_model, load_checkpoint


def _release_forward(sd, x):
    """RegressFlow.forward of the release, restated: torchvision-layout ResNet, pooled, norm-scaled coordinates
    (centred at 0), plain-linear sigma."""
    net = torchvision.models.resnet50()
    net.load_state_dict({k[len("preact.") :]: v for k, v in sd.items() if k.startswith("preact.")}, strict=False)
    net.eval()
    f = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    f = net.layer4(net.layer3(net.layer2(net.layer1(f))))
    f = F.adaptive_avg_pool2d(f, 1).flatten(1)
    coord = f @ sd["fc_coord.linear.weight"].t() / torch.norm(f, dim=1, keepdim=True) + sd["fc_coord.linear.bias"]
    sigma = (f @ sd["fc_sigma.linear.weight"].t() + sd["fc_sigma.linear.bias"]).sigmoid()
    return coord.reshape(-1, 17, 2), sigma.reshape(-1, 17, 2)


def test_rle_release_conversion(tmp_path):
    torch.manual_seed(0)
    ours = create_model("rle", backbone="resnet50")
    sd = {
        ("preact." + k[len("backbone.") :] if k.startswith("backbone.") else k): v.clone()
        for k, v in ours.state_dict().items()
    }
    for k in ("fc_coord.linear.weight", "fc_sigma.linear.weight"):
        sd[k] = torch.randn_like(sd[k]) * 0.05
    sd["fc_coord.linear.bias"] = torch.randn(34) * 0.1  # release-centred
    torch.save({"state_dict": sd}, tmp_path / "coco-laplace-rle.pth")
    convert(tmp_path / "coco-laplace-rle.pth", tmp_path / "rle.pt")
    model = load_checkpoint(tmp_path / "rle.pt").eval()
    assert sum(p.numel() for p in model.parameters()) == 23_701_148
    x = torch.randn(2, 3, 128, 96)
    with torch.no_grad():
        ref_coord, ref_sigma = _release_forward(sd, x)
        out = model(x[:, None])
    assert (out.coords - (ref_coord + 0.5)).abs().max() < 1e-4
    assert (out.sigma - ref_sigma).abs().max() < 1e-5
