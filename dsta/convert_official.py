"""Turn a checkpoint of the released DSTA code (zgspose/DSTA, ``DSTA_STD_ResNet50``, T=3) into a dsta-bench one.

``python -m dsta.convert_official SRC.pth DST.pt``

The released network and ours compute the same function (``tests/test_dsta.py`` checks outputs to 1e-4); only the
parameter names differ. Our model is built with ``official_readout=True`` so that even the (unannotated) ear outputs
match the release, which reads them from the head-top token.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import torch

import dsta.models  # noqa: F401  (registers every model: save_converted builds "dsta")
from dsta.core.errors import doc_summary, main_guard
from dsta.core.io import check_out_file
from dsta.nn.checkpoint import add_trust_argument, read_foreign_state_dict, release_config, rename_keys, save_converted

OFFICIAL_KWARGS = dict(
    backbone="resnet50",
    num_frames=3,
    joint_groups="posetrack",
    embed_dim=32,
    depth=4,
    num_heads=8,
    mlp_ratio=2.0,
    drop_path_rate=0.1,
    official_readout=True,
    flow_prior_mean=0.5,
)

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


def to_official_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of ``rename_official``: our state dict in the released names (the release's side of a
    comparison, ``benchmarks.profiling.official_dsta``, runs on the same weights as ours)."""
    inverse = tuple(
        (rf"^{re.escape(ours)}{'$' if official.endswith('$') else ''}", official.strip("^$").replace("\\.", "."))
        for official, ours in RENAMES
    )
    return rename_keys(state, inverse)


def official_config(data: str = "posetrack18") -> dict:
    """The ``config`` a converted checkpoint carries (``dsta.nn.checkpoint.release_config``): ``configs/data/DATA.yaml``
    (the release's 256x192 input and box settings) and ``configs/model/dsta_r50.yaml`` (its RLE loss) with the
    official constructor arguments."""
    return release_config("dsta_r50", OFFICIAL_KWARGS, data)


def convert(
    src: str | Path,
    dst: str | Path,
    kwargs: dict | None = None,
    data: str = "posetrack18",
    trust: bool = False,
    **extra,
) -> None:
    """``kwargs``: the network to load (the release's, ``OFFICIAL_KWARGS``, by default); ``extra``: saved with it (a
    ``config`` given there, as the pipeline's released entries give one, replaces ``official_config(data)``)."""
    extra.setdefault("config", official_config(data))
    state = read_foreign_state_dict(src, "fc_coord.linear.weight", "DSTA_STD_ResNet50", trust)
    save_converted(src, dst, "dsta", OFFICIAL_KWARGS if kwargs is None else kwargs, rename_official(state), **extra)


@main_guard
def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=doc_summary(__doc__))
    p.add_argument("src", help="official checkpoint (.pth)")
    p.add_argument("dst", help="dsta-bench checkpoint to write")
    p.add_argument(
        "--data",
        default="posetrack18",
        help="configs/data entry recorded as its data config (what dsta.predict reads: input size, splits, boxes)",
    )
    add_trust_argument(p)
    a = p.parse_args(argv)
    check_out_file(a.dst, "dst")
    convert(a.src, a.dst, data=a.data, trust=a.trust_checkpoint)
    print(f"wrote {a.dst}")


if __name__ == "__main__":
    main()
