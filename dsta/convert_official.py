"""Turn a checkpoint of the released DSTA code (zgspose/DSTA, ``DSTA_STD_ResNet50``, T=3) into a dsta-bench one.

``python -m dsta.convert_official SRC.pth DST.pt``

The released network and ours compute the same function (``tests/test_dsta.py`` checks outputs to 1e-4); only the
parameter names differ. Our model is built with ``official_readout=True`` so that even the (unannotated) ear outputs
match the release, which reads them from the head-top token.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from dsta.checkpoint import rename_keys
from dsta.errors import main_guard
from dsta.models import read_foreign_state_dict, save_converted

OFFICIAL_KWARGS = dict(backbone="resnet50", num_frames=3, joint_groups="posetrack", embed_dim=32, depth=4,
                       num_heads=8, mlp_ratio=2.0, drop_path_rate=0.1, official_readout=True, flow_prior_mean=0.5)

# official name prefix -> ours
RENAMES = (
    (r"^preact\.", "backbone."),
    (r"^fc_coord\.linear\.", "joint_embed.linear."),
    (r"^Spatial_pos_embed$", "spatial_pos_embed"),
    (r"^Temporal_pos_embed$", "temporal_pos_embed"),
    (r"^Spatial_blocks\.", "spatial_blocks."),
    (r"^blocks\.", "temporal_blocks."),
    (r"^Spatial_norm\.", "spatial_norm."),
    (r"^Temporal_norm\.", "temporal_norm."),
    (r"^weighted_mean\.", "aggregate."),
)


def rename_official(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return rename_keys(state, RENAMES)


def convert(src: str | Path, dst: str | Path, kwargs: dict | None = None, **extra) -> None:
    """``kwargs``: the network to load (the release's, ``OFFICIAL_KWARGS``, by default); ``extra``: saved with it."""
    state = read_foreign_state_dict(src, "fc_coord.linear.weight", "DSTA_STD_ResNet50")
    save_converted(src, dst, "dsta", OFFICIAL_KWARGS if kwargs is None else kwargs, rename_official(state), **extra)


@main_guard
def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("src", help="official checkpoint (.pth)")
    p.add_argument("dst", help="dsta-bench checkpoint to write")
    a = p.parse_args(argv)
    convert(a.src, a.dst)
    print(f"wrote {a.dst}")


if __name__ == "__main__":
    main()
