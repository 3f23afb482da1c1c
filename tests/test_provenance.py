import sys

from dsta.core import provenance as pv


def test_block_has_every_field():
    block = pv.provenance(seed=3, config={"b": 1, "a": [1, 2]})
    assert set(block) == {"commit", "dirty", "machine", "torch", "python", "seed", "config_hash", "created"}
    assert block["seed"] == 3 and block["created"].endswith("Z")
    assert block["machine"]["cpu"] and "logical CPUs" in block["machine"]["cpu"]
    assert block["commit"] is None or isinstance(block["dirty"], bool)


def test_config_hash_is_canonical():
    assert pv.config_hash({"a": 1, "b": 2}) == pv.config_hash({"b": 2, "a": 1})
    assert pv.config_hash({"a": 1}) != pv.config_hash({"a": 2})
    assert pv.config_hash(None) is None


def test_describe():
    block = {
        "commit": "abc1234",
        "dirty": True,
        "machine": {"cpu": "CPU X (2 logical CPUs)", "gpu": "NVIDIA H100"},
        "torch": "2.15.0",
    }
    assert pv.describe(block) == "commit abc1234 (dirty tree), on NVIDIA H100, torch 2.15.0"
    assert "not recorded" in pv.describe(None)
    released = {**block, "weights_sha256": "0123456789abcdef" * 4}  # a converted release's evaluation
    assert pv.describe(released).endswith(", weights sha256 0123456789abcdef")


def test_torch_free():
    assert "torch" not in pv.__dict__
    code = "import sys, dsta.core.provenance as p; p.provenance(); assert 'torch' not in sys.modules"
    import subprocess

    assert subprocess.run([sys.executable, "-c", code], cwd=pv.REPO).returncode == 0


def test_commit_override_for_copies_without_git(monkeypatch):
    from dsta.core import provenance as pv

    monkeypatch.setenv(pv.COMMIT_ENV, "feed123")
    assert pv.git_state() == ("feed123", None)
    assert pv.git_commit() == "feed123"
