"""Turn a checkpoint of the released DCPose code (Pose-Group/DCPose ``DcPose_RSN``, HRNet-W48, e.g. the PoseTrack17
model of its ``DcPose_supp_files``) into a dsta-bench ``dcpose`` checkpoint.

``python -m baselines.convert_dcpose SRC.pth DST.pt [--data posetrack17]``

The converted checkpoint carries the data and model config that ``dsta.predict`` and ``dsta.demo`` read, as the DSTA
converter's does: ``configs/data/DATA.yaml`` at the release's 384x288 input and ``configs/model/dcpose_hrnet_w48.yaml``
(its 96x72 heatmaps) with the release's constructor arguments.

The released network and ``baselines.dcpose.DCPose`` compute the same function (``tests/test_convert_dcpose.py``
checks the converted model against a restatement of the released forward); only the names differ, and the five
deformable convolutions' weights and biases are stacked into ``deform_weight`` / ``deform_bias``:

* ``rough_pose_estimation_net.final_layer.*`` -> ``rough.final.*``; ``rough_pose_estimation_net.*`` ->
  ``rough.backbone.*`` (the official pose HRNet's keys are timm's, ``dsta.nn.backbones.create_hrnet_pose``);
* ``diff_temporal_fuse`` (PRF) -> ``prf``, ``support_temporal_fuse`` (PTM) -> ``ptm``, ``offset_mask_combine_conv``
  -> ``combine``; in each residual-steps block ``conv_bn_relu1`` -> ``expand``, ``conv_bn_relu2_B_I`` ->
  ``branches.B-1.I-1``, ``conv_bn_relu3`` -> ``project``, ``downsample`` -> ``shortcut`` (``conv`` / ``bn`` -> ``0``
  / ``1``);
* ``offsets_list.D.0`` -> ``offsets.D``, ``masks_list.D.0`` -> ``masks.D``;
* ``modulated_deform_conv_list.D.deform_conv.{weight,bias}`` -> ``deform_weight[D]``, ``deform_bias[D]``.

The deformable convolution is the same operation on both sides: the release's CUDA ``ModulatedDeformConv``
(``thirdparty/deform_conv``) and ``torchvision.ops.deform_conv2d`` read the offsets as (dy, dx) for each kernel point
in row-major order, for each deformable group in turn (channel ``2 * (g * 9 + k)`` is dy, ``+ 1`` dx), multiply each
bilinear sample (zero outside the image) by the raw mask channel ``g * 9 + k`` (no sigmoid on either side), and pad
by the dilation.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from dsta.core.errors import DataError, doc_summary, main_guard
from dsta.core.io import check_out_file
from dsta.nn.checkpoint import add_trust_argument, read_foreign_state_dict, release_config, rename_keys, save_converted

# the release's PoseTrack17/18 model (configs/posetimation/DcPose/posetrack1{7,8}/model_RSN.yaml)
OFFICIAL_KWARGS = dict(
    backbone="hrnet_w48",
    num_frames=3,
    num_joints=17,
    dilations=[3, 6, 9, 12, 15],
    prf_channels=34,
    prf_blocks=2,
    ptm_blocks=1,
    combine_channels=64,
    combine_blocks=2,
    deconv_channels=256,
    pretrained=None,
    freeze_rough=True,
)
OFFICIAL_INPUT_SIZE = [288, 384]  # the release's IMAGE_SIZE (width, height), as configs/released/dcpose_*.yaml has it

# official module -> ours
MODULES = (
    (r"^rough_pose_estimation_net\.final_layer\.", "rough.final."),
    (r"^rough_pose_estimation_net\.", "rough.backbone."),
    (r"^diff_temporal_fuse\.layers\.", "prf."),
    (r"^support_temporal_fuse\.layers\.", "ptm."),
    (r"^offset_mask_combine_conv\.layers\.", "combine."),
    (r"^offsets_list\.(\d+)\.0\.", r"offsets.\1."),
    (r"^masks_list\.(\d+)\.0\.", r"masks.\1."),
)


def _index_of(layer: str) -> str:
    """``conv_bn_relu``'s ``conv`` / ``bn`` -> our ``nn.Sequential`` index."""
    return "0" if layer == "conv" else "1"


# inside a residual-steps block (keys already under prf / ptm / combine)
BLOCK = (
    (r"^((?:prf|ptm|combine)\.\d+)\.conv_bn_relu1\.(conv|bn)\.", lambda m: f"{m[1]}.expand.{_index_of(m[2])}."),
    (
        r"^((?:prf|ptm|combine)\.\d+)\.conv_bn_relu2_(\d)_(\d)\.(conv|bn)\.",
        lambda m: f"{m[1]}.branches.{int(m[2]) - 1}.{int(m[3]) - 1}.{_index_of(m[4])}.",
    ),
    (r"^((?:prf|ptm|combine)\.\d+)\.conv_bn_relu3\.(conv|bn)\.", lambda m: f"{m[1]}.project.{_index_of(m[2])}."),
    (r"^((?:prf|ptm|combine)\.\d+)\.downsample\.(conv|bn)\.", lambda m: f"{m[1]}.shortcut.{_index_of(m[2])}."),
)
DEFORM = "modulated_deform_conv_list.{}.deform_conv.{}"


def from_release(state: dict[str, torch.Tensor], num_dilations: int, src: str | Path = "") -> dict[str, torch.Tensor]:
    """The release's ``DcPose_RSN`` state dict in ``baselines.dcpose.DCPose``'s names (see the module docstring)."""
    state = dict(state)
    stacked = {}
    for ours, part in (("deform_weight", "weight"), ("deform_bias", "bias")):
        keys = [DEFORM.format(d, part) for d in range(num_dilations)]
        missing = [k for k in keys if k not in state]
        if missing:
            raise DataError(src, "state_dict", f"not the released DcPose_RSN layout: {missing[0]} missing")
        stacked[ours] = torch.stack([state.pop(k) for k in keys])
    return {**rename_keys(rename_keys(state, MODULES), BLOCK), **stacked}


def official_config(data: str = "posetrack17") -> dict:
    """The ``config`` a converted checkpoint carries (``dsta.nn.checkpoint.release_config``)."""
    return release_config("dcpose_hrnet_w48", OFFICIAL_KWARGS, data, input_size=OFFICIAL_INPUT_SIZE)


def convert(
    src: str | Path,
    dst: str | Path,
    kwargs: dict | None = None,
    data: str = "posetrack17",
    trust: bool = False,
    **extra,
) -> None:
    """``kwargs``: the network to load (the release's, ``OFFICIAL_KWARGS``, by default); ``extra``: saved with it (a
    ``config`` given there, as the pipeline's released entries give one, replaces ``official_config(data)``)."""
    kwargs = OFFICIAL_KWARGS if kwargs is None else kwargs
    extra.setdefault("config", official_config(data))
    state = read_foreign_state_dict(src, "modulated_deform_conv_list.0.deform_conv.weight", "DCPose DcPose_RSN", trust)
    mapped = from_release(state, len(kwargs["dilations"]), src)
    # "dcpose" is registered: importing this module ran baselines/__init__.py, which imports baselines.dcpose
    save_converted(src, dst, "dcpose", kwargs, mapped, **extra)


@main_guard
def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=doc_summary(__doc__))
    p.add_argument("src", help="official checkpoint (.pth)")
    p.add_argument("dst", help="dsta-bench checkpoint to write")
    p.add_argument(
        "--data",
        default="posetrack17",
        help="configs/data entry recorded as its data config (what dsta.predict reads: splits, boxes)",
    )
    add_trust_argument(p)
    a = p.parse_args(argv)
    check_out_file(a.dst, "dst")
    convert(a.src, a.dst, data=a.data, trust=a.trust_checkpoint)
    print(f"wrote {a.dst}")


if __name__ == "__main__":
    main()
