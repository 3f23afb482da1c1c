"""Shared fixtures of the benchmark suite (``pytest benchmarks --benchmark-only``)."""
import pytest

from dsta.eval_cases import CaseConfig, make_case


@pytest.fixture(scope="session")
def eval_case_50x30x5(tmp_path_factory):
    """50 sequences x 30 labeled frames x 5 people, noisy predictions with false negatives and false positives."""
    root = tmp_path_factory.mktemp("eval_case")
    make_case(root, CaseConfig(sequences=50, frames=30, persons=5, noise=0.3, drop_prob=0.1, fp_per_frame=1.0,
                               ignore_region_prob=0.1, seed=0))
    return root


@pytest.fixture(scope="session")
def synthetic_small(tmp_path_factory):
    """A small synthetic dataset (4 train / 2 val videos of 12 frames)."""
    from dsta.data.synthetic import SyntheticConfig, generate

    root = tmp_path_factory.mktemp("synthetic") / "ds"
    generate(root, SyntheticConfig(train_sequences=4, val_sequences=2, frames=12))
    return root
