"""benchmarks.profile: FLOP handles against hand counts, the clip/streaming split, memory and timing helpers, CLI."""

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import deform_conv2d

from benchmarks import profile as pf
from benchmarks.profiling.flops import backbone_path, count_flops, count_params
from benchmarks.profiling.memory import cpu_memory_supported, peak_memory
from benchmarks.profiling.specs import parse_overrides, spec_from_experiment, spec_from_model
from benchmarks.profiling.steps import ClipStep, StreamingStep, make_step, modes, step_inputs
from benchmarks.profiling.timing import time_calls
from dsta.core.errors import DataError


class Wrapped(nn.Module):
    """count_flops expects the profiled model under ``model``."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.model = inner

    def forward(self, *x):
        return self.model(*x)


class Attention(nn.Module):
    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v)


class Deform(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(6, 4, 3, 3))

    def forward(self, x, offset, mask):
        return deform_conv2d(x, offset, self.weight, padding=(1, 1), mask=mask)


def test_sdpa_is_counted_as_two_matmuls():
    q, k, v = torch.randn(2, 4, 5, 8), torch.randn(2, 4, 7, 8), torch.randn(2, 4, 7, 6)
    flops = count_flops(Wrapped(Attention()), (q, k, v), "none")
    assert flops["total"] * 1e9 == pytest.approx(2 * 4 * 5 * 7 * (8 + 6))
    assert "aten::scaled_dot_product_attention" not in flops["unsupported_ops"]


def test_deform_conv2d_counts_convolution_sampling_and_mask():
    x = torch.randn(1, 4, 5, 6)
    offset, mask = torch.zeros(1, 2 * 9, 5, 6), torch.ones(1, 9, 5, 6)
    flops = count_flops(Wrapped(Deform()), (x, offset, mask), "none")
    positions = 5 * 6
    assert flops["total"] * 1e9 == pytest.approx(positions * 6 * 4 * 9 + positions * 4 * 9 * 5)
    assert "torchvision::deform_conv2d" not in flops["unsupported_ops"]


def test_convolution_count_is_one_flop_per_multiply_add():
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    flops = count_flops(Wrapped(conv), (torch.randn(1, 3, 10, 12),), "none")
    assert flops["total"] * 1e9 == 10 * 12 * 8 * 3 * 9


@pytest.fixture(scope="module")
def dsta_spec():
    return spec_from_model("dsta", {"backbone": "resnet18", "num_frames": 3, "embed_dim": 16, "depth": 1}, (48, 64))


def test_dsta_clip_vs_streaming_flops_and_parameters(dsta_spec):
    model = dsta_spec.build()
    assert modes(model) == ["clip", "streaming"]
    clip = count_flops(make_step(model, "clip"), step_inputs(model, "clip", 1, (48, 64), "cpu"), backbone_path(model))
    stream = count_flops(
        make_step(model, "streaming"), step_inputs(model, "streaming", 1, (48, 64), "cpu"), backbone_path(model)
    )
    assert clip["backbone"] == pytest.approx(3 * stream["backbone"])
    assert 0 < stream["head"] < clip["head"] < 0.01 * clip["backbone"]
    assert not {"aten::scaled_dot_product_attention", "aten::linalg_vector_norm"} & set(clip["unsupported_ops"])
    params = count_params(model)
    assert params["total"] == params["backbone"] + params["head"]
    assert params["backbone"] == sum(p.numel() for p in model.backbone.parameters())


def test_streaming_step_equals_clip_step_on_the_same_frames(dsta_spec):
    model = dsta_spec.build()
    clip = torch.randn(2, 3, 3, 64, 48)
    with torch.no_grad():
        cached = torch.stack([model.frame_features(clip[:, i]) for i in range(2)], dim=1)
        coords, sigma = StreamingStep(model)(clip[:, 2], cached)
        ref_coords, ref_sigma = ClipStep(model)(clip)
    torch.testing.assert_close(coords, ref_coords, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sigma, ref_sigma, atol=1e-5, rtol=1e-5)


def test_dcpose_streaming_split_matches_its_forward():
    spec = spec_from_model("dcpose_tiny", {}, (48, 64))
    model = spec.build()
    assert backbone_path(model) == "rough.backbone"
    clip = torch.randn(1, 3, 3, 64, 48)
    with torch.no_grad():
        cached = torch.stack([model.frame_features(clip[:, i]) for i in range(2)], dim=1)
        torch.testing.assert_close(StreamingStep(model)(clip[:, 2], cached), model(clip), atol=1e-5, rtol=1e-5)


def test_single_frame_models_have_only_the_clip_mode():
    model = spec_from_model("rle_tiny", {}, (48, 64)).build()
    assert modes(model) == ["clip"]


@pytest.mark.skipif(not cpu_memory_supported(), reason="needs Linux /proc and glibc")
def test_cpu_peak_memory_sees_a_64_mib_allocation():
    result = peak_memory(lambda: torch.ones(16 * 2**20).sum(), torch.device("cpu"), resident_mib=10.0)
    assert 60 < result["increase_mib"] < 80
    assert result["peak_mib"] == pytest.approx(10.0 + result["increase_mib"])
    assert "VmHWM" in result["method"]


def test_time_calls_reports_median_and_spread():
    calls = []
    stats = time_calls(lambda: calls.append(1), torch.device("cpu"), warmup=2, iters=5)
    assert len(calls) == 7
    assert stats["min_ms"] <= stats["p25_ms"] <= stats["median_ms"] <= stats["p75_ms"] <= stats["max_ms"]
    assert stats["iters"] == 5


def test_cli_on_an_experiment_writes_a_self_describing_profile(tmp_path):
    out = tmp_path / "profile.json"
    pf.main(
        [
            "--experiment",
            "dsta_t3",
            "--params",
            "params.yaml",
            "--out",
            str(out),
            "--iters",
            "2",
            "--warmup",
            "1",
            "--batch",
            "2",
            "--train-batch",
            "2",
            "embed_dim=16",
            "depth=1",
        ]
    )
    result = json.loads(out.read_text())
    assert result["kwargs"]["embed_dim"] == 16 and result["num_frames"] == 3
    assert set(result["modes"]) == {"clip", "streaming"}
    env = result["env"]
    assert {"device", "torch", "dtype", "threads", "commit"} <= set(env)
    assert "multiply-add = one FLOP" in result["flop_convention"]
    clip, stream = result["modes"]["clip"], result["modes"]["streaming"]
    assert clip["backbone_passes"] == 3 and stream["backbone_passes"] == 1
    assert clip["throughput"]["batch"] == 2 and clip["latency"]["batch"] == 1
    assert result["memory_train_step"]["batch"] == 2
    assert result["per_frame_mode"] == "streaming"


def test_cli_errors_name_the_field(tmp_path):
    with pytest.raises(DataError, match="experiments.nope"):
        spec_from_experiment("params.yaml", "nope")
    with pytest.raises(DataError, match="key=value"):
        parse_overrides(["depth"])
    with pytest.raises(SystemExit):
        pf.main(["--model", "dsta_tiny", "--batch", "0", "--out", str(tmp_path / "p.json")])


def test_side_by_side_interleaves_and_gives_ratios_over_the_first(tmp_path):
    out = tmp_path / "sbs.json"
    result = pf.main(
        [
            "--side-by-side",
            "rle_tiny",
            "dsta_tiny:streaming",
            "dsta_tiny:features",
            "--input-size",
            "48",
            "64",
            "--batches",
            "1",
            "2",
            "--rounds",
            "3",
            "--iters",
            "2",
            "--warmup",
            "1",
            "--out",
            str(out),
        ]
    )
    saved = json.loads(out.read_text())
    assert saved["reference"] == "rle_tiny:clip" and saved["kind"] == "side_by_side"
    assert set(saved["batches"]) == {"1", "2"}
    b = saved["batches"]["2"]
    assert set(b["ratio"]) == {"dsta_tiny:streaming", "dsta_tiny:features"}  # features: streaming without its head
    r = b["ratio"]["dsta_tiny:streaming"]
    assert len(r["rounds"]) == 3 and r["min"] <= r["median"] <= r["max"]
    ms = b["ms_per_call"]
    expected = [a / c for a, c in zip(ms["dsta_tiny:streaming"]["rounds"], ms["rle_tiny:clip"]["rounds"])]
    assert r["rounds"] == pytest.approx(expected)
    assert saved["entries"]["dsta_tiny:streaming"]["num_frames"] == 3
    assert {"device", "torch", "threads", "commit", "options"} <= set(saved["env"])
    assert result["protocol"]["rounds"] == 3
    with pytest.raises(SystemExit):  # a single-frame model has no features step (it does not stream)
        pf.main(["--side-by-side", "rle_tiny", "rle_tiny:features", "--input-size", "48", "64", "--out", str(out)])


def test_side_by_side_all_times_every_model_of_a_section_in_every_mode(tmp_path):
    """The report's timing run: every paper_profiles model (or experiment) of params.yaml, each in every mode it has,
    in one interleaved process; single-frame RLE first (the reference)."""
    import yaml

    params = tmp_path / "params.yaml"
    params.write_text(
        yaml.safe_dump(
            {
                "paper_profiles": {
                    "width": 48,
                    "height": 64,
                    "models": {
                        "dsta": {"config": "dsta_tiny", "overrides": "num_frames=3"},
                        "rle": {"config": "rle_tiny", "overrides": ""},
                    },
                }
            }
        )
    )
    out = tmp_path / "all.json"
    pf.main(
        [
            "--params",
            str(params),
            "--side-by-side-all",
            "paper_profiles",
            "--batches",
            "1",
            "2",
            "--rounds",
            "2",
            "--iters",
            "1",
            "--warmup",
            "1",
            "--device",
            "cpu",
            "--out",
            str(out),
        ]
    )
    saved = json.loads(out.read_text())
    assert saved["section"] == "paper_profiles" and saved["reference"] == "rle:clip"
    assert set(saved["batches"]["2"]["ms_per_call"]) == {"rle:clip", "dsta:clip", "dsta:streaming"}
    assert saved["entries"]["dsta:clip"]["input_size"] == [48, 64]
    from benchmarks.profiling.specs import section_specs

    params.write_text(yaml.safe_dump({"paper_profiles": {"width": 48, "height": 64}}))
    with pytest.raises(DataError, match="paper_profiles.models"):
        section_specs(params, "paper_profiles")


def test_interleaved_calls_take_turns_in_abba_order():
    from benchmarks.profiling.side_by_side import interleaved

    calls = []
    interleaved(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
        torch.device("cpu"),
        warmup=0,
        iters=2,
        rounds=2,
    )
    assert "".join(calls) == "abbaabba"


def test_profile_records_the_inference_options(tmp_path):
    out = tmp_path / "p.json"
    pf.main(
        [
            "--model",
            "rle_tiny",
            "--input-size",
            "48",
            "64",
            "--no-flops",
            "--no-memory",
            "--iters",
            "2",
            "--warmup",
            "1",
            "--batch",
            "2",
            "--dtype",
            "bf16",
            "--channels-last",
            "--out",
            str(out),
        ]
    )
    env = json.loads(out.read_text())["env"]
    assert env["dtype"] == "bfloat16"
    assert env["options"] == {"dtype": "bf16", "channels_last": True, "compile": False, "cuda_graphs": False}


def test_fast_mode_is_timed_interleaved_with_fp32_on_a_copy(tmp_path):
    out = tmp_path / "p.json"
    pf.main(
        [
            "--model",
            "dsta_tiny",
            "--input-size",
            "48",
            "64",
            "--no-flops",
            "--no-memory",
            "--iters",
            "3",
            "--warmup",
            "1",
            "--batch",
            "2",
            "--fast-mode",
            "bf16+cl",
            "--out",
            str(out),
        ]
    )
    result = json.loads(out.read_text())
    assert result["env"]["options"]["dtype"] == "fp32"  # the main timings stay in the given options
    for mode in ("clip", "streaming"):
        fast = result["modes"][mode]["fast"]
        assert fast["label"] == "bf16+cl" and fast["base"] == "fp32"
        assert fast["options"] == {"dtype": "bf16", "channels_last": True, "compile": False, "cuda_graphs": False}
        for key, batch in (("latency", 1), ("throughput", 2)):
            f = fast[key]
            assert f["batch"] == batch and len(f["speedup"]["rounds"]) == 5  # max(5, iters) rounds
            assert f["speedup"]["rounds"] == pytest.approx(
                [b / x for b, x in zip(f["base_ms"]["rounds"], f["fast_ms"]["rounds"])]
            )
            assert f["fps"] == pytest.approx(batch / (f["fast_ms"]["median"] / 1e3))


@pytest.mark.parametrize(
    "label,words",
    [
        ("cl+bf16", "dtype comes first"),
        ("bf16+turbo", "at most once"),
        ("fp32+graphs", "CUDA graphs need a CUDA device"),
    ],
)
def test_bad_fast_mode_is_refused_naming_the_flag(tmp_path, capsys, label, words):
    if "graphs" in label and torch.cuda.is_available():
        pytest.skip("checks the refusal on a machine without CUDA")
    with pytest.raises(SystemExit):
        pf.main(["--model", "rle_tiny", "--device", "cpu", "--fast-mode", label, "--out", str(tmp_path / "p.json")])
    err = capsys.readouterr().err
    assert "--fast-mode" in err and words in err
    assert not (tmp_path / "p.json").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_cuda_graphs_are_refused_on_the_cpu_naming_the_flag(tmp_path, capsys):
    with pytest.raises(SystemExit):
        pf.main(["--model", "rle_tiny", "--device", "cpu", "--cuda-graphs", "--out", str(tmp_path / "p.json")])
    assert "--cuda-graphs: needs a CUDA device" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        pf.main(["--side-by-side", "rle_tiny", "--device", "cpu", "--out", str(tmp_path / "p.json")])
    assert "two entries" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, words",
    [
        (["--iters", "-5"], "argument --iters: must be an integer >= 1, got -5"),
        (["--input-size", "0", "0"], "argument --input-size: must be an integer >= 1, got 0"),
        (["--warmup", "x"], "argument --warmup: expected an integer, got 'x'"),
    ],
)
def test_bad_counts_and_sizes_are_one_usage_line(tmp_path, capsys, args, words):
    out = tmp_path / "profile.json"
    with pytest.raises(SystemExit) as exit_:
        pf.main(["--model", "dsta_tiny", "--out", str(out), *args])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(words) and not out.exists()


def test_input_size_below_the_backbone_stride_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        pf.main(["--model", "dsta_tiny", "--out", str(tmp_path / "p.json"), "--input-size", "16", "16"])
    assert capsys.readouterr().err.strip().startswith("error: --input-size: 16x16 is smaller than the backbone stride")


def test_count_kernel_calls_counts_computing_operators_once():
    from benchmarks.profiling.ops import count_kernel_calls, launches_kernel

    x, w = torch.randn(2, 3, 8), torch.randn(4, 8)

    def fn():
        y = F.layer_norm(F.linear(x, w).transpose(0, 1), (4,))  # linear: one mm; the transposed input's copy is
        # part of layer_norm's call; views and allocations do not count
        return torch.stack([y, y]).reshape(-1), y.mT.contiguous()  # stack: one call; a copy: one

    counts = count_kernel_calls(fn)
    assert counts == {"aten::mm": 1, "aten::native_layer_norm": 1, "aten::stack": 1, "aten::clone": 1}, counts
    assert not launches_kernel("aten::view") and not launches_kernel("aten::empty") and launches_kernel("aten::add")


def test_head_ops_counts_the_fused_head_within_its_goal(tmp_path):
    """``benchmarks.head_ops``: the fused head as CUDA runs it makes at most 40 kernel-launching operator calls per
    head call, each depth 8 (issue 24's goal; the count does not depend on the machine or the backbone), the paper's
    module-by-module head over three times as many; the CPU's fused head trades each attention call for a few
    broadcast products; one graph, no break under ``torch.compile``; the dispatch section times both paths per dtype
    and depth and derives the rule from the ratios."""
    from benchmarks.head_ops import main

    main(
        [
            "--out",
            str(tmp_path / "ops.json"),
            "--backbone",
            "resnet18",
            "--batch",
            "4",
            "--time-batches",
            "1",
            "2",
            "--time-depths",
            "1",
            "--time-dtypes",
            "fp32",
            "bf16",
        ]
    )
    result = json.loads((tmp_path / "ops.json").read_text())
    fused, blockwise = result["aggregate_frames"], result["aggregate_frames_blockwise"]
    assert fused["calls"] <= 40 and blockwise["calls"] > 3 * fused["calls"]
    by_op = fused["by_operator"]
    assert by_op["aten::native_layer_norm"] == 2 * 4 + 1 and by_op["aten::gelu"] == 4
    assert sum(v for k, v in by_op.items() if "scaled_dot_product" in k) == 4  # one attention call per depth
    cpu = result["aggregate_frames_cpu"]["by_operator"]
    assert not any("scaled_dot_product" in k for k in cpu) and cpu["aten::_softmax"] == 4
    assert result["compile"] == {"graphs": 1, "graph_breaks": 0, "break_reasons": []}
    assert result["provenance"]["commit"]
    dispatch = result["dispatch"]
    assert dispatch["device_type"] == "cpu" and set(dispatch["dtypes"]) == {"fp32", "bf16"}
    for entry in dispatch["dtypes"].values():
        timed = entry["time"]["depth 1"]["2"]["fused_over_modules"]  # interleaved: a ratio with its rounds
        assert len(timed["rounds"]) == 7 and timed["median"] > 0
        assert entry["fused_up_to_batch"] in (0, 1, 2)


def test_fused_up_to_batch_is_the_largest_batch_faster_at_every_depth():
    from benchmarks.head_ops import fused_up_to_batch

    def ratios(*medians):
        return {str(b): {"fused_over_modules": {"median": m}} for b, m in zip((1, 2, 4, 8), medians)}

    assert fused_up_to_batch({"depth 2": ratios(0.5, 0.7, 0.9, 1.1), "depth 4": ratios(0.5, 0.7, 1.0, 0.9)}) == 2
    assert fused_up_to_batch({"depth 2": ratios(1.2, 0.7, 0.9, 0.9)}) == 0  # not faster at the smallest batch
    assert fused_up_to_batch({"depth 2": ratios(0.5, 0.7, 0.9, 0.9)}) == 8
