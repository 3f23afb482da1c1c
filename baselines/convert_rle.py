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

from baselines.rle import from_release
from dsta.core.errors import doc_summary, main_guard
from dsta.core.io import check_out_file
from dsta.nn.checkpoint import add_trust_argument, read_foreign_state_dict, save_converted


def convert(src: str | Path, dst: str | Path, backbone: str = "resnet50", trust: bool = False) -> None:
    state = read_foreign_state_dict(src, "fc_sigma.linear.weight", "RLE RegressFlow", trust)
    mapped = from_release(state)
    num_joints = mapped["fc_coord.linear.weight"].shape[0] // 2
    # "rle" is registered: importing this module ran baselines/__init__.py, which imports baselines.rle
    save_converted(src, dst, "rle", dict(backbone=backbone, num_joints=num_joints, num_frames=1), mapped)


@main_guard
def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=doc_summary(__doc__))
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--backbone", default="resnet50")
    add_trust_argument(p)
    a = p.parse_args(argv)
    check_out_file(a.dst, "dst")
    convert(a.src, a.dst, a.backbone, a.trust_checkpoint)
    print(f"wrote {a.dst}")


if __name__ == "__main__":
    main()
