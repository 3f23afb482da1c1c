"""Turn a checkpoint of the released RLE code (Jeff-sjtu/res-loglikelihood-regression ``RegressFlow``, e.g. the COCO
ResNet-50 ``coco-laplace-rle.pth`` the DSTA paper initialises from) into a dsta-bench ``rle`` checkpoint.

``python -m baselines.convert_rle SRC.pth DST.pt [--backbone resnet50]``

Names map ``preact.* -> backbone.*``; ``fc_coord``, ``fc_sigma`` and ``flow`` keep theirs. The release centres
coordinates at 0 (``x / W - 0.5``); ours are ``x / W``, so 0.5 is added to the coordinate bias: the converted model's
``coords`` are the release's ``pred_jts + 0.5`` and its ``sigma`` is identical.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from dsta.errors import DataError, main_guard
from dsta.models import create_model, save_checkpoint


def convert(src: str | Path, dst: str | Path, backbone: str = "resnet50") -> None:
    src = Path(src)
    if not src.is_file():
        raise DataError(src, None, "RLE checkpoint not found")
    raw = torch.load(src, map_location="cpu", weights_only=False)
    state = raw.get("state_dict", raw) if isinstance(raw, dict) else None
    if not isinstance(state, dict) or not any(str(k).endswith("fc_sigma.linear.weight") for k in state):
        raise DataError(src, "state_dict", "not an RLE RegressFlow checkpoint (no fc_sigma.linear.weight)")
    mapped = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        if key.startswith("preact."):
            key = "backbone." + key[len("preact."):]
        mapped[key] = value.clone()
    mapped["fc_coord.linear.bias"] = mapped["fc_coord.linear.bias"] + 0.5
    num_joints = mapped["fc_coord.linear.weight"].shape[0] // 2
    kwargs = dict(backbone=backbone, num_joints=num_joints, num_frames=1)
    model = create_model("rle", **kwargs)
    missing, unexpected = model.load_state_dict(mapped, strict=False)
    if missing or unexpected:
        raise DataError(src, "state_dict", f"layout differs from RegressFlow/{backbone}: missing {missing[:4]}, "
                                           f"unexpected {unexpected[:4]}")
    save_checkpoint(dst, "rle", kwargs, model, source=str(src))


@main_guard
def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--backbone", default="resnet50")
    a = p.parse_args(argv)
    convert(a.src, a.dst, a.backbone)
    print(f"wrote {a.dst}")


if __name__ == "__main__":
    main()
