"""What dsta-bench reads of this package (the entry point ``tavg = "dsta_tavg.plugin:PLUGIN"``): the model's name,
kind, factory, typed config, report label, Hydra configs and BibTeX entry. Torch-free: ``python -m dsta.config`` and
the report stage import it without building a network; the factory (``dsta_tavg.model``) is imported only when one
is built."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from dsta.core.configs import ModelConfig
from dsta.core.registry import ModelPlugin


@dataclass(frozen=True)
class TemporalAverageConfig(ModelConfig):
    """The constructor's arguments (``model.kwargs`` of a config) with their defaults. ``ModelConfig.check`` runs when
    ``python -m dsta.config`` composes params.yaml (a known backbone, T odd and allowed, ``num_joints`` positive), so a
    bad value fails there, naming its key; override ``check`` (calling ``super().check``) to add your own."""

    num_frames: int = 3
    num_joints: int = 17

    allowed_frames: ClassVar[tuple[int, ...] | None] = None  # any odd T


PLUGIN = ModelPlugin(
    name="tavg",
    kind="regression",
    factory="dsta_tavg.model:tavg",
    config=TemporalAverageConfig,
    label="TempAvg",
    configs=str(Path(__file__).parent / "configs"),
    bibtex="""@misc{dsta_tavg,
  title = {A Temporal-Average Pose Regressor: the Worked Example of a dsta-bench Model Plugin},
  author = {{dsta-bench}},
  year = {2026},
  note = {examples/dsta\\_tavg}
}""",
)
