"""What to profile: a model config of ``configs/model`` (or a registered name) with overrides, or an experiment."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from torch import nn

from dsta.config import load_experiment
from dsta.errors import DataError
from dsta.models import create_model

REPO = Path(__file__).resolve().parents[2]
MODEL_CONFIGS = REPO / "configs" / "model"


@dataclass
class ModelSpec:
    name: str  # registered model
    kwargs: dict
    input_size: tuple[int, int]  # width, height
    source: str  # where the spec came from

    def build(self) -> nn.Module:
        return create_model(self.name, **{**self.kwargs, "pretrained": None}).eval()


def model_configs() -> dict[str, dict]:
    """Every model config in ``configs/model`` by file stem."""
    return {p.stem: yaml.safe_load(p.read_text()) for p in sorted(MODEL_CONFIGS.glob("*.yaml"))}


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise DataError(None, pair, "overrides are key=value pairs (constructor arguments)")
        out[key] = yaml.safe_load(value)
    return out


def spec_from_model(model: str, overrides: dict, input_size: tuple[int, int]) -> ModelSpec:
    configs = model_configs()
    if model in configs:
        cfg = configs[model]
        return ModelSpec(cfg["name"], {**cfg["kwargs"], **overrides}, input_size, f"configs/model/{model}.yaml")
    return ModelSpec(model, overrides, input_size, f"registered model {model!r}")


def spec_from_experiment(params: Path, experiment: str) -> ModelSpec:
    exp = load_experiment(params, experiment)
    w, h = exp["data"]["input_size"]
    return ModelSpec(exp["model"]["name"], dict(exp["model"]["kwargs"]), (int(w), int(h)),
                     f"{params}:experiments.{experiment}")


def section_specs(params: Path, section: str) -> dict[str, ModelSpec]:
    """Every model of a params.yaml section, by key: ``experiments`` (each experiment's model at its input size) or
    ``paper_profiles`` (each ``models`` entry: its model config with its overrides, at the section's width x height)."""
    doc = yaml.safe_load(Path(params).read_text()) or {}
    if section == "experiments":
        return {key: spec_from_experiment(params, key) for key in doc.get("experiments") or {}}
    if section == "paper_profiles":
        sec = doc.get("paper_profiles") or {}
        for key in ("width", "height", "models"):
            if key not in sec:
                raise DataError(params, f"paper_profiles.{key}", "missing")
        return {key: spec_from_model(m["config"], parse_overrides(str(m.get("overrides") or "").split()),
                                     (int(sec["width"]), int(sec["height"])))
                for key, m in sec["models"].items()}
    raise DataError(params, section, "side by side times the models of 'experiments' or 'paper_profiles'")
