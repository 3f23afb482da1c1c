"""Evaluator speed: in-process on the 50 x 30 x 5 case, whole process side by side with the official poseval, and
the PoseTrack18 reader on a file the size of PoseTrack18 train.

``test_whole_process_vs_poseval`` runs only where poseval is importable (it is not on PyPI: put its repository's
package on PYTHONPATH, with click, motmetrics and tqdm installed). It alternates the two tools on the same case, each
as its own ``python -m`` process from start to exit (JSON written), and records both medians and the ratio of each
pair (median, min, max) in ``extra_info``: two tools timed at different moments on a shared machine are not
comparable, two timed in alternation are.
"""
import importlib.util
import statistics
import subprocess
import sys
import time

import pytest

from dsta.data.posetrack import parse_file, read_sequence
from dsta.evaluate import evaluate

POSEVAL = importlib.util.find_spec("poseval") is not None


def test_evaluate_50x30x5(benchmark, eval_case_50x30x5):
    benchmark.extra_info.update(sequences=50, labeled_frames=30, persons=5)
    result = benchmark.pedantic(evaluate, args=(eval_case_50x30x5 / "gt", eval_case_50x30x5 / "pred"),
                                rounds=5, warmup_rounds=1)
    assert 0 < result["Total"] < 100
    assert result["num_frames"] == 50 * 30


def _timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


@pytest.mark.skipif(not POSEVAL, reason="the official poseval is not importable")
def test_whole_process_vs_poseval(benchmark, eval_case_50x30x5, tmp_path):
    gt, pred = f"{eval_case_50x30x5 / 'gt'}/", f"{eval_case_50x30x5 / 'pred'}/"
    ours_cmd = [sys.executable, "-m", "dsta.evaluate", "--gt", gt, "--pred", pred, "--out", str(tmp_path / "m.json")]
    poseval_cmd = [sys.executable, "-m", "poseval.evaluate", "-g", gt, "-p", pred, "-e", "-o", str(tmp_path / "pv")]
    ours, theirs = [], []

    def pair():
        ours.append(_timed(ours_cmd))
        theirs.append(_timed(poseval_cmd))

    benchmark.pedantic(pair, rounds=5, warmup_rounds=1)
    ours, theirs = ours[-5:], theirs[-5:]  # the timed rounds (the warm-up pair is first)
    ratios = [t / o for o, t in zip(ours, theirs)]
    benchmark.extra_info.update(
        case="50 sequences x 30 frames x 5 people", ours_median_s=statistics.median(ours),
        poseval_median_s=statistics.median(theirs), speedup_median=statistics.median(ratios),
        speedup_min=min(ratios), speedup_max=max(ratios))
    print(f"\nwhole process: ours {statistics.median(ours):.3f} s, poseval {statistics.median(theirs):.2f} s, "
          f"speed-up x{statistics.median(ratios):.1f} (pairs: {min(ratios):.1f}-{max(ratios):.1f})")
    assert (tmp_path / "m.json").is_file()


def test_read_posetrack18_train_sized_file(benchmark, posetrack18_100k_people):
    """The dataset reader (parse, validate, build Sequence/Frame/Person) on one file of 100k person annotations."""
    seq = benchmark.pedantic(read_sequence, args=(posetrack18_100k_people,), rounds=3, warmup_rounds=1)
    assert sum(len(f.persons) for f in seq.frames) == 100_000


def test_parse_posetrack18_train_sized_file(benchmark, posetrack18_100k_people):
    """The shared parser alone (what the evaluator reads through), same file."""
    parsed = benchmark.pedantic(parse_file, args=(posetrack18_100k_people,), rounds=3, warmup_rounds=1)
    assert parsed.num_people == 100_000
