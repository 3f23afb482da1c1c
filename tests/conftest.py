from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def synthetic_tiny(tmp_path_factory):
    """A tiny synthetic dataset shared by the data, model and engine tests."""
    from dsta.data.synthetic import SyntheticConfig, generate

    root = tmp_path_factory.mktemp("synthetic") / "ds"
    generate(root, SyntheticConfig(train_sequences=3, val_sequences=2, frames=8, seed=1))
    return root
