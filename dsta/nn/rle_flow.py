"""Residual log-likelihood estimation (RLE; Li et al., *Human Pose Regression with Residual Log-likelihood
Estimation*, ICCV 2021): the RealNVP flow and the loss. One implementation, shared by DSTA and the RLE baseline.

A regression head predicts, per joint, a location ``mu`` and a scale ``sigma``. The residual ``(mu - y) / sigma`` is
scored under a learned density ``P_phi`` (a RealNVP flow over a prior), and the loss is

    L = log(sigma) - log P_phi((mu - y) / sigma)                      (the flow term, per joint)
      + log(sigma / a) + |y - mu| / (sqrt(2) sigma)                   (the residual term, Laplace prior Q)

with ``a = 1 / sqrt(2 pi)``. The residual term lets the flow learn only the *difference* from a simple prior ``Q``
(Laplace, or Gaussian: ``log(sigma / a) + (y - mu)^2 / (2 sigma^2)``), which is what makes training stable.
Targets whose weight is 0 (unlabeled joints) add nothing. The sum is divided by the batch size.
"""

from __future__ import annotations

import math

import torch
from torch import nn

AMP = 1.0 / math.sqrt(2.0 * math.pi)


def _coupling_mlp(hidden: int, tanh: bool) -> nn.Sequential:
    layers = [nn.Linear(2, hidden), nn.LeakyReLU(), nn.Linear(hidden, hidden), nn.LeakyReLU(), nn.Linear(hidden, 2)]
    return nn.Sequential(*layers, *([nn.Tanh()] if tanh else []))


class RealNVP(nn.Module):
    """A 2-D RealNVP flow: ``num_layers`` affine couplings with alternating masks over a unit Gaussian prior.

    Args:
        num_layers: coupling layers (6 in RLE and DSTA).
        hidden: width of the scale (``s``, tanh-bounded) and translation (``t``) MLPs (64).
        prior_mean: mean of the isotropic unit-variance Gaussian prior: 0 in RLE; the released DSTA code uses 0.5.
    """

    def __init__(self, num_layers: int = 6, hidden: int = 64, prior_mean: float = 0.0) -> None:
        super().__init__()
        if num_layers < 1 or num_layers % 2:
            raise ValueError(f"num_layers must be a positive even number, got {num_layers}")
        self.register_buffer("mask", torch.tensor([[0.0, 1.0], [1.0, 0.0]] * (num_layers // 2)))
        self.t = nn.ModuleList([_coupling_mlp(hidden, tanh=False) for _ in range(num_layers)])
        self.s = nn.ModuleList([_coupling_mlp(hidden, tanh=True) for _ in range(num_layers)])
        # not part of the state dict: the official checkpoints do not carry it
        self.register_buffer("prior_mean", torch.full((2,), float(prior_mean)), persistent=False)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight, gain=0.01)

    def inverse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Map samples ``x`` (N, 2) to the prior space; returns ``z`` and ``log |det dz/dx|``."""
        log_det = x.new_zeros(x.shape[0])
        z = x
        for i in reversed(range(len(self.t))):
            keep = self.mask[i]
            z_keep = keep * z
            s = self.s[i](z_keep) * (1 - keep)
            t = self.t[i](z_keep) * (1 - keep)
            z = (1 - keep) * (z - t) * torch.exp(-s) + z_keep
            log_det = log_det - s.sum(dim=1)
        return z, log_det

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log P_phi(x) for x of shape (N, 2)."""
        z, log_det = self.inverse(x)
        log_prior = -0.5 * ((z - self.prior_mean) ** 2).sum(dim=1) - math.log(2 * math.pi)
        return log_prior + log_det


def rle_loss(
    coords: torch.Tensor,
    sigma: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor,
    flow: RealNVP,
    residual: bool = True,
    prior: str = "laplace",
) -> torch.Tensor:
    """The RLE loss for predicted ``coords`` and ``sigma`` (B, J, 2) against ``target`` (B, J, 2).

    Args:
        weight: (B, J, 2) per-joint weights; 0 masks a joint out.
        flow: the learned density (it lives in the model, so its parameters are trained and checkpointed with it).
        residual: add the residual term under ``prior``.
        prior: ``"laplace"`` (RLE's default) or ``"gaussian"``.
    """
    if prior not in ("laplace", "gaussian"):
        raise ValueError(f"prior must be 'laplace' or 'gaussian', got {prior!r}")
    b, j, _ = coords.shape
    bar_mu = (coords - target) / sigma
    log_phi = flow.log_prob(bar_mu.reshape(-1, 2)).reshape(b, j, 1)
    loss = (torch.log(sigma) - log_phi) * weight[:, :, :1]
    if residual:
        if prior == "laplace":
            log_q = torch.log(sigma / AMP) + (target - coords).abs() / (math.sqrt(2) * sigma + 1e-9)
        else:
            log_q = torch.log(sigma / AMP) + (target - coords) ** 2 / (2 * sigma**2 + 1e-9)
        loss = loss + log_q * weight
    return loss.sum() / b
