"""An independent, functional re-statement of the released DCPose forward (Pose-Group/DCPose ``DcPose_RSN``,
``posetimation/zoo/DcPose/dcpose_rsn.py`` with ``posetimation/layers/RSN_model.py``), written against the released
parameter names, to test that ``baselines.dcpose.DCPose`` on converted weights computes the same function.

It follows the released forward step by step: the input is ``cat(current, previous, next)`` along channels, the
per-frame network runs on the three frames stacked along the batch, the frame weights come from ``margin``, the PRF
and PTM inputs are built joint by joint, and the five modulated deformable convolutions are computed here directly,
by bilinear sampling with the release's CUDA kernel's indexing (``thirdparty/deform_conv/src/
deform_conv_cuda_kernel.cu``, ``modulated_deformable_im2col_gpu_kernel``), not by ``torchvision.ops``.
The per-frame HRNet trunk is the one piece taken from the project (``dsta.nn.backbones.create_hrnet_pose``, loaded from
the released ``rough_pose_estimation_net.*`` keys, whose names are timm's): its equality to the official pose HRNet
is checked key by key and in parameter count elsewhere (``tests/test_baselines.py``)."""

import torch
import torch.nn.functional as F

from dsta.nn.backbones import create_hrnet_pose

BN_EPS = 1e-5


def _bilinear_zero_outside(img: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``img`` (B, C, H, W) sampled at real positions ``y``, ``x`` (B, C, Ho, Wo), as ``dmcn_im2col_bilinear``:
    a point with ``y <= -1``, ``y >= H``, ``x <= -1`` or ``x >= W`` is 0; otherwise the four neighbours, each one
    outside the image counting 0."""
    h, w = img.shape[-2:]
    y0, x0 = torch.floor(y), torch.floor(x)
    ly, lx = y - y0, x - x0
    flat = img.flatten(2)
    out = torch.zeros_like(y)
    for dy, wy in ((0, 1 - ly), (1, ly)):
        for dx, wx in ((0, 1 - lx), (1, lx)):
            yy, xx = y0 + dy, x0 + dx
            valid = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            idx = (yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1)).long()
            v = flat.gather(2, idx.flatten(2)).view_as(y)
            out = out + wy * wx * v * valid
    inside = (y > -1) & (x > -1) & (y < h) & (x < w)
    return out * inside


def modulated_deform_conv(
    x: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    dilation: int,
    groups: int,
) -> torch.Tensor:
    """The release's ``ModulatedDeformConv`` (stride 1, padding = dilation, ``deformable_groups=groups``).

    For output pixel (h, w), kernel point k = (i, j) (row-major, k = i * kw + j) and deformable group g (input
    channels ``g * C/G ... (g + 1) * C/G - 1``): the sample is taken at ``(h - pad + i * dil + dy, w - pad + j * dil
    + dx)`` with ``dy = offset[2 * (g * K + k)]``, ``dx = offset[2 * (g * K + k) + 1]``, multiplied by the raw
    ``mask[g * K + k]``; the samples are then convolved with ``weight`` as an ordinary convolution would."""
    b, c, h, w = x.shape
    cout, _, kh, kw = weight.shape
    k = kh * kw
    ho, wo = offset.shape[-2:]
    pad = dilation
    per_group = c // groups
    offset = offset.view(b, groups, k, 2, ho, wo)
    mask = mask.view(b, groups, k, ho, wo)
    base_y = torch.arange(ho, dtype=x.dtype).view(ho, 1) - pad
    base_x = torch.arange(wo, dtype=x.dtype).view(1, wo) - pad
    cols = []
    for i in range(kh):
        for j in range(kw):
            kk = i * kw + j
            # per group -> per input channel
            dy = offset[:, :, kk, 0].repeat_interleave(per_group, dim=1)
            dx = offset[:, :, kk, 1].repeat_interleave(per_group, dim=1)
            m = mask[:, :, kk].repeat_interleave(per_group, dim=1)
            sample = _bilinear_zero_outside(x, base_y + i * dilation + dy, base_x + j * dilation + dx)
            cols.append(sample * m)
    col = torch.stack(cols, dim=2)  # (B, C, K, Ho, Wo)
    out = torch.einsum("bckhw,ock->bohw", col, weight.reshape(cout, c, k))
    return out if bias is None else out + bias.view(1, -1, 1, 1)


def _conv_bn_relu(x, sd, prefix, padding, relu=True):
    x = F.conv2d(x, sd[f"{prefix}.conv.weight"], sd[f"{prefix}.conv.bias"], padding=padding)
    x = F.batch_norm(
        x,
        sd[f"{prefix}.bn.running_mean"],
        sd[f"{prefix}.bn.running_var"],
        sd[f"{prefix}.bn.weight"],
        sd[f"{prefix}.bn.bias"],
        training=False,
        eps=BN_EPS,
    )
    return F.relu(x) if relu else x


def _rsb(x, sd, p):
    """``RSB_BLOCK.forward``."""
    out = _conv_bn_relu(x, sd, f"{p}.conv_bn_relu1", 0)
    branch = sd[f"{p}.conv_bn_relu2_1_1.conv.weight"].shape[0]
    spx = torch.split(out, branch, 1)

    def c(name, t):
        return _conv_bn_relu(t, sd, f"{p}.conv_bn_relu2_{name}", 1)

    o11 = c("1_1", spx[0])
    o21 = c("2_1", spx[1] + o11)
    o22 = c("2_2", o21)
    o31 = c("3_1", spx[2] + o21)
    o32 = c("3_2", o31 + o22)
    o33 = c("3_3", o32)
    o41 = c("4_1", spx[3] + o31)
    o42 = c("4_2", o41 + o32)
    o43 = c("4_3", o42 + o33)
    o44 = c("4_4", o43)
    out = _conv_bn_relu(torch.cat((o11, o22, o33, o44), 1), sd, f"{p}.conv_bn_relu3", 0, relu=False)
    if f"{p}.downsample.conv.weight" in sd:
        x = _conv_bn_relu(x, sd, f"{p}.downsample", 0, relu=False)
    return F.relu(out + x)


def _chain(x, sd, name):
    """``CHAIN_RSB_BLOCKS``: ``name.layers.0``, ``name.layers.1``, ..."""
    n = 0
    while f"{name}.layers.{n}.conv_bn_relu1.conv.weight" in sd:
        x = _rsb(x, sd, f"{name}.layers.{n}")
        n += 1
    return x


@torch.no_grad()
def official_forward(sd: dict, x: torch.Tensor, margin: torch.Tensor, dilations=(3, 6, 9, 12, 15)) -> torch.Tensor:
    """x: (B, 9, H, W) = cat(current, previous, next); margin: (B, 2) = (c - p, n - c). Returns the aggregated
    heatmaps (B, 17, H/4, W/4), the output of the release with ``FREEZE_HRNET_WEIGHTS: true``."""
    hrnet = create_hrnet_pose("hrnet_w48")
    prefix = "rough_pose_estimation_net."
    hrnet.load_state_dict(
        {
            k[len(prefix) :]: v
            for k, v in sd.items()
            if k.startswith(prefix) and not k.startswith(prefix + "final_layer.")
        }
    )
    hrnet.eval()
    rough = F.conv2d(
        hrnet(torch.cat(x.split(3, dim=1), 0))[0], sd[prefix + "final_layer.weight"], sd[prefix + "final_layer.bias"]
    )
    cur, prev, nxt = rough.split(x.shape[0], dim=0)
    joints = cur.shape[1]

    diff_a, diff_b = cur - prev, cur - nxt
    m = margin.float() / margin.sum(dim=1, keepdim=True).float()
    prev_w, next_w = m[:, 1].view(-1, 1, 1, 1), m[:, 0].view(-1, 1, 1, 1)
    dif = []
    for j in range(joints):
        a, b_ = diff_a[:, j : j + 1], diff_b[:, j : j + 1]
        dif += [a, a * prev_w, b_, b_ * next_w]
    dif = _chain(torch.cat(dif, 1), sd, "diff_temporal_fuse")
    sup = []
    for j in range(joints):
        sup += [cur[:, j : j + 1], prev[:, j : j + 1] * prev_w, nxt[:, j : j + 1] * next_w]
    sup = _chain(torch.cat(sup, 1), sd, "support_temporal_fuse")
    comb = _chain(torch.cat([dif, sup], 1), sd, "offset_mask_combine_conv")

    out = 0
    for d, dil in enumerate(dilations):
        offsets = F.conv2d(comb, sd[f"offsets_list.{d}.0.weight"], padding=dil, dilation=dil)
        masks = F.conv2d(comb, sd[f"masks_list.{d}.0.weight"], padding=dil, dilation=dil)
        warped = modulated_deform_conv(
            sup,
            offsets,
            masks,
            sd[f"modulated_deform_conv_list.{d}.deform_conv.weight"],
            sd[f"modulated_deform_conv_list.{d}.deform_conv.bias"],
            dil,
            joints,
        )
        out = out + (1 / len(dilations)) * warped  # the release's "weighted_sum"
    return out
