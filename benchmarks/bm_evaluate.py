"""Evaluator speed on the 50 x 30 x 5 case (poseval itself takes about 7.4 s on these machines; target < 0.35 s)."""
from dsta.evaluate import evaluate


def test_evaluate_50x30x5(benchmark, eval_case_50x30x5):
    benchmark.extra_info.update(sequences=50, labeled_frames=30, persons=5, poseval_seconds=7.4)
    result = benchmark.pedantic(evaluate, args=(eval_case_50x30x5 / "gt", eval_case_50x30x5 / "pred"),
                                rounds=5, warmup_rounds=1)
    assert 0 < result["Total"] < 100
    assert result["num_frames"] == 50 * 30
