"""Single-frame top-down heatmap models: SimpleBaseline and HRNet.

* SimpleBaseline (Xiao et al., *Simple Baselines for Human Pose Estimation and Tracking*, ECCV 2018): a ResNet, then
  three stride-2 transposed convolutions (4x4, BN, ReLU) back to stride 4, then a 1x1 convolution to J heatmaps.
* HRNet (Sun et al., CVPR 2019): the highest-resolution (stride-4) branch of an HRNet, then a 1x1 convolution.

Heatmaps are at a quarter of the input size; the loss is the joint-weighted MSE against Gaussian targets and decoding
is mmpose's MSRA codec (``dsta.objectives.HeatmapObjective``). This is the standard single-frame heatmap reference,
and the per-frame stage of DCPose (``baselines.dcpose``).

The HRNet trunk is the official pose HRNet (``dsta.nn.backbones.create_hrnet_pose``: timm's HRNet without the last
stage's lower-resolution fuse outputs, which the pose network never builds). A ``pretrained`` file in the official
pose layout (e.g. HRNet's COCO ``pose_hrnet_w48_384x288.pth``, which DCPose starts from) loads the trunk and, when
its ``final_layer`` has this network's shape, the 1x1 heatmap layer as well (DCPose loads every layer, ``'*'``).

Parameters at paper size (17 joints, measured): SimpleBaseline-ResNet-50 33,999,697 (the paper's 34.0 M);
HRNet-W32 28,536,113 and HRNet-W48 63,595,745, equal key by key and in count to the official pose HRNet (DCPose's
``posetimation/zoo/backbones/hrnet.py`` built from its ``Base_PoseTrack18.yaml``: 63,595,745; the HRNet paper's
28.5 M and 63.6 M). timm's full HRNet-W48 trunk would add 1,730,208 dead parameters (65,325,953 in all).
"""

from __future__ import annotations

import torch
from torch import nn

from dsta.core.configs import check_num_frames
from dsta.core.registry import register_model
from dsta.nn.backbones import create_backbone, create_hrnet_pose, read_state_dict


class HeatmapNet(nn.Module):
    """Per-frame heatmaps.

    Args:
        backbone: ``resnet*`` (SimpleBaseline head) or ``hrnet_w32`` / ``hrnet_w48`` (stride-4 branch + 1x1 conv).
        num_joints: J.
        deconv_channels: width of SimpleBaseline's transposed convolutions (256 in the paper).
        num_deconv: how many (3: stride 32 -> 4).
        pretrained: backbone weights (None, ``"imagenet"`` or a path).
        num_frames: must be 1 (every registered model takes ``(B, T, 3, H, W)``).
    """

    def __init__(
        self,
        backbone: str,
        num_joints: int = 17,
        deconv_channels: int = 256,
        num_deconv: int = 3,
        pretrained: str | None = None,
        num_frames: int = 1,
    ) -> None:
        super().__init__()
        if check_num_frames(num_frames, "model.num_frames") != 1:
            raise ValueError("heatmap_single is a single-frame model: num_frames must be 1")
        assert num_joints > 0 and deconv_channels > 0 and num_deconv >= 1
        self.num_frames = 1
        self.num_joints = num_joints
        if backbone.startswith("hrnet"):
            self.backbone = create_hrnet_pose(backbone, pretrained)
            self.upsample = nn.Identity()
            channels = self.backbone.feature_info.channels()[0]
        else:
            self.backbone = create_backbone(backbone, pretrained)
            layers, channels = [], self.backbone.num_features
            for _ in range(num_deconv):
                layers += [
                    nn.ConvTranspose2d(channels, deconv_channels, 4, stride=2, padding=1, bias=False),
                    nn.BatchNorm2d(deconv_channels),
                    nn.ReLU(inplace=True),
                ]
                channels = deconv_channels
            self.upsample = nn.Sequential(*layers)
            for m in self.upsample.modules():
                if isinstance(m, nn.ConvTranspose2d):
                    nn.init.normal_(m.weight, std=0.001)
        self.final = nn.Conv2d(channels, num_joints, kernel_size=1)
        nn.init.normal_(self.final.weight, std=0.001)
        nn.init.zeros_(self.final.bias)
        if pretrained and pretrained != "imagenet" and backbone.startswith("hrnet"):
            self._load_final_layer(pretrained)

    def _load_final_layer(self, path: str) -> None:
        """The official pose checkpoints' 1x1 heatmap layer (``final_layer``), when its shape is this network's."""
        state = read_state_dict(path)
        weight, bias = state.get("final_layer.weight"), state.get("final_layer.bias")
        if weight is not None and bias is not None and weight.shape == self.final.weight.shape:
            with torch.no_grad():
                self.final.weight.copy_(weight)
                self.final.bias.copy_(bias)

    def frame_heatmaps(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, J, H/4, W/4)."""
        feat = self.backbone(frames)
        if isinstance(feat, (list, tuple)):
            feat = feat[0]
        # sides that are not multiples of 32 round up through the strided layers (padding at the bottom/right);
        # cropping back to H/4 x W/4 keeps every heatmap cell on its input pixels
        h, w = frames.shape[-2] // 4, frames.shape[-1] // 4
        return self.final(self.upsample(feat))[..., :h, :w]

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        assert clip.shape[1] == 1, "heatmap_single takes one frame"
        return self.frame_heatmaps(clip[:, 0])


@register_model("heatmap")
def heatmap_single(**kwargs) -> HeatmapNet:
    """Single-frame heatmap model (SimpleBaseline on ResNet, or HRNet); see ``baselines.heatmap.HeatmapNet``."""
    return HeatmapNet(**kwargs)
