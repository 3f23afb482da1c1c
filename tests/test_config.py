import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dsta.config import compose
from dsta.errors import DataError

ROOT = Path(__file__).resolve().parents[1]


def test_params_yaml_is_the_composed_config():
    r = subprocess.run([sys.executable, "-m", "dsta.config", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_every_dvc_param_exists():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    for stage in dvc["stages"].values():
        body = stage.get("do", stage)
        keys = list(params[stage["foreach"][2:-1]]) if "foreach" in stage else [None]
        for key, p in ((k, p) for k in keys for p in body.get("params", [])):
            p = str(p).replace("${key}", str(key))
            node = params
            for part in str(p).split("."):
                assert part in node, p
                node = node[part]


def test_bad_override():
    with pytest.raises(DataError, match="overrides"):
        compose(["data=nonexistent"])
