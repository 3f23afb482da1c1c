"""The convert_released stage: a released checkpoint, converted for evaluation without training.

``python -m dsta.released --params params.yaml --name NAME --out released/NAME.pt``

``released.NAME`` of params.yaml (``configs/released``) names the released file (``weights``, a file of the
``weights`` section: the weights stage has checked it and pinned its sha256), the converter of its code base
(``converter``: ``dsta.convert_official`` for DSTA's release, ``baselines.convert_dcpose`` for DCPose's), the network
(``model``) and data, and the release's test protocol (``data.boxes``, ``data.box_score_threshold``, ``test.flip``).
The converted checkpoint carries that entry as its ``config``, so the evaluate_released stage runs ``dsta.predict``
on it exactly as the evaluate stage runs it on a trained checkpoint.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from baselines import convert_dcpose
from dsta import convert_official
from dsta.config import RELEASE_CONVERTERS, load_params_section
from dsta.core.errors import DataError, doc_summary, main_guard
from dsta.core.io import load_yaml
from dsta.fetch import where_to_get

CONVERTERS = {"dsta.convert_official": convert_official.convert, "baselines.convert_dcpose": convert_dcpose.convert}
assert set(CONVERTERS) == set(RELEASE_CONVERTERS)


def convert_released(params: str | Path, name: str, out: str | Path) -> dict:
    """Convert ``released.NAME``'s file to ``out``; returns the entry."""
    cfg = load_params_section(params, f"released.{name}")
    file = Path(str(cfg["weights"]))
    if not file.is_file():
        weights = (load_yaml(params) or {}).get("weights") or {}
        raise DataError(
            file,
            f"released.{name}.weights",
            f"released weights not found; {where_to_get(weights, str(file))}; then `python -m dsta.fetch "
            f"--params {params} --weights --out data/weights` verifies it",
        )
    CONVERTERS[cfg["converter"]](file, out, cfg["model"]["kwargs"], config=cfg, released=name)
    return cfg


@main_guard
def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=doc_summary(__doc__))
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--name", required=True, help="a key of released in params")
    p.add_argument("--out", required=True, help="the dsta-bench checkpoint to write")
    a = p.parse_args(argv)
    cfg = convert_released(a.params, a.name, a.out)
    print(f"released.{a.name}: {cfg['weights']} ({cfg['converter']}) -> {a.out}")
    return cfg


if __name__ == "__main__":
    main()
