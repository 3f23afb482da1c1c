"""Checks of values that several layers take (the data pipeline and the models both take T), each raising
``DataError`` with the key at fault; and the typed config of every model (its constructor's arguments, defaults and
checks), which ``dsta.config`` applies when composing params.yaml."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar

import numpy as np

from dsta.core.errors import DataError
from dsta.core.keypoints import JOINT_GROUPINGS
from dsta.core.registry import load_error, plugin, plugins


def check_num_frames(num_frames: int, field: str = "num_frames") -> int:
    """T must be a positive odd integer (the key frame sits in the middle)."""
    if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)):
        raise DataError(None, field, f"must be an integer, got {num_frames!r}")
    if num_frames <= 0 or num_frames % 2 == 0:
        raise DataError(None, field, f"must be a positive odd number (1, 3, 5, ...), got {num_frames}")
    return int(num_frames)


# -- typed model configs ----------------------------------------------------------------------------------------------
# One dataclass per registered model: its constructor's arguments, their defaults and their checks, torch-free, so
# ``python -m dsta.config`` refuses a bad model config when composing params.yaml (naming the key the user wrote),
# long before a stage builds the network. tests/test_config.py checks each against its model's constructor.

BACKBONES = ("regnetx_002", "resnet10t", "resnet18", "resnet34", "resnet50", "resnet101", "hrnet_w32", "hrnet_w48")
BACKBONE_STRIDE = 32  # every backbone's last feature map is H/32 x W/32
DEFAULT_INPUT_SIZE = (192, 256)  # [width, height]: the papers' 256x192 crops, wherever a config or command gives none
HEATMAP_STRIDE = 4  # heatmap models predict at a quarter of the input


def _check_positive_int(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise DataError(None, field, f"must be a positive integer, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class ModelConfig:
    """What every model takes. ``check(where)`` raises DataError naming ``where.KEY``."""

    backbone: str
    num_frames: int = 1
    pretrained: str | None = None

    allowed_frames: ClassVar[tuple[int, ...] | None] = (1,)  # None: any odd T

    def check(self, where: str) -> None:
        if self.backbone not in BACKBONES:
            raise DataError(
                None, f"{where}.backbone", f"unknown backbone {self.backbone!r}; known: {', '.join(BACKBONES)}"
            )
        t = check_num_frames(self.num_frames, f"{where}.num_frames")
        if self.allowed_frames is not None and t not in self.allowed_frames:
            raise DataError(None, f"{where}.num_frames", f"this model takes T in {list(self.allowed_frames)}, got {t}")
        if hasattr(self, "num_joints"):
            _check_positive_int(self.num_joints, f"{where}.num_joints")
        if self.pretrained is not None and not isinstance(self.pretrained, str):
            raise DataError(None, f"{where}.pretrained", f"must be null, 'imagenet' or a path, got {self.pretrained!r}")


# How DSTA's new layers (all but the backbone) start: ``default`` (this project's: PyTorch's init, the coordinate bias
# at the crop centre, the RLE flow at xavier(0.01)) or ``official`` (zgspose/DSTA's ``init_weights``;
# DSTA.init_official)
DSTA_INITS = ("default", "official")


@dataclass(frozen=True)
class DSTAConfig(ModelConfig):
    num_frames: int = 3
    joint_groups: str = "posetrack"
    embed_dim: int = 32
    depth: int = 4
    num_heads: int = 8
    mlp_ratio: float = 2.0
    drop_path_rate: float = 0.1
    official_readout: bool = False
    flow_prior_mean: float = 0.5
    init: str = "default"

    allowed_frames: ClassVar[tuple[int, ...] | None] = None

    def check(self, where: str) -> None:
        super().check(where)
        if self.joint_groups not in JOINT_GROUPINGS:
            raise DataError(
                None,
                f"{where}.joint_groups",
                f"unknown joint grouping {self.joint_groups!r}; known: {sorted(JOINT_GROUPINGS)}",
            )
        for key in ("embed_dim", "depth", "num_heads"):
            _check_positive_int(getattr(self, key), f"{where}.{key}")
        if self.embed_dim % self.num_heads:
            raise DataError(
                None, f"{where}.embed_dim", f"must be a multiple of num_heads ({self.num_heads}), got {self.embed_dim}"
            )
        if not self.mlp_ratio > 0:
            raise DataError(None, f"{where}.mlp_ratio", f"must be > 0, got {self.mlp_ratio!r}")
        if not 0 <= self.drop_path_rate < 1:
            raise DataError(None, f"{where}.drop_path_rate", f"must be in [0, 1), got {self.drop_path_rate!r}")
        if self.init not in DSTA_INITS:
            raise DataError(None, f"{where}.init", f"must be one of {list(DSTA_INITS)}, got {self.init!r}")


@dataclass(frozen=True)
class RLEConfig(ModelConfig):
    num_joints: int = 17


@dataclass(frozen=True)
class HeatmapSingleConfig(ModelConfig):
    num_joints: int = 17
    deconv_channels: int = 256
    num_deconv: int = 3

    def check(self, where: str) -> None:
        super().check(where)
        _check_positive_int(self.deconv_channels, f"{where}.deconv_channels")
        _check_positive_int(self.num_deconv, f"{where}.num_deconv")


@dataclass(frozen=True)
class DCPoseConfig(ModelConfig):
    num_frames: int = 3
    num_joints: int = 17
    dilations: tuple[int, ...] = (3, 6, 9, 12, 15)
    prf_channels: int = 34
    prf_blocks: int = 2
    ptm_blocks: int = 1
    combine_channels: int = 64
    combine_blocks: int = 2
    deconv_channels: int = 256
    freeze_rough: bool = False

    allowed_frames: ClassVar[tuple[int, ...] | None] = (3,)

    def check(self, where: str) -> None:
        super().check(where)
        if not self.dilations:
            raise DataError(None, f"{where}.dilations", "must list at least one dilation")
        for i, d in enumerate(self.dilations):
            _check_positive_int(d, f"{where}.dilations[{i}]")
        for key in (
            "prf_channels",
            "prf_blocks",
            "ptm_blocks",
            "combine_channels",
            "combine_blocks",
            "deconv_channels",
        ):
            _check_positive_int(getattr(self, key), f"{where}.{key}")


# registered model name -> its typed config (tests/test_config.py: the same names as dsta.models.list_models())
MODEL_CONFIGS: dict[str, type[ModelConfig]] = {
    "dsta": DSTAConfig,
    "rle": RLEConfig,
    "heatmap_single": HeatmapSingleConfig,
    "dcpose": DCPoseConfig,
}


def model_config_class(name: str, where: str = "model") -> type[ModelConfig] | None:
    """The typed config of model ``name``: ours, or the one its plugin declares (``dsta.core.registry.ModelPlugin``);
    None for an unknown name. A plugin whose config is not a ``ModelConfig`` dataclass is one error naming it."""
    if name in MODEL_CONFIGS:
        return MODEL_CONFIGS[name]
    found = plugin(name)
    if found is None:
        return None
    cls = found.config
    if not (isinstance(cls, type) and issubclass(cls, ModelConfig)):
        raise DataError(
            None,
            f"{where}.name",
            f"plugin {name}: its config must be a dsta.core.configs.ModelConfig dataclass, got {cls!r}",
        )
    return cls


def num_frames_of(name: str, kwargs: dict[str, Any]) -> int:
    """T of model ``name`` built with ``kwargs``: the argument, else the default of its typed config (1 for a
    single-frame model). The one place a stage or the report learns a model's T."""
    if kwargs.get("num_frames") is not None:
        return int(kwargs["num_frames"])
    cls = model_config_class(name)
    if not cls:
        return 1
    # a field's default as declared (MISSING, which int() refuses, where the field has none)
    default: Any = next((f.default for f in fields(cls) if f.name == "num_frames"), 1)
    return int(default)


def check_model_kwargs(name: str, kwargs: object, where: str = "model.kwargs") -> ModelConfig:
    """The typed config of model ``name`` built from ``kwargs`` and checked; a DataError names ``where.KEY`` for an
    unknown, missing or bad argument."""
    cls = model_config_class(name, where.rsplit(".", 1)[0])
    if cls is None:
        error = load_error(name)
        if error:  # a plugin of that name failed to load: say why
            raise DataError(None, where.rsplit(".", 1)[0] + ".name", error)
        raise DataError(
            None,
            where.rsplit(".", 1)[0] + ".name",
            f"unknown model {name!r}; registered: {', '.join(sorted({*MODEL_CONFIGS, *plugins()}))}",
        )
    if not isinstance(kwargs, dict):
        raise DataError(None, where, f"expected a mapping of constructor arguments, got {kwargs!r}")
    known = {f.name: f for f in fields(cls)}
    for key in kwargs:
        if key not in known:
            raise DataError(None, f"{where}.{key}", f"{name} takes no argument {key!r}; it takes {', '.join(known)}")
    missing = [k for k, f in known.items() if f.default is MISSING and k not in kwargs]
    if missing:
        raise DataError(
            None,
            f"{where}.{missing[0]}",
            f"missing: model {name!r} needs {', '.join(missing)} (pass them, or start from a configs/model entry)",
        )
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    cfg = cls(**values)
    cfg.check(where)
    return cfg


def check_input_size(size: object, backbone: str | None, where: str = "data.input_size") -> tuple[int, int]:
    """``[width, height]``, each at least one backbone stride (32 px: the last feature map must not be empty); HRNet
    fuses its branches at every scale, so it needs both divisible by 32."""
    if not isinstance(size, (list, tuple)) or len(size) != 2:
        raise DataError(None, where, f"expected [width, height], got {size!r}")
    w, h = (_check_positive_int(v, f"{where}[{i}]") for i, v in enumerate(size))
    if min(w, h) < BACKBONE_STRIDE:
        raise DataError(
            None,
            where,
            f"{w}x{h} is smaller than the backbone stride ({BACKBONE_STRIDE} px): its last feature map would be empty",
        )
    if backbone and backbone.startswith("hrnet") and (w % BACKBONE_STRIDE or h % BACKBONE_STRIDE):
        raise DataError(None, where, f"{backbone} needs width and height divisible by {BACKBONE_STRIDE}, got {w}x{h}")
    return w, h


def check_heatmap_size(heatmap: object, input_size: tuple[int, int], where: str = "model.heatmap") -> None:
    """A heatmap model predicts at a quarter of its input, so ``heatmap.size`` must be ``input_size / 4``."""
    size = heatmap.get("size") if isinstance(heatmap, dict) else None
    want = [input_size[0] // HEATMAP_STRIDE, input_size[1] // HEATMAP_STRIDE]
    if size is None or list(size) != want or input_size[0] % HEATMAP_STRIDE or input_size[1] % HEATMAP_STRIDE:
        raise DataError(
            None,
            f"{where}.size",
            f"must be a quarter of the input {list(input_size)}: {want} "
            f"(input divisible by {HEATMAP_STRIDE}), got {size!r}",
        )


# -- inference modes ---------------------------------------------------------------------------------------------
INFERENCE_DTYPES = ("fp32", "fp16", "bf16")
INFERENCE_FLAGS = {"cl": "channels_last", "compile": "compile", "graphs": "cuda_graphs"}


def parse_inference_label(label: object, where: str) -> dict[str, object]:
    """An inference mode written as ``dsta.inference.InferenceOptions.label`` writes it, e.g. ``bf16+cl`` or
    ``fp16+cl+compile+graphs`` (dtype first, then any of ``cl``, ``compile``, ``graphs``), as the options' fields."""
    if not isinstance(label, str) or not label:
        raise DataError(None, where, f"expected a mode such as 'bf16+cl', got {label!r}")
    dtype, *flags = label.split("+")
    if dtype not in INFERENCE_DTYPES:
        raise DataError(None, where, f"{label!r}: the dtype comes first, one of {', '.join(INFERENCE_DTYPES)}")
    unknown = [f for f in flags if f not in INFERENCE_FLAGS]
    if unknown or len(set(flags)) != len(flags):
        raise DataError(None, where, f"{label!r}: after the dtype, each of {', '.join(INFERENCE_FLAGS)} at most once")
    return {"dtype": dtype, **{name: key in flags for key, name in INFERENCE_FLAGS.items()}}


# -- typed train and data sections ------------------------------------------------------------------------------------
# ``python -m dsta.config`` applies these to every experiment, so a bad value (a negative lr, ``epochs: two``, ``lr:
# 1e-3``, which YAML 1.1 reads as the *string* "1e-3"), an unknown or a missing train key fails when params.yaml is
# composed, naming the key as written, never after minutes of upstream work under ``dvc repro``; the trainer takes
# the same section as a ``TrainConfig``.


def _yaml_hint(value: object) -> str:
    """Why a number may have arrived as a string: YAML 1.1 (PyYAML) reads ``1e-3`` (no dot) as text."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return ""
        return f" (a string: YAML reads {value} without a dot as text; write it as {float(value)!r})"
    return ""


def check_number(
    value: object, field: str, low: float | None = None, high: float | None = None, low_open: bool = False
) -> float:
    """A real number (not a bool, not a string) within ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise DataError(None, field, f"must be a number, got {value!r}{_yaml_hint(value)}")
    if not np.isfinite(value):
        raise DataError(None, field, f"must be a finite number, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise DataError(None, field, f"must be {'>' if low_open else '>='} {low:g}, got {value!r}")
    if high is not None and value > high:
        raise DataError(None, field, f"must be <= {high:g}, got {value!r}")
    return float(value)


def check_int(value: object, field: str, low: int | None = None) -> int:
    """An integer (not a bool, not a float such as 3.0, not a string) of at least ``low``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise DataError(None, field, f"must be an integer, got {value!r}")
    if low is not None and value < low:
        raise DataError(None, field, f"must be an integer >= {low}, got {value!r}")
    return int(value)


# train key -> its check (field) ; the optional fine-tuning keys included
TRAIN_CHECKS: dict[str, Callable[[object, str], float]] = {
    "epochs": lambda v, f: check_int(v, f, 1),
    "batch_size": lambda v, f: check_int(v, f, 1),
    "lr": lambda v, f: check_number(v, f, 0, low_open=True),
    "weight_decay": lambda v, f: check_number(v, f, 0),
    "gamma": lambda v, f: check_number(v, f, 0, low_open=True),
    "grad_clip": lambda v, f: check_number(v, f, 0),
    "workers": lambda v, f: check_int(v, f, 0),
    "seed": lambda v, f: check_int(v, f, 0),
    "eval_every": lambda v, f: check_int(v, f, 1),
    "backbone_lr_mult": lambda v, f: check_number(v, f, 0),
    "freeze_backbone_epochs": lambda v, f: check_int(v, f, 0),
    "warmup_steps": lambda v, f: check_int(v, f, 0),
}


def check_train_section(train: object, where: str = "train") -> None:
    """Types and ranges of a ``train`` section's keys (see the table above); ``milestones`` increasing epochs."""
    if not isinstance(train, dict):
        raise DataError(None, where, f"expected a mapping, got {train!r}")
    for key, check in TRAIN_CHECKS.items():
        if key in train:
            check(train[key], f"{where}.{key}")
    if "lr_drop" in train:
        check_choice(train["lr_drop"], f"{where}.lr_drop", LR_DROPS)
    if "schedule" in train:
        check_choice(train["schedule"], f"{where}.schedule", SCHEDULES)
    check_schedule_keys(train, where)
    if "amp" in train and not isinstance(train["amp"], bool):
        raise DataError(None, f"{where}.amp", f"must be true or false, got {train['amp']!r}")
    if "milestones" in train:
        stones = train["milestones"]
        if not isinstance(stones, (list, tuple)):
            raise DataError(None, f"{where}.milestones", f"expected a list of epochs, got {stones!r}")
        for i, m in enumerate(stones):
            check_int(m, f"{where}.milestones[{i}]", 0)
        if list(stones) != sorted(stones):
            raise DataError(None, f"{where}.milestones", f"must be increasing, got {list(stones)}")


AUGMENT_PROBABILITIES = ("flip_prob", "rotate_prob", "half_body_prob")
# the keys that name a rule (the stages that read them say what each means): when the LR drops at a milestone
# (dsta.train), which half-body rule augments (dsta.data.transforms), which box an annotated person trains with
# (dsta.data.dataset)
LR_DROPS = ("at_milestone", "after_milestone")
SCHEDULES = ("multistep", "cosine")
MULTISTEP_ONLY = ("milestones", "gamma", "lr_drop")  # what only the multi-step schedule reads (dsta.train)


def check_schedule_keys(train: dict[str, Any], where: str = "train") -> None:
    """No key the section's ``schedule`` does not read: the multi-step keys under ``cosine``, a warm-up under the
    multi-step schedule (the default)."""
    if train.get("schedule") == "cosine":
        for key in MULTISTEP_ONLY:
            if key in train:
                raise DataError(None, f"{where}.{key}", "not read by schedule: cosine (remove it)")
    elif train.get("warmup_steps"):
        raise DataError(None, f"{where}.warmup_steps", "only schedule: cosine warms up")


@dataclass(frozen=True)
class TrainConfig:
    """An experiment's ``train`` section, typed: parsed once (``parse``) when params.yaml is composed and again by the
    trainer from the same section, which then reads attributes, never keys.

    Required: ``epochs``, ``batch_size``, ``lr``, ``weight_decay``, ``grad_clip``, ``workers``, ``seed``, ``amp``,
    ``eval_every``. Fine-tuning, optional: the backbone trains at ``lr * backbone_lr_mult`` and is frozen for the first
    ``freeze_backbone_epochs`` epochs (no gradient, BatchNorm statistics kept: LP-FT). The schedule, optional:
    ``multistep`` (the paper recipes: ``lr`` times ``gamma`` at each of ``milestones``, epochs; ``lr_drop`` says
    whether epoch m of the milestones is the first at the lower LR, ``at_milestone``, torch's MultiStepLR, or the
    last at the higher one, ``after_milestone``, as zgspose/DSTA's and DCPose's trainer steps ``lr_scheduler.step
    (epoch)`` after each epoch) or ``cosine`` (a linear warm-up over ``warmup_steps`` optimizer steps, then a half
    cosine to 0 at the last step, updated every step; it reads no milestones, gamma or lr_drop)."""

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    grad_clip: float
    workers: int
    seed: int
    amp: bool
    eval_every: int
    backbone_lr_mult: float = 1.0
    freeze_backbone_epochs: int = 0
    lr_drop: str = "at_milestone"
    schedule: str = "multistep"
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    warmup_steps: int = 0

    @property
    def per_step(self) -> bool:
        """Whether the schedule is stepped after every optimizer step (cosine) rather than after every epoch."""
        return self.schedule == "cosine"

    @classmethod
    def parse(cls, train: object, where: str = "train") -> TrainConfig:
        """The section checked and typed: a DataError names ``where.KEY`` as written for a bad, unknown or missing
        key."""
        check_train_section(train, where)
        assert isinstance(train, dict)
        known = [f.name for f in fields(cls)]
        unknown = [k for k in train if k not in known]
        if unknown:
            raise DataError(None, f"{where}.{unknown[0]}", f"unknown key; a train section takes {', '.join(known)}")
        missing = [k for k in TRAIN_REQUIRED if k not in train]
        if missing:
            raise DataError(None, f"{where}.{missing[0]}", f"missing (required: {', '.join(TRAIN_REQUIRED)})")
        values: dict[str, Any] = {k: tuple(v) if k == "milestones" else v for k, v in train.items()}
        return cls(**values)


#: the train keys without a default: every train section gives them
TRAIN_REQUIRED = tuple(f.name for f in fields(TrainConfig) if f.default is MISSING)


HALF_BODY_RULES = ("mmpose", "official")
GT_BOXES = ("given", "clipped")


def check_choice(value: object, field: str, choices: tuple[str, ...]) -> str:
    """One of ``choices``, as written."""
    if value not in choices:
        raise DataError(None, field, f"must be one of {list(choices)}, got {value!r}")
    return value


def check_data_section(data: object, where: str = "data") -> None:
    """Types and ranges of a ``data`` section's keys (``input_size`` is checked against the backbone elsewhere)."""
    if not isinstance(data, dict):
        raise DataError(None, where, f"expected a mapping, got {data!r}")
    for key in ("name", "train_ann", "val_ann", "image_root", "boxes"):
        if key in data and (not isinstance(data[key], str) or not data[key]):
            raise DataError(None, f"{where}.{key}", f"must be a non-empty string, got {data[key]!r}")
    if "gt_boxes" in data:
        check_choice(data["gt_boxes"], f"{where}.gt_boxes", GT_BOXES)
    if "box_score_threshold" in data:
        check_number(data["box_score_threshold"], f"{where}.box_score_threshold", 0, 1)
    if "box_enlarge" in data:
        check_number(data["box_enlarge"], f"{where}.box_enlarge", 0, low_open=True)
    for key in ("frame_distance", "max_frame_distance"):
        if key in data:
            check_int(data[key], f"{where}.{key}", 1)
    augment = data.get("augment")
    if augment is None:
        return
    if not isinstance(augment, dict):
        raise DataError(None, f"{where}.augment", f"expected a mapping, got {augment!r}")
    for key, value in augment.items():
        field = f"{where}.augment.{key}"
        if key == "distribution":
            if not isinstance(value, str):
                raise DataError(None, field, f"must be a string, got {value!r}")
        elif key == "half_body_rule":
            check_choice(value, field, HALF_BODY_RULES)
        elif key == "half_body_min_keypoints":
            check_int(value, field, 0)
        elif key in AUGMENT_PROBABILITIES:
            check_number(value, field, 0, 1)
        else:
            check_number(value, field, 0)


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer >= ``low``; a bad value is argparse's one-line usage error (exit 2), before
    any work (``--batch-size 0``, ``--iters -5``)."""
    import argparse

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


# -- the robustness benchmark (dsta.robustness; dsta.data.corrupt applies them) ------------------------------------
# ImageNet-C corruptions (Hendrycks & Dietterich 2019) as the `imagecorruptions` package defines them, plus the two of
# this harness: `occlusion` (a filled box over part of the person's box, its area the severity) and `blank` (the frame
# replaced by its mean colour: the control, one point whatever the severity).
IMAGENET_C_CORRUPTIONS = ("motion_blur", "defocus_blur", "gaussian_noise", "jpeg_compression", "pixelate")
CORRUPTIONS = IMAGENET_C_CORRUPTIONS + ("occlusion", "blank")
SEVERITIES = (1, 2, 3, 4, 5)
CORRUPTION_MODES = ("key", "all")  # only the key frame of each clip corrupted, or every frame


def check_robustness(section: object, where: str = "robustness") -> dict[str, Any]:
    """The ``robustness`` config section (``corruptions``, ``severities``, ``modes``), checked: DataError naming
    ``where.KEY`` (and the value as written) for an unknown corruption, severity or mode, a repeat, or an empty list."""
    if not isinstance(section, dict):
        raise DataError(None, where, f"expected a mapping, got {section!r}")
    allowed = {"corruptions": CORRUPTIONS, "severities": SEVERITIES, "modes": CORRUPTION_MODES}
    unknown = sorted(set(section) - set(allowed))
    if unknown:
        raise DataError(None, f"{where}.{unknown[0]}", f"unknown key; expected {sorted(allowed)}")
    for key, choices in allowed.items():
        values = section.get(key)
        if not isinstance(values, list) or not values:
            raise DataError(None, f"{where}.{key}", f"expected a non-empty list, got {values!r}")
        for i, value in enumerate(values):
            if isinstance(value, bool) or value not in choices:
                raise DataError(None, f"{where}.{key}[{i}]", f"{value!r} is not one of {list(choices)}")
        if len(set(values)) != len(values):
            raise DataError(None, f"{where}.{key}", f"repeated entries in {values!r}")
    return section
