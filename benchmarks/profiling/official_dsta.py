"""An independent, functional re-statement of the released DSTA forward (zgspose/DSTA ``DSTA_STD_ResNet50``),
written against the released parameter names: the reference ``tests/test_dsta.py`` checks ``dsta.models.dsta.DSTA``
against, and the release's side of the speed comparison (``official_dsta_r50`` in ``benchmarks.profile
--side-by-side``: its forward timed interleaved with ours).

It follows the released file step by step: frames concatenated along channels, split and stacked frame-major, a
torchvision ResNet-50 (``preact``), tokens 0-14 grouped 5 x 3, the last two tokens bypassing spatial attention,
attention written out as timm's blocks of the release's time did (``q @ k^T``, softmax, ``@ v``), a 1x1 convolution
over (temporal, spatial), and the ``joint_ordor`` read-out. It shares no code with ``dsta.models.dsta``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

JOINT_ORDOR = [1, 2, 0, 0, 0, 3, 6, 4, 7, 5, 8, 9, 12, 10, 13, 11, 14]


class OfficialDSTA(nn.Module):
    """The released network from a state dict in the released names (the flow's weights are not used here).

    ``forward`` takes (B, 3T, H, W) frames concatenated along channels, as the release does, or (B, T, 3, H, W)
    clips, as this project's steps give them; it returns ``pred_jts`` (B, 17, 2) and ``sigma`` (B, 17, 2)."""

    num_frames = 3

    def __init__(self, sd: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.preact = torchvision.models.resnet50()
        self.preact.load_state_dict(
            {k[len("preact.") :]: v for k, v in sd.items() if k.startswith("preact.")}, strict=False
        )
        for name, value in sd.items():
            if not name.startswith(("preact.", "flow.")):
                self.register_buffer(name.replace(".", "__"), value.detach().clone())

    def sd(self, name: str) -> torch.Tensor:
        return getattr(self, name.replace(".", "__"))

    def _block(self, x: torch.Tensor, prefix: str, heads: int = 8) -> torch.Tensor:
        def ln(t, name):
            return F.layer_norm(
                t, t.shape[-1:], self.sd(f"{prefix}{name}.weight"), self.sd(f"{prefix}{name}.bias"), eps=1e-6
            )

        def linear(t, name):
            return F.linear(t, self.sd(f"{prefix}{name}.weight"), self.sd(f"{prefix}{name}.bias"))

        b, n, c = x.shape
        qkv = linear(ln(x, "norm1"), "attn.qkv").reshape(b, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * (c // heads) ** -0.5).softmax(-1)
        x = x + linear((attn @ v).transpose(1, 2).reshape(b, n, c), "attn.proj")
        return x + linear(F.gelu(linear(ln(x, "norm2"), "mlp.fc1")), "mlp.fc2")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dim() == 5:
            x = x.flatten(1, 2)
        batch = x.shape[0]
        num_frame, joints, dim = self.num_frames, 17, 32
        x = torch.cat(x.split(3, dim=1), 0)
        r = self.preact
        f = r.maxpool(r.relu(r.bn1(r.conv1(x))))
        f = r.layer4(r.layer3(r.layer2(r.layer1(f))))
        f = F.adaptive_avg_pool2d(f, 1).reshape(batch * num_frame, -1)
        y = f @ self.sd("fc_coord.linear.weight").t() / torch.norm(f, dim=1, keepdim=True) + self.sd(
            "fc_coord.linear.bias"
        )
        feat = torch.stack(y.reshape(batch * num_frame, joints, dim).split(batch, dim=0), dim=0)  # (f, b, p, c)

        s = feat[num_frame // 2]
        unused = s[:, -2:]
        s = s[:, :15].reshape(batch, 5, 3, dim) + self.sd("Spatial_pos_embed")
        s = s.reshape(batch * 5, 3, dim)
        for i in range(4):
            s = self._block(s, f"Spatial_blocks.{i}.")
        s = F.layer_norm(s, (dim,), self.sd("Spatial_norm.weight"), self.sd("Spatial_norm.bias"), eps=1e-6)
        s = torch.cat([s.reshape(batch, 15, dim), unused], dim=1)

        t = feat.permute(1, 2, 0, 3).reshape(batch * joints, num_frame, dim) + self.sd("Temporal_pos_embed")
        for i in range(4):
            t = self._block(t, f"blocks.{i}.")
        t = F.layer_norm(t, (dim,), self.sd("Temporal_norm.weight"), self.sd("Temporal_norm.bias"), eps=1e-6)
        t = t.reshape(batch, joints, num_frame, dim)[:, :, num_frame // 2]

        agg = F.conv2d(
            torch.stack((t, s), dim=1), self.sd("weighted_mean.weight"), self.sd("weighted_mean.bias")
        ).squeeze(1)
        agg = agg[:, JOINT_ORDOR]

        def head(name):
            h = F.layer_norm(agg, (dim,), self.sd(f"{name}.0.weight"), self.sd(f"{name}.0.bias"))
            return F.linear(h, self.sd(f"{name}.1.weight"), self.sd(f"{name}.1.bias"))

        return head("head_coord"), head("head_sigma").sigmoid()


@torch.no_grad()
def official_forward(sd: dict[str, torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x: (B, 9, H, W). Returns pred_jts (B, 17, 2) and sigma (B, 17, 2)."""
    return OfficialDSTA(sd).eval()(x)
