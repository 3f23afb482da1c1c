"""What to profile: a model config of ``configs/model`` (or a registered name) with overrides, an experiment, or
``official_dsta_r50``: the released DSTA forward (``benchmarks.profiling.official_dsta``), the release's side of a
speed comparison with ours."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from torch import nn

from benchmarks.profiling.official_dsta import OfficialDSTA
from dsta.config import load_experiment
from dsta.convert_official import OFFICIAL_KWARGS, to_official_names
from dsta.core.errors import DataError
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


@dataclass
class ReleaseSpec(ModelSpec):
    """The released DSTA forward on the weights of our model built with the release's arguments."""

    def build(self) -> nn.Module:
        ours = create_model(self.name, **{**self.kwargs, "pretrained": None})
        return OfficialDSTA(to_official_names(ours.state_dict())).eval()


#: entries that time a release's own forward, by name
RELEASE_FORWARDS = {
    "official_dsta_r50": "the released DSTA-R50 T=3 forward, restated in benchmarks/profiling/official_dsta.py"
}


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
    if model in RELEASE_FORWARDS:
        return ReleaseSpec("dsta", {**OFFICIAL_KWARGS, **overrides}, input_size, RELEASE_FORWARDS[model])
    configs = model_configs()
    if model in configs:
        cfg = configs[model]
        return ModelSpec(cfg["name"], {**cfg["kwargs"], **overrides}, input_size, f"configs/model/{model}.yaml")
    return ModelSpec(model, overrides, input_size, f"registered model {model!r}")


def spec_from_experiment(params: Path, experiment: str) -> ModelSpec:
    exp = load_experiment(params, experiment)
    w, h = exp["data"]["input_size"]
    return ModelSpec(
        exp["model"]["name"], dict(exp["model"]["kwargs"]), (int(w), int(h)), f"{params}:experiments.{experiment}"
    )


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
        return {
            key: spec_from_model(
                m["config"],
                parse_overrides(str(m.get("overrides") or "").split()),
                (int(sec["width"]), int(sec["height"])),
            )
            for key, m in sec["models"].items()
        }
    raise DataError(params, section, "side by side times the models of 'experiments' or 'paper_profiles'")
