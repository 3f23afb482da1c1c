import math

import pytest
import torch

from dsta.nn.rle_flow import RealNVP, rle_loss


def _identity_flow(prior_mean=0.0):
    flow = RealNVP(prior_mean=prior_mean)
    for p in flow.parameters():
        torch.nn.init.zeros_(p)  # s = tanh(0) = 0, t = 0: every coupling is the identity
    return flow


def test_hand_computed_value():
    # one joint: mu = (0.5, 0.5), y = (0.4, 0.7), sigma = (0.1, 0.2) -> residual / sigma = (1, -1)
    # flow = identity over N(0, I):  log phi = -(1 + 1) / 2 - log(2 pi) = -2.837877
    # flow term:      (log 0.1 + 2.837877) + (log 0.2 + 2.837877)              = 0.535292 + 1.228439 = 1.763731
    # Laplace term:   log(0.1 sqrt(2 pi)) + 0.1 / (sqrt2 0.1) = -1.383647 + 0.707107 = -0.676540
    #                 log(0.2 sqrt(2 pi)) + 0.2 / (sqrt2 0.2) = -0.690499 + 0.707107 =  0.016608
    # total = 1.763731 - 0.676540 + 0.016608 = 1.103799
    mu = torch.tensor([[[0.5, 0.5]]])
    y = torch.tensor([[[0.4, 0.7]]])
    sigma = torch.tensor([[[0.1, 0.2]]])
    loss = rle_loss(mu, sigma, y, torch.ones(1, 1, 2), _identity_flow())
    assert loss.item() == pytest.approx(1.103799, abs=1e-5)


def test_gaussian_prior_and_no_residual():
    mu, y, sigma = torch.tensor([[[0.5, 0.5]]]), torch.tensor([[[0.4, 0.7]]]), torch.tensor([[[0.1, 0.2]]])
    flow_only = rle_loss(mu, sigma, y, torch.ones(1, 1, 2), _identity_flow(), residual=False)
    assert flow_only.item() == pytest.approx(1.763731, abs=1e-5)
    # Gaussian Q: log(sigma sqrt(2 pi)) + r^2 / (2 sigma^2) = (-1.383647 + 0.5) + (-0.690499 + 0.5)
    gauss = rle_loss(mu, sigma, y, torch.ones(1, 1, 2), _identity_flow(), prior="gaussian")
    assert gauss.item() == pytest.approx(1.763731 - 0.883647 - 0.190499, abs=1e-5)


def test_prior_mean_shifts_the_density():
    x = torch.tensor([[0.5, 0.5]])
    assert _identity_flow(0.5).log_prob(x).item() == pytest.approx(-math.log(2 * math.pi))


def test_zero_weight_masks_joints_and_batch_average():
    mu = torch.rand(4, 17, 2)
    y = torch.rand(4, 17, 2)
    sigma = torch.rand(4, 17, 2) * 0.5 + 0.1
    w = torch.zeros(4, 17, 2)
    flow = RealNVP()
    assert rle_loss(mu, sigma, y, w, flow).item() == 0.0
    w[:, 0] = 1
    one = rle_loss(mu[:, :1], sigma[:, :1], y[:, :1], w[:, :1], flow)
    assert rle_loss(mu, sigma, y, w, flow).item() == pytest.approx(one.item(), rel=1e-6)


def test_flow_is_invertible_and_gradients_flow():
    flow = RealNVP()
    x = torch.randn(8, 2, requires_grad=True)
    lp = flow.log_prob(x)
    lp.sum().backward()
    assert x.grad is not None and torch.isfinite(lp).all()
    with pytest.raises(ValueError):
        RealNVP(num_layers=3)
