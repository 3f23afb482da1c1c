"""Random weights in the layouts of the released checkpoints (every key, shape and dtype from the layout files in
``../shared/dsta-official`` and ``../shared/dcpose-official``), saved as the releases save them, for the converter
tests and the end-to-end smoke test of the released entries (``tests/test_smoke_posetrack.py``)."""

import json
from pathlib import Path

import torch

from tests.conftest import SHARED

DSTA_LAYOUT = json.loads((SHARED / "dsta-official" / "state_dict_r50_t3.json").read_text())
DCPOSE_LAYOUT = json.loads((SHARED / "dcpose-official" / "state_dict_posetrack17.json").read_text())
DTYPES = {"float32": torch.float32, "int64": torch.int64}


def dsta_release_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights in the released layout (keys, shapes, dtypes from the shared layout file)."""
    import torchvision

    g = torch.Generator().manual_seed(seed)
    resnet = torchvision.models.resnet50().state_dict()
    sd = {}
    for entry in DSTA_LAYOUT["state_dict"]:
        name, shape = entry["name"], tuple(entry["shape"])
        if name.startswith("preact."):
            t = resnet[name[len("preact.") :]].clone()
            if name.endswith("running_mean"):
                t = torch.randn(shape, generator=g) * 0.05
            elif name.endswith("running_var"):
                t = torch.rand(shape, generator=g) * 0.5 + 0.75
            elif name.endswith("bn3.weight") or name.endswith("bn2.weight"):
                t = torch.rand(shape, generator=g) * 0.5 + 0.5
        elif entry["dtype"] == "int64":
            t = torch.tensor(100)
        elif name.endswith(
            ("norm1.weight", "norm2.weight", "norm.weight", "head_coord.0.weight", "head_sigma.0.weight")
        ):
            t = 1 + 0.1 * torch.randn(shape, generator=g)
        elif name == "flow.mask":
            t = torch.tensor([[0.0, 1.0], [1.0, 0.0]] * 3)
        else:
            t = 0.1 * torch.randn(shape, generator=g)
        assert t.shape == shape, name
        sd[name] = t
    return sd


def dcpose_release_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights in the released layout (keys, shapes, dtypes from the shared layout file), scaled so that
    activations stay of order 1 through the network: convolutions ~ N(0, 1 / fan_in), BatchNorm near the identity."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for entry in DCPOSE_LAYOUT["keys"]:
        name, shape, dtype = entry["key"], tuple(entry["shape"]), DTYPES[entry["dtype"]]
        if dtype == torch.int64:
            t = torch.tensor(1000, dtype=dtype)
        elif name.endswith("running_var"):
            t = torch.rand(shape, generator=g) * 0.5 + 0.75
        elif name.endswith("running_mean") or name.endswith(".bias"):
            t = torch.randn(shape, generator=g) * 0.05
        elif len(shape) == 1:  # BatchNorm weight
            t = torch.rand(shape, generator=g) * 0.5 + 0.75
        else:
            fan_in = torch.Size(shape[1:]).numel()
            t = torch.randn(shape, generator=g) / fan_in**0.5
        sd[name] = t.to(dtype)
    return sd


def save_as_released(state: dict[str, torch.Tensor], path: str | Path, epoch: int = 19) -> Path:
    """Save ``state`` as both releases save a checkpoint (``engine/defaults/checkpoints.py::save_checkpoint`` of
    zgspose/DSTA and Pose-Group/DCPose: ``begin_epoch``, ``state_dict`` without DataParallel's ``module.`` prefix,
    ``optimizer``, ``tensorboard_global_steps``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"begin_epoch": epoch, "state_dict": state, "optimizer": {}, "tensorboard_global_steps": 0}, path)
    return path
