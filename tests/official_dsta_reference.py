"""An independent, functional re-statement of the released DSTA forward (zgspose/DSTA ``DSTA_STD_ResNet50``),
written against the released parameter names, to test that ``dsta.models.dsta.DSTA`` computes the same function.

It follows the released file step by step: frames concatenated along channels, split and stacked frame-major,
tokens 0-14 grouped 5 x 3, the last two tokens bypassing spatial attention, and the ``joint_ordor`` read-out."""
import torch
import torch.nn.functional as F
import torchvision

JOINT_ORDOR = [1, 2, 0, 0, 0, 3, 6, 4, 7, 5, 8, 9, 12, 10, 13, 11, 14]


def _block(x, sd, prefix, heads=8):
    def ln(t, name):
        return F.layer_norm(t, t.shape[-1:], sd[f"{prefix}{name}.weight"], sd[f"{prefix}{name}.bias"], eps=1e-6)

    b, n, c = x.shape
    h = ln(x, "norm1")
    qkv = F.linear(h, sd[f"{prefix}attn.qkv.weight"], sd[f"{prefix}attn.qkv.bias"])
    qkv = qkv.reshape(b, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    attn = ((q @ k.transpose(-2, -1)) * (c // heads) ** -0.5).softmax(-1)
    h = (attn @ v).transpose(1, 2).reshape(b, n, c)
    x = x + F.linear(h, sd[f"{prefix}attn.proj.weight"], sd[f"{prefix}attn.proj.bias"])
    h = ln(x, "norm2")
    h = F.gelu(F.linear(h, sd[f"{prefix}mlp.fc1.weight"], sd[f"{prefix}mlp.fc1.bias"]))
    return x + F.linear(h, sd[f"{prefix}mlp.fc2.weight"], sd[f"{prefix}mlp.fc2.bias"])


@torch.no_grad()
def official_forward(sd: dict, x: torch.Tensor):
    """x: (B, 9, H, W), B > 1. Returns pred_jts (B, 17, 2) and sigma (B, 17, 2)."""
    batch = x.shape[0]
    num_frame, joints, dim = 3, 17, 32
    x = torch.cat(x.split(3, dim=1), 0)
    resnet = torchvision.models.resnet50()
    resnet.load_state_dict({k[len("preact."):]: v for k, v in sd.items() if k.startswith("preact.")}, strict=False)
    resnet.eval()
    f = resnet.maxpool(resnet.relu(resnet.bn1(resnet.conv1(x))))
    f = resnet.layer4(resnet.layer3(resnet.layer2(resnet.layer1(f))))
    f = F.adaptive_avg_pool2d(f, 1).reshape(batch * num_frame, -1)
    y = f @ sd["fc_coord.linear.weight"].t() / torch.norm(f, dim=1, keepdim=True) + sd["fc_coord.linear.bias"]
    feat = torch.stack(y.reshape(batch * num_frame, joints, dim).split(batch, dim=0), dim=0)  # (f, b, p, c)

    s = feat[num_frame // 2]
    unused = s[:, -2:]
    s = s[:, :15].reshape(batch, 5, 3, dim) + sd["Spatial_pos_embed"]
    s = s.reshape(batch * 5, 3, dim)
    for i in range(4):
        s = _block(s, sd, f"Spatial_blocks.{i}.")
    s = F.layer_norm(s, (dim,), sd["Spatial_norm.weight"], sd["Spatial_norm.bias"], eps=1e-6)
    s = torch.cat([s.reshape(batch, 15, dim), unused], dim=1)

    t = feat.permute(1, 2, 0, 3).reshape(batch * joints, num_frame, dim) + sd["Temporal_pos_embed"]
    for i in range(4):
        t = _block(t, sd, f"blocks.{i}.")
    t = F.layer_norm(t, (dim,), sd["Temporal_norm.weight"], sd["Temporal_norm.bias"], eps=1e-6)
    t = t.reshape(batch, joints, num_frame, dim)[:, :, num_frame // 2]

    agg = F.conv2d(torch.stack((t, s), dim=1), sd["weighted_mean.weight"], sd["weighted_mean.bias"]).squeeze(1)
    agg = agg[:, JOINT_ORDOR]

    def head(name):
        h = F.layer_norm(agg, (dim,), sd[f"{name}.0.weight"], sd[f"{name}.0.bias"])
        return F.linear(h, sd[f"{name}.1.weight"], sd[f"{name}.1.bias"])

    return head("head_coord"), head("head_sigma").sigmoid()
