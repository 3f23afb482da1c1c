"""Forward latency of every registered model at batch 1: its tiny CPU config (the synthetic default's input) and its
paper-size config(s) at 256x192; and DSTA's cost per frame in clip vs streaming mode.

The model configs come from ``configs/model`` (``*_tiny.yaml`` are the CPU sizes, the rest paper sizes); the steps
are the ones ``python -m benchmarks.profile`` times, so the two agree.
"""

import pytest
import torch

from benchmarks.profiling.env import environment
from benchmarks.profiling.specs import model_configs, spec_from_model
from benchmarks.profiling.steps import make_step, step_inputs
from dsta.config import compose
from dsta.core.configs import DEFAULT_INPUT_SIZE
from dsta.models import own_models

CONFIGS = model_configs()
TINY = sorted(k for k in CONFIGS if k.endswith("_tiny"))
PAPER = sorted(k for k in CONFIGS if not k.endswith("_tiny"))
TINY_INPUT = tuple(compose()["experiments"]["dsta_t3"]["data"]["input_size"])
PAPER_INPUT = DEFAULT_INPUT_SIZE


def input_size(config: str) -> tuple[int, int]:
    return TINY_INPUT if config in TINY else PAPER_INPUT


def run_step(benchmark, config: str, mode: str, rounds: int):
    spec = spec_from_model(config, {}, input_size(config))
    model = spec.build()
    step = make_step(model, mode).eval()
    inputs = step_inputs(model, mode, 1, spec.input_size, torch.device("cpu"))
    with torch.inference_mode():
        out = benchmark.pedantic(step, args=inputs, rounds=rounds, warmup_rounds=2)
    env = environment(torch.device("cpu"))
    benchmark.extra_info.update(
        config=config,
        model=spec.name,
        mode=mode,
        batch=1,
        T=model.num_frames,
        input_size=list(spec.input_size),
        device=env["device"],
        torch=env["torch"],
        threads=env["threads"],
        dtype=env["dtype"],
        commit=env["commit"],
    )
    first = out[0] if isinstance(out, tuple) else out
    assert first.shape[0] == 1 and torch.isfinite(first).all()
    return model, first


def test_every_registered_model_has_a_tiny_and_a_paper_config():
    assert {CONFIGS[k]["name"] for k in TINY} == set(own_models())
    assert {CONFIGS[k]["name"] for k in PAPER} == set(own_models())


@pytest.mark.parametrize("config", TINY + PAPER)
def test_forward_latency_bs1(benchmark, config):
    model, out = run_step(benchmark, config, "clip", rounds=10 if config in TINY else 3)
    assert out.shape[1] == model.num_joints


@pytest.mark.parametrize("mode", ["clip", "streaming"])
@pytest.mark.parametrize("config", ["dsta_tiny", "dsta_r50"])
def test_dsta_per_frame(benchmark, config, mode):
    """Clip: T backbone passes per prediction; streaming: one (the other frames' tokens are cached)."""
    model, out = run_step(benchmark, config, mode, rounds=10 if config in TINY else 3)
    assert out.shape == (1, model.num_joints, 2)
