"""Evaluator speed: in-process on the 50 x 30 x 5 case, whole process side by side with the official poseval, and
the PoseTrack18 reader on a file the size of PoseTrack18 train.

``test_whole_process_vs_poseval`` runs only where poseval is importable (it is not on PyPI: put its repository's
package on PYTHONPATH, with click, motmetrics and tqdm installed). It alternates three processes on the same case, each
timed from start to exit: ours (``python -m dsta.evaluate``, JSON written), the official poseval, and a **floor**: a
process that only starts Python, imports numpy and decodes every GT and prediction file with orjson (the fastest JSON
decoder we know of), evaluating nothing. ``extra_info`` holds the medians and the ratios of each triple (median, min,
max): two tools timed at different moments on a shared machine are not comparable, timed in alternation they are.
poseval / floor bounds the speed-up any Python evaluator that reads the JSON this way can reach on the machine.

The reader benchmark alternates, on one file of 100k people, the JSON decoding alone, ``parse_file`` (decode,
validate, arrays) and ``read_sequence`` (that, plus the dataset's Sequence/Frame/Person objects).
"""

import compileall
import importlib.util
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dsta.core.io import load_json
from dsta.data.posetrack import parse_file, read_sequence
from dsta.evaluate import evaluate

POSEVAL = importlib.util.find_spec("poseval") is not None


def test_evaluate_50x30x5(benchmark, eval_case_50x30x5):
    benchmark.extra_info.update(sequences=50, labeled_frames=30, persons=5)
    result = benchmark.pedantic(
        evaluate, args=(eval_case_50x30x5 / "gt", eval_case_50x30x5 / "pred"), rounds=5, warmup_rounds=1
    )
    assert 0 < result["Total"] < 100
    assert result["num_frames"] == 50 * 30


def _timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


# the floor: start, import numpy, decode every file of the given directories in name order; nothing else
FLOOR = (
    "import os, sys, numpy, orjson\n"
    "for d in sys.argv[1:]:\n"
    "    for n in sorted(os.listdir(d)):\n"
    "        with open(os.path.join(d, n), 'rb') as f:\n"
    "            orjson.loads(f.read())\n"
)


def _spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


@pytest.mark.skipif(
    not POSEVAL,
    reason="the official poseval is not importable: put its repository's package on PYTHONPATH (with click, "
    "motmetrics and tqdm) to time ours against it",
)
def test_whole_process_vs_poseval(benchmark, eval_case_50x30x5, tmp_path):
    gt, pred = f"{eval_case_50x30x5 / 'gt'}/", f"{eval_case_50x30x5 / 'pred'}/"
    cmds = {
        "ours": [sys.executable, "-m", "dsta.evaluate", "--gt", gt, "--pred", pred, "--out", str(tmp_path / "m.json")],
        "poseval": [sys.executable, "-m", "poseval.evaluate", "-g", gt, "-p", pred, "-e", "-o", str(tmp_path / "pv")],
        "floor": [sys.executable, "-c", FLOOR, gt, pred],
    }
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for package in ("dsta", "poseval"):  # bytecode as after an install (where PYTHONDONTWRITEBYTECODE is set, no
        # import writes it, and every process would compile both tools' sources again)
        compileall.compile_dir(Path(importlib.util.find_spec(package).origin).parent, quiet=1)

    def triple():
        for name, cmd in cmds.items():
            times[name].append(_timed(cmd))

    benchmark.pedantic(triple, rounds=5, warmup_rounds=1)
    t = {k: v[-5:] for k, v in times.items()}  # the timed rounds (the warm-up triple is first)
    speedup = [p / o for o, p in zip(t["ours"], t["poseval"])]
    bound = [p / f for f, p in zip(t["floor"], t["poseval"])]
    benchmark.extra_info.update(
        case="50 sequences x 30 frames x 5 people",
        ours_median_s=statistics.median(t["ours"]),
        poseval_median_s=statistics.median(t["poseval"]),
        floor_median_s=statistics.median(t["floor"]),
        speedup_median=statistics.median(speedup),
        speedup_min=min(speedup),
        speedup_max=max(speedup),
        poseval_over_floor=_spread(bound),
        goal_speedup=50,
    )
    print(
        f"\nwhole process: ours {statistics.median(t['ours']):.3f} s, poseval "
        f"{statistics.median(t['poseval']):.2f} s, speed-up x{statistics.median(speedup):.1f} "
        f"(rounds: {min(speedup):.1f}-{max(speedup):.1f}); floor "
        f"(start + numpy + JSON decode only) {statistics.median(t['floor']):.3f} s = poseval / "
        f"x{statistics.median(bound):.1f} ({min(bound):.1f}-{max(bound):.1f})"
    )
    assert (tmp_path / "m.json").is_file()


def test_read_posetrack18_train_sized_file(benchmark, posetrack18_100k_people):
    """One file of 100k person annotations, three steps timed in alternation: JSON decoding alone (the floor of any
    reader of the JSON), the shared parser (what the evaluator reads through), and the dataset reader (parser plus
    the Sequence/Frame/Person objects)."""
    steps = {
        "json_decode": lambda: load_json(posetrack18_100k_people),
        "parse_file": lambda: parse_file(posetrack18_100k_people),
        "read_sequence": lambda: read_sequence(posetrack18_100k_people),
    }
    times: dict[str, list[float]] = {k: [] for k in steps}
    people = {}

    def rounds():
        for name, step in steps.items():
            start = time.perf_counter()  # nothing else is held while a step runs (the garbage collector walks it)
            result = step()
            times[name].append(time.perf_counter() - start)
            people[name] = (
                result.num_people
                if name == "parse_file"
                else sum(len(f.persons) for f in result.frames)
                if name == "read_sequence"
                else None
            )
            del result

    benchmark.pedantic(rounds, rounds=3, warmup_rounds=1)
    benchmark.extra_info.update(
        people=100_000,
        file_mb=round(posetrack18_100k_people.stat().st_size / 2**20, 1),
        **{f"{k}_s": _spread(v[-3:]) for k, v in times.items()},
    )
    print("\n" + ", ".join(f"{k} {min(v[-3:]):.2f} s" for k, v in times.items()) + " (min of 3, 100k people)")
    assert people["parse_file"] == people["read_sequence"] == 100_000
