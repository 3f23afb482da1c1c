"""Loss and decoding for the two kinds of model output, kept beside the models rather than in them.

* regression (DSTA, RLE): the model returns ``PoseOutput(coords, sigma, score)``; the loss is RLE (``dsta.nn.rle_flow``)
  with the model's own flow; decoding scales the normalized coordinates to crop pixels.
* heatmap (single-frame heatmap, DCPose): the model returns (B, J, h, w) heatmaps; the loss is the weighted MSE of
  SimpleBaseline/DCPose; decoding is mmpose's MSRA codec (argmax with the quarter-offset sub-pixel refinement).

Both decode to (B, J, 2) crop pixels and (B, J) scores, so prediction and evaluation are shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
import torch.nn.functional as F

from dsta.core import keypoints as kp
from dsta.nn.rle_flow import rle_loss


@dataclass(frozen=True)
class RegressionObjective:
    input_size: tuple[int, int]  # width, height
    prior: str = "laplace"
    residual: bool = True

    def loss(self, model, output, batch: dict) -> torch.Tensor:
        model = getattr(model, "module", model)
        return rle_loss(
            output.coords.float(),
            output.sigma.float(),
            batch["coords"],
            batch["coord_weight"],
            model.flow,
            residual=self.residual,
            prior=self.prior,
        )

    def decode(self, output) -> tuple[np.ndarray, np.ndarray]:
        scale = np.array(self.input_size, dtype=np.float64)
        return output.coords.detach().double().cpu().numpy() * scale, output.score.detach().double().cpu().numpy()


@dataclass(frozen=True)
class HeatmapObjective:
    input_size: tuple[int, int]
    heatmap_size: tuple[int, int]
    sigma: float = 2.0

    def loss(self, model, output: torch.Tensor, batch: dict) -> torch.Tensor:
        """Mean over joints of the per-pixel MSE, each joint weighted (0 for unlabeled joints), x 0.5 as in
        SimpleBaseline's JointsMSELoss."""
        w = batch["heatmap_weight"][:, :, None, None]
        return 0.5 * (F.mse_loss(output.float(), batch["heatmap"], reduction="none") * w).mean()

    @cached_property
    def codec(self):
        from dsta.data.transforms import heatmap_codec

        return heatmap_codec(self.input_size, self.heatmap_size, self.sigma)

    def decode(self, output: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        heatmaps = output.detach().float().cpu().numpy()
        coords, scores = zip(*(self.codec.decode(h) for h in heatmaps))
        return np.concatenate(coords).astype(np.float64), np.concatenate(scores).astype(np.float64)


def objective_for(target: str, input_size, model_cfg: dict):
    """The objective a model config (``model`` section: ``loss`` for regression, ``heatmap`` for heatmap models)
    asks for."""
    args = {}
    if "heatmap" in model_cfg:
        args.update(heatmap_size=model_cfg["heatmap"]["size"], heatmap_sigma=model_cfg["heatmap"]["sigma"])
    if "loss" in model_cfg:
        args.update(prior=model_cfg["loss"].get("prior", "laplace"), residual=model_cfg["loss"].get("residual", True))
    return make_objective(target, input_size, **args)


def make_objective(
    target: str,
    input_size,
    heatmap_size=None,
    heatmap_sigma: float = 2.0,
    prior: str = "laplace",
    residual: bool = True,
):
    if target == "regression":
        return RegressionObjective(tuple(input_size), prior=prior, residual=residual)
    if target == "heatmap":
        return HeatmapObjective(tuple(input_size), tuple(heatmap_size), heatmap_sigma)
    raise ValueError(f"unknown target {target!r}")


def flip_back(coords: np.ndarray, scores: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Predictions on a horizontally flipped crop -> the original crop: mirror x and swap left/right joints."""
    idx = list(kp.FLIP_INDICES)
    out = coords[:, idx].copy()
    out[..., 0] = width - 1 - out[..., 0]
    return out, scores[:, idx]


def pck(pred: np.ndarray, target: np.ndarray, weight: np.ndarray, input_size, thr: float = 0.05) -> float:
    """Fraction of labeled joints predicted within ``thr`` of the crop size (normalized coordinates), as the
    official DSTA training log reports."""
    norm = np.asarray(input_size, dtype=np.float64)
    d = np.linalg.norm(pred / norm - target, axis=-1)
    mask = weight[..., 0] > 0
    return float((d[mask] <= thr).mean()) if mask.any() else float("nan")
