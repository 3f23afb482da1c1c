"""Clip loader throughput (samples/s) at T=3, training augmentation on, one process: the tiny default input
(48x64) and the paper's 192x256."""

import pytest

from dsta.data.dataset import TopDownClipDataset

BATCH = 32


@pytest.mark.parametrize(
    "input_size,target", [((48, 64), "regression"), ((192, 256), "regression"), ((192, 256), "heatmap")]
)
def test_clip_loader_t3(benchmark, synthetic_small, input_size, target):
    ds = TopDownClipDataset(
        synthetic_small / "annotations" / "train",
        synthetic_small,
        num_frames=3,
        input_size=input_size,
        train=True,
        frame_distance=2,
        target=target,
    )

    def load_batch():
        return [ds[i % len(ds)] for i in range(BATCH)]

    items = benchmark.pedantic(load_batch, rounds=3, warmup_rounds=1)
    assert items[0]["image"].shape == (3, 3, input_size[1], input_size[0])
    if benchmark.stats is not None:  # None under --benchmark-disable
        benchmark.extra_info["samples_per_s"] = BATCH / benchmark.stats.stats.median
    benchmark.extra_info.update(T=3, input_size=list(input_size), target=target, workers=0)
