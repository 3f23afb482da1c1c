"""The report builder on small fixture results: table values, the Δ rows, missing results, pages, metrics, plots."""

import json
from pathlib import Path

import pytest
import yaml

from dsta.core.errors import DataError
from reporting import build as rb
from reporting.markdown import MAIN_HEADER
from reporting.results import DATASETS
from reporting.rows import DASH

GROUPS = ["Head", "Shou", "Elb", "Wri", "Hip", "Knee", "Ankl"]


def _eval(total, groups=None, split=True):
    groups = groups or {g: total for g in GROUPS}
    out = {**groups, "Total": total, "per_joint": [total] * 15, "num_frames": 10, "boxes": "gt"}
    if split:
        out["split"] = {
            "field": "corrupted",
            "true": {"Total": total - 2, "num_frames": 4},
            "false": {"Total": total + 1, "num_frames": 6},
        }
    return out


def _profile(gflops, params=1_000_000, streaming=None):
    def mode(g, passes):
        return {
            "backbone_passes": passes,
            "gflops": {"total": g, "backbone": g * 0.9, "head": g * 0.1},
            "latency": {"median_ms": 5.0, "p25_ms": 4.5, "p75_ms": 5.5, "batch": 1},
            "throughput": {"fps": 200.0, "batch": 32, "median_ms": 160.0},
            "memory_forward": {"peak_mib": 42.0, "increase_mib": 30.0},
        }

    modes = {"clip": mode(gflops, 3 if streaming else 1)}
    if streaming:
        modes["streaming"] = mode(streaming, 1)
    return {
        "params": {"total": params, "backbone": params - 1000, "head": 1000},
        "modes": modes,
        "memory_train_step": {"peak_mib": 100.0, "batch": 8},
        "env": {
            "device": "Test CPU (2 logical CPUs)",
            "torch": "2.15.0",
            "dtype": "float32",
            "threads": 2,
            "commit": "abc1234",
        },
    }


def _experiment(dataset, model, frames, backbone="resnet18", size=(48, 64)):
    return {
        "data": {
            "name": dataset,
            "input_size": list(size),
            "boxes": "gt",
            "val_ann": "annotations/val",
            "image_root": ".",
        },
        "model": {"name": model, "kwargs": {"backbone": backbone, "num_frames": frames}},
        "train": {"epochs": 3, "batch_size": 32, "lr": 1e-3},
    }


@pytest.fixture
def results(tmp_path):
    params = {
        "experiments": {
            "dsta_t3": _experiment("synthetic", "dsta", 3),
            "rle": _experiment("synthetic", "rle", 1),
            "dsta_r50_t3": _experiment("posetrack18", "dsta", 3, "resnet50", (192, 256)),
        }
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    ref = {
        "citations": {"dsta": "He & Yang, CVPR 2024", "x": "Someone"},
        "columns": [*GROUPS, "Mean"],
        "posetrack18": [
            {
                "method": "DSTA",
                "backbone": "ResNet-50",
                "T": 3,
                "input": "256x192",
                "kind": "regression",
                "frames": "multi",
                "boxes": "detected",
                "ap": [85.0, 80.0, 75.0, 70.0, 65.0, 60.0, 55.0, 70.0],
                "cite": "dsta",
                "match": "dsta_r50_t3",
            },
            {
                "method": "Other",
                "backbone": None,
                "T": None,
                "input": None,
                "ap": [None, None, None, None, None, None, None, 66.6],
                "cite": "x",
            },
        ],
    }
    (tmp_path / "reference.yaml").write_text(yaml.safe_dump(ref))
    for key, ev in {
        "dsta_t3": _eval(30.0),
        "dsta_r50_t3": _eval(72.0, {g: 80.0 - i for i, g in enumerate(GROUPS)}, split=False),
    }.items():
        (tmp_path / "eval" / key).mkdir(parents=True)
        (tmp_path / "eval" / key / "metrics.json").write_text(json.dumps(ev))
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "dsta_t3.json").write_text(json.dumps(_profile(0.36, 11_540_000, streaming=0.121)))
    (tmp_path / "runs" / "dsta_t3").mkdir(parents=True)
    (tmp_path / "runs" / "dsta_t3" / "metrics.json").write_text(
        json.dumps(
            {
                "epochs": 3,
                "train_seconds": 80.0,
                "untrained_val_mAP": 0.1,
                "val": {"Total": 30.0},
                "history": [{"epoch": -1, "val_mAP": 0.1}, {"epoch": 0, "loss": 1.0, "val_mAP": 20.0}],
            }
        )
    )
    (tmp_path / "profiles" / "paper").mkdir()
    (tmp_path / "profiles" / "paper" / "dsta_r50_t3.json").write_text(json.dumps(_profile(12.08, streaming=4.03)))
    (tmp_path / "profiles" / "paper" / "rle_r50.json").write_text(json.dumps(_profile(4.026)))
    (tmp_path / "data" / "posetrack17").mkdir(parents=True)
    (tmp_path / "data" / "posetrack17" / "NOT_CONFIGURED.json").write_text(
        json.dumps({"configured": False, "reason": "no source configured: set datasets.posetrack17.source"})
    )
    return tmp_path


def _build(root: Path, plots=False, **options):
    """The report of the fixture's outputs in ``root/out`` (``options``: build's keyword arguments)."""
    return rb.build(
        root / "params.yaml",
        root / "reference.yaml",
        root / "runs",
        root / "eval",
        root / "profiles",
        root / "bench.json",
        root / "data",
        root / "out",
        plots=plots,
        **options,
    )


def _rows(page: str, source: str) -> list[list[str]]:
    """The main-table rows whose Source cell starts with ``source`` (``this run [1]``, ``Δ vs``, ``[``)."""
    rows = [
        [c.strip() for c in line.strip().strip("|").split("|")] for line in page.splitlines() if line.startswith("| ")
    ]
    return [r for r in rows if len(r) == len(MAIN_HEADER) and r[-1].startswith(source)]


def test_tables_show_measured_values_and_deltas(results):
    _build(results)
    synth = (results / "out" / "synthetic.md").read_text()
    (dsta,) = _rows(synth, "this run [2]")  # RLE (single-frame) comes first in the reproduced block
    header = MAIN_HEADER
    cell = dict(zip(header, dsta))
    assert cell["Method"] == "DSTA" and cell["T"] == "3" and cell["Input"] == "64x48"
    assert cell["Boxes"] == "GT" and cell["Init"] == "scratch"
    assert cell["Mean"] == "30.0" and cell["Head"] == "30.0"
    assert "GFLOPs" not in " ".join(header)  # the papers' layout; efficiency has its own table
    assert "| 0.360 (0.324 + 36.00 M) |" in synth  # the head in MFLOPs, never 0.0000
    assert "Test CPU" in synth and "commit abc1234" in synth
    # the clean/corrupted split and the ablation
    assert "| dsta_t3 | DSTA | 3 | 30.0 | 31.0 (6) | 28.0 (4) | -3.0 |" in synth

    pt18 = (results / "out" / "posetrack18.md").read_text()
    (delta,) = _rows(pt18, "Δ vs [dsta]")
    d = dict(zip(header, delta))
    assert d["Head"] == "-5.0"  # 80.0 reproduced vs 85.0 reported
    assert d["Shoulder"] == "-1.0" and d["Mean"] == "+2.0"
    reported = {r[0]: dict(zip(header, r)) for r in _rows(pt18, "[")}
    assert len(reported) == 2 and reported["Other"]["Mean"] == "66.6" and reported["Other"]["Head"] == DASH
    assert reported["DSTA"]["Boxes"] == "detected" and reported["DSTA"]["Init"] == "paper"


def test_released_rows_beside_the_reported_and_retrained_ones(results):
    """A released entry evaluated here: its row first, a Δ to the reported row it matches, and under the retrained
    row a Δ to the released row; its footnote names its config and weights, and nothing asks for its profile."""
    params = yaml.safe_load((results / "params.yaml").read_text())
    params["released"] = {
        "dsta_r50_t3": {
            **_experiment("posetrack18", "dsta", 3, "resnet50", (192, 256)),
            "weights": "weights/dsta.pth",
            "match": "dsta_r50_t3",
            "test": {"flip": False},
        }
    }
    del params["released"]["dsta_r50_t3"]["train"]
    (results / "params.yaml").write_text(yaml.safe_dump(params))
    (results / "eval" / "released" / "dsta_r50_t3").mkdir(parents=True)
    (results / "eval" / "released" / "dsta_r50_t3" / "metrics.json").write_text(json.dumps(_eval(75.0, split=False)))
    out = _build(results)
    pt18 = (results / "out" / "posetrack18.md").read_text()
    (released,) = _rows(pt18, "released weights, evaluated here [1]")
    assert dict(zip(MAIN_HEADER, released))["Mean"] == "75.0" and dict(zip(MAIN_HEADER, released))["T"] == "3"
    (vs_reported, retrained_vs_reported) = _rows(pt18, "Δ vs [dsta]")
    assert dict(zip(MAIN_HEADER, vs_reported))["Mean"] == "+5.0"  # 75.0 released vs 70.0 reported
    (vs_released,) = _rows(pt18, "Δ vs [1]")
    assert dict(zip(MAIN_HEADER, vs_released))["Mean"] == "-3.0"  # 72.0 retrained vs 75.0 released
    assert "`released.dsta_r50_t3` of params.yaml" in pt18 and "released weights weights/dsta.pth, no training" in pt18
    assert not any("released/dsta_r50_t3" in m and "profile" in m for m in out["missing"])
    latex = (results / "out" / "latex" / "posetrack18.tex").read_text()
    assert "DSTA (released weights, evaluated here)" in latex


def test_missing_results_are_dashes_and_listed(results):
    out = _build(results)
    synth = (results / "out" / "synthetic.md").read_text()
    (rle,) = _rows(synth, "this run [1]")
    assert dict(zip(MAIN_HEADER, rle))["Mean"] == DASH
    assert "`rle`: no evaluation yet" in synth and "`rle`: no profile yet" in synth
    assert any("rle" in m for m in out["missing"])


def test_not_configured_dataset_has_reported_rows_only(results):
    _build(results)
    page = (results / "out" / "posetrack17.md").read_text()
    assert "Not configured here" in page and "datasets.posetrack17.source" in page
    assert not _rows(page, "this run")


def test_index_metrics_and_csv(results):
    _build(results)
    index = (results / "out" / "README.md").read_text()
    for ds in DATASETS:
        assert f"]({ds}.md)" in index
    assert "streaming GFLOPs per frame / RLE-R50 GFLOPs per frame: 1.0010" in index
    assert "He & Yang, CVPR 2024" in index
    metrics = json.loads((results / "out" / "metrics.json").read_text())
    assert metrics["dsta_t3"]["mAP"] == 30.0 and metrics["dsta_t3"]["gflops_streaming"] == 0.121
    assert metrics["dsta_t3"]["mAP_corrupted"] == 28.0
    assert metrics["rle"] == {}
    csv = (results / "out" / "per_joint.csv").read_text().splitlines()
    assert csv[0] == "experiment,joint,AP" and len(csv) == 1 + 2 * 15


def test_plots_render(results):
    _build(results, plots=True)
    figures = results / "out" / "figures"
    names = sorted(p.name for p in figures.glob("*.png"))
    assert "synthetic_map_vs_gflops.png" in names and "paper_gflops.png" in names
    assert "synthetic_training.png" in names and "posetrack18_per_joint.png" in names
    for p in figures.glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000
    assert "figures/synthetic_map_vs_gflops.png" in (results / "out" / "synthetic.md").read_text()


def test_bad_reference_names_the_field(results):
    (results / "reference.yaml").write_text("columns: []\n")
    with pytest.raises(DataError, match="citations"):
        _build(results)


def test_footnotes_name_the_commit_and_machine_of_their_own_numbers(results):
    prov = {
        "commit": "eee5555",
        "dirty": False,
        "machine": {"cpu": "Eval CPU (8 logical CPUs)", "gpu": "NVIDIA H100"},
        "torch": "2.15.0",
    }
    path = results / "eval" / "dsta_t3" / "metrics.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "provenance": prov}))
    _build(results)
    synth = (results / "out" / "synthetic.md").read_text()
    (note,) = [line for line in synth.splitlines() if line.startswith("[2] ")]
    assert "AP: commit eee5555, on NVIDIA H100" in note  # the evaluation's own provenance
    assert "efficiency: commit abc1234, on Test CPU (2 logical CPUs)" in note  # the profile's
    assert "**Mixed provenance**" in synth and "eee5555" in synth and "abc1234" in synth


def test_one_provenance_no_warning(results):
    for key in ("dsta_t3", "dsta_r50_t3"):
        path = results / "eval" / key / "metrics.json"
        path.write_text(
            json.dumps(
                {
                    **json.loads(path.read_text()),
                    "provenance": {
                        "commit": "abc1234",
                        "dirty": False,
                        "machine": {"cpu": "Test CPU (2 logical CPUs)", "gpu": None},
                    },
                }
            )
        )
    _build(results)
    assert "Mixed provenance" not in (results / "out" / "posetrack18.md").read_text()


def test_latex_tables_beside_the_markdown(results):
    _build(results)
    latex = results / "out" / "latex"
    assert sorted(p.name for p in latex.glob("*.tex")) == [  # no timing run here: no speed tables
        "paper-efficiency-cost.tex",
        "posetrack17.tex",
        "posetrack18.tex",
        "posetrack21.tex",
        "preamble.tex",
        "synthetic-efficiency-cost.tex",
        "synthetic.tex",
    ]
    pt18 = (latex / "posetrack18.tex").read_text()
    assert r"\toprule" in pt18 and r"\bottomrule" in pt18 and r"\begin{table*}" in pt18
    assert "Method & Backbone & $T$ & Boxes & Head & Shoulder & Elbow & Wrist & Hip & Knee & Ankle & Mean \\\\" in pt18
    assert r"\emph{Regression-based, multi-frame}" in pt18  # the field's groups
    assert r"DSTA~\cite{dsta} & ResNet-50 & 3 & detected & 85.0" in pt18  # alone in its group: nothing bold
    assert r"DSTA~\cite{dsta} (repro., scratch) & ResNet-50 & 3 & GT & 80.0" in pt18  # its paper, cited
    assert "Δ" not in pt18 and "GFLOPs" not in pt18
    eff = (latex / "synthetic-efficiency-cost.tex").read_text()
    assert "GFLOPs" in eff and "0.360" in eff and "Latency" not in eff  # cost only: no time
    assert "Fwd MiB: peak memory of a forward pass at batch 1" in eff and "at batch 8" in eff  # what memory counts
    assert "CPU: the peak resident-memory rise" in eff
    assert r"\cite{posetrack}" in pt18  # the dataset's paper
    synth = (latex / "synthetic.tex").read_text()
    assert "footnotes" not in synth and "evaluated at commit" in synth and "epochs" in synth  # said in the caption
    assert "](latex/synthetic.tex)" in (results / "out" / "synthetic.md").read_text()


def test_latex_escapes():
    from reporting.latex import escape

    assert escape("a_b & 50% #1") == r"a\_b \& 50\% \#1"


def test_readme_block_is_generated_between_the_markers(results):
    readme = results / "README.md"
    readme.write_text(f"# title\n\nbefore\n{rb.README_BEGIN}\nstale 99.9\n{rb.README_END}\nafter\n")
    _build(results, readme=readme)
    text = readme.read_text()
    assert text.startswith("# title\n\nbefore\n") and text.endswith(f"{rb.README_END}\nafter\n")
    assert "stale 99.9" not in text
    assert "| dsta_t3 | scratch | 30.0 | – | 31.0 | 28.0 | – | 0.360 | 0.121 | 80 |" in text  # no robustness run here
    assert "streaming GFLOPs per frame / RLE-R50 GFLOPs per frame: 1.0010." in text  # the index's sentences


def test_readme_without_markers_is_an_error(results):
    readme = results / "README.md"
    readme.write_text("# no markers\n")
    with pytest.raises(DataError, match="results block"):
        rb.update_readme(readme, "x\n")


def test_project_readme_has_no_hand_typed_results():
    """The project README's results come from the report: its block is the generated one."""
    text = (Path(rb.__file__).resolve().parents[1] / "README.md").read_text()
    assert text.count(rb.README_BEGIN) == 1 and text.count(rb.README_END) == 1


def test_synthetic_page_and_metrics_carry_the_claims(results):
    _build(results)
    page = (results / "out" / "synthetic.md").read_text()
    assert "## The paper's claims on this set" in page and "| DSTA T=3 beats single-frame RLE (val mAP) |" in page
    assert "One seed per experiment" in page  # no "Over seeds" table promising a spread it cannot show
    claims = json.loads((results / "out" / "metrics.json").read_text())["claims"]
    # the fixture has no rle_ft control: that claim is listed as not measured, never guessed
    assert claims["t3_beats_rle"]["verdict"] == "not measured"
    assert claims["streaming_cost"]["verdict"] in {"holds", "does not hold"}


def test_side_by_side_ratios_come_from_interleaved_runs_only(tmp_path):
    """The report's time ratios: the benchmark stage's side-by-side entries and the committed device runs, each with
    its spread and commit; other benchmarks and profiler-table runs give no row."""
    from reporting.markdown import side_by_side_table
    from reporting.results import load_side_by_side

    ratio = {"median": 1.02, "p25": 1.01, "p75": 1.03, "min": 0.99, "max": 1.05}
    bench = [
        {
            "name": "test_dsta_streaming_over_rle_per_frame[x]",
            "commit": "abc1234",
            "extra": {
                "ratio": ratio,
                "ratio_rounds": [1.0, 1.02, 1.04],
                "batch": 32,
                "input_size": [48, 64],
                "options": {"dtype": "bf16", "channels_last": True},
                "reference": "rle_tiny:clip",
                "entry": "dsta_tiny:streaming",
                "env": {"device": "Test CPU", "device_type": "cpu", "threads": 1, "torch": "2.x"},
            },
        },
        {"name": "test_forward_latency_bs1[rle_tiny]", "commit": "abc1234", "extra": {}},
    ]
    doc = {
        "kind": "side_by_side",
        "reference": "rle_r50:clip",
        "input_size": [192, 256],
        "options": {"dtype": "fp16", "cuda_graphs": True},
        "env": {"device": "Test GPU", "device_type": "cuda", "threads": 16, "torch": "2.y", "commit": "def5678"},
        "batches": {
            "1": {
                "ratio": {"dsta_r50:streaming": {**ratio, "median": 1.6, "rounds": [1.6, 1.6]}},
                "ms_per_call": {"rle_r50:clip": {"median": 0.9}, "dsta_r50:streaming": {"median": 1.44}},
            }
        },
    }
    folder = tmp_path / "profiles" / "side_by_side" / "gpu_test"
    folder.mkdir(parents=True)
    (folder / "b1.json").write_text(json.dumps(doc))
    (folder / "tables.json").write_text(json.dumps({**doc, "op_tables": {"x": "table"}}))
    rows = load_side_by_side(bench, tmp_path / "profiles")
    assert [(r["device"], r["batch"], r["ratio"]["median"]) for r in rows] == [
        ("Test CPU", 32, 1.02),
        ("Test GPU", 1, 1.6),
    ]
    text = side_by_side_table(rows)
    assert "| Test CPU | 64x48 | 32 | bf16 + channels-last | **1.020** [1.010, 1.030] | 0.990-1.050 | 3 |" in text
    assert "| Test GPU | 256x192 | 1 | fp16 + CUDA graphs | **1.600**" in text and "0.90 / 1.44" in text
    assert "def5678" in text and "abc1234" in text and "| Rounds | RLE / DSTA ms per call |" in text


def test_ours_over_the_release_rows_are_their_own_comparison(tmp_path):
    """The ours / release ratios (benchmark stage and device runs whose reference is the release's forward) load
    apart from the DSTA / RLE ones, and the index page prints them in a table of their own."""
    from reporting.data import ReportData
    from reporting.markdown import side_by_side_table
    from reporting.pages import index_page
    from reporting.results import load_side_by_side

    ratio = {"median": 0.98, "p25": 0.96, "p75": 1.01, "min": 0.95, "max": 1.04}
    env = {"device": "Test CPU", "device_type": "cpu", "threads": 2, "torch": "2.x"}
    bench = [
        {
            "name": "test_dsta_over_the_release_forward[bs8-fp32]",
            "commit": "abc1234",
            "extra": {
                "ratio": ratio,
                "ratio_rounds": [0.96, 0.98, 1.01],
                "batch": 8,
                "input_size": [192, 256],
                "options": {},
                "reference": "official_dsta_r50:clip",
                "entry": "dsta_r50:clip",
                "env": env,
            },
        },
        {
            "name": "test_dsta_streaming_over_rle_per_frame[x]",
            "commit": "abc1234",
            "extra": {
                "ratio": ratio,
                "ratio_rounds": [1.0],
                "batch": 1,
                "input_size": [192, 256],
                "options": {},
                "reference": "rle_r50:clip",
                "entry": "dsta_r50:streaming",
                "env": env,
            },
        },
    ]
    folder = tmp_path / "profiles" / "side_by_side" / "gpu_test"
    folder.mkdir(parents=True)
    for name, ref, entry in (
        ("release", "official_dsta_r50:clip", "dsta_r50:clip"),
        ("rle", "rle_r50:clip", "dsta_r50:streaming"),
    ):
        doc = {
            "kind": "side_by_side",
            "reference": ref,
            "input_size": [192, 256],
            "options": {"dtype": "fp16"},
            "env": {**env, "device": "Test GPU", "device_type": "cuda", "commit": "def5678"},
            "batches": {
                "64": {
                    "ratio": {entry: {**ratio, "median": 0.9, "rounds": [0.9, 0.9]}},
                    "ms_per_call": {ref: {"median": 10.0}, entry: {"median": 9.0}},
                }
            },
        }
        (folder / f"{name}.json").write_text(json.dumps(doc))
    release = load_side_by_side(bench, tmp_path / "profiles", "ours_over_release")
    rle = load_side_by_side(bench, tmp_path / "profiles")
    assert [(r["device"], r["batch"], r["entry"]) for r in release] == [
        ("Test CPU", 8, "dsta_r50:clip"),
        ("Test GPU", 64, "dsta_r50:clip"),
    ]
    assert [r["entry"] for r in rle] == ["dsta_r50:streaming", "dsta_r50:streaming"]
    text = side_by_side_table(release, "ours / release per clip", "release / ours ms per call")
    assert (
        "ours / release per clip, median [p25, p75]" in text
        and "| release / ours ms per call |" in text
        and "| Test GPU | 256x192 | 64 | fp16 | **0.900**" in text
    )
    report = ReportData(
        pages=(),
        experiments=(),
        paper={},
        timings={},
        benchmarks=(),
        side_by_side=tuple(rle),
        release_side_by_side=tuple(release),
        claims=(),
        reference={"citations": {}},
        commit="abc1234",
    )
    page = index_page(report, {})
    assert "our DSTA-R50 / the released forward" in page and "**0.980** [0.960, 1.010]" in page


def test_benchmark_commit_comes_from_the_projects_provenance(tmp_path):
    """pytest-benchmark's commit_info calls a tree dirty when pipeline outputs changed; the block that
    benchmarks/conftest.py adds looks at the source only, and wins where present."""
    from reporting.results import load_benchmarks

    bench = {
        "benchmarks": [{"name": "b", "stats": {"median": 0.1, "iqr": 0.01, "min": 0.09, "rounds": 3}}],
        "machine_info": {"cpu": {"brand_raw": "Test CPU"}},
        "commit_info": {"id": "abcdef0123", "dirty": True},
    }
    path = tmp_path / "results.json"
    path.write_text(json.dumps(bench))
    assert load_benchmarks(path)[0]["commit"] == "abcdef0 (dirty tree)"
    path.write_text(json.dumps({**bench, "provenance": {"commit": "abcdef0", "dirty": False}}))
    assert load_benchmarks(path)[0]["commit"] == "abcdef0"


def test_cost_table_shows_the_fast_mode_speedup_and_no_time():
    from reporting.markdown import cost_table
    from reporting.rows import Model

    def spread(values):
        return {"median": sorted(values)[len(values) // 2], "min": min(values), "max": max(values), "rounds": values}

    plain, timed = _profile(4.0), _profile(4.0, streaming=1.0)
    for mode in timed["modes"].values():
        mode["fast"] = {
            "label": "bf16+cl",
            "base": "fp32",
            "options": {"dtype": "bf16", "channels_last": True, "compile": False, "cuda_graphs": False},
            "latency": {"batch": 1, "fast_ms": spread([2.5, 2.4, 2.6]), "speedup": spread([2.0, 1.9, 2.1])},
            "throughput": {"batch": 32, "fps": 400.0, "speedup": spread([1.5, 1.4, 1.6])},
        }
    models = [
        Model("RLE", "ResNet-50", 1, "256x192", "", "a", plain),
        Model("DSTA", "ResNet-50", 3, "256x192", "", "b", timed),
    ]
    lines = cost_table(models).splitlines()
    assert "Latency" not in lines[0] and "FPS" not in lines[0]  # times live in the speed table only
    assert lines[2].endswith("| 42 | 100 | – | – |")  # untimed fast mode: dashes, the columns still line up
    assert lines[3].endswith("| bf16 + channels-last | 2.00x [1.90, 2.10] |")
    assert len({line.count("|") for line in lines}) == 1


@pytest.mark.parametrize("where, field", [("eval", "Total"), ("runs", "val.Total")])
def test_malformed_metrics_file_is_one_line(results, capsys, where, field):
    path = results / where / "dsta_t3" / "metrics.json"
    doc = json.loads(path.read_text())
    (doc if where == "eval" else doc["val"])["Total"] = "n/a"
    path.write_text(json.dumps(doc))
    with pytest.raises(SystemExit):
        rb.main(
            [
                "--params",
                str(results / "params.yaml"),
                "--reference",
                str(results / "reference.yaml"),
                "--runs",
                str(results / "runs"),
                "--eval",
                str(results / "eval"),
                "--profiles",
                str(results / "profiles"),
                "--benchmarks",
                str(results / "bench.json"),
                "--data",
                str(results / "data"),
                "--out",
                str(results / "out"),
                "--no-plots",
            ]
        )
    assert capsys.readouterr().err.strip() == f"error: {path}: {field}: expected a number or null, got 'n/a'"
    assert not (results / "out").exists()


def _timing_doc(section="experiments"):
    def ms(values):
        return {
            "median": sorted(values)[1],
            "p25": min(values),
            "p75": max(values),
            "min": min(values),
            "max": max(values),
            "rounds": values,
        }

    return {
        "kind": "side_by_side",
        "section": section,
        "reference": "rle:clip",
        "env": {"device": "Test CPU", "torch": "2.15.0", "threads": 2, "commit": "abc1234", "dtype": "float32"},
        "protocol": {"warmup": 1, "iters": 3, "rounds": 3},
        "batches": {
            "1": {
                "ms_per_call": {
                    "rle:clip": ms([10.0, 11.0, 12.0]),
                    "dsta_t3:clip": ms([30.0, 33.0, 36.0]),
                    "dsta_t3:streaming": ms([10.0, 12.0, 13.0]),
                }
            },
            "8": {
                "ms_per_call": {
                    "rle:clip": ms([40.0, 40.0, 40.0]),
                    "dsta_t3:clip": ms([100.0, 100.0, 100.0]),
                    "dsta_t3:streaming": ms([50.0, 50.0, 50.0]),
                }
            },
        },
    }


def test_speed_tables_and_the_streaming_claim_read_one_interleaved_run(results):
    (results / "profiles" / "side_by_side").mkdir()
    (results / "profiles" / "side_by_side" / "all_experiments.json").write_text(json.dumps(_timing_doc()))
    _build(results)
    page = (results / "out" / "synthetic.md").read_text()
    assert "| DSTA | ResNet-18 | 3 | scratch | streaming | 12.0 [10.0, 13.0] | 160.0 [160.0, 160.0] | 3 |" in page
    assert "ONE process" in page and "FPS (batch 8)" in page
    speed = (results / "out" / "latex" / "synthetic-efficiency-speed.tex").read_text()
    assert r"12.0 {\scriptsize [10.0, 13.0]}" in speed and "3 rounds of 3 calls" in speed
    claims = json.loads((results / "out" / "metrics.json").read_text())["claims"]
    # the fixture's control is "rle", not "rle_ft": no measured ratio, the counted one decides
    assert "time" not in claims["streaming_cost"]["measured"]


def test_streaming_claim_in_measured_time():
    from reporting.claims import measured_ratio, streaming_cost

    doc = _timing_doc()
    q = measured_ratio(doc, "dsta_t3", "rle")
    assert q["median"] == pytest.approx(13.0 / 12.0) and q["rounds"] == 3  # the median of the per-round ratios
    gpu = [
        {
            "device_type": "cuda",
            "batch": 1,
            "device": "GPU",
            "commit": "0000000",
            "ratio": {"median": 1.5},
            "stale": "1234567",
        }
    ]
    c = streaming_cost({}, [], None, gpu)
    assert "stale" in c.measured and c.verdict == "not measured"  # a stale run is shown, never counted
    cpu = {
        "device_type": "cpu",
        "batch": 1,
        "device": "Test CPU",
        "input_size": [192, 256],
        "options": {},
        "ratio": {"median": 1.02, "p25": 1.01, "p75": 1.04, "rounds": [1.0, 1.02, 1.04, 1.05]},
    }
    c = streaming_cost({}, [], None, [cpu, {**cpu, "batch": 32}, {**cpu, "options": {"dtype": "bf16"}}])
    assert c.verdict == "holds" and c.measured.count("ResNet-50 256x192 on Test CPU") == 1  # fp32 batch 1 only
    assert "1.02x [1.01, 1.04] over 4 rounds (holds)" in c.measured
    c = streaming_cost({}, [], None, [{**cpu, "ratio": {**cpu["ratio"], "p25": 1.2, "p75": 1.3}}])
    assert c.verdict == "does not hold"


def test_several_seeds_give_one_row_with_mean_and_sd(results):
    params = yaml.safe_load((results / "params.yaml").read_text())
    params["experiments"]["dsta_t3-s1"] = {**params["experiments"]["dsta_t3"], "train": {"seed": 1}}
    (results / "params.yaml").write_text(yaml.safe_dump(params))
    (results / "eval" / "dsta_t3-s1").mkdir()
    (results / "eval" / "dsta_t3-s1" / "metrics.json").write_text(json.dumps(_eval(32.0)))
    _build(results)
    synth = (results / "out" / "synthetic.md").read_text()
    (dsta,) = _rows(synth, "this run [2]")
    assert dict(zip(MAIN_HEADER, dsta))["Mean"] == "31.0 ± 1.4 (2 seeds)"
    assert "## Appendix: per-seed rows" in synth and "| dsta_t3 | `dsta_t3-s1` | 1 |" in synth
    assert r"31.0$\pm$1.4" in (results / "out" / "latex" / "synthetic.tex").read_text()


def test_stale_timing_compares_with_the_timed_code():
    from reporting.results import stale_timing

    assert stale_timing("unknown") is None and stale_timing(None) is None
    assert stale_timing("HEAD") is None  # HEAD contains every change to the timed code


def test_timed_code_ignores_docstrings_layout_and_import_grouping():
    """A timing is stale only when the code it timed changed: a reformatted file, a rewritten docstring or comment,
    or imports regrouped (ruff's isort) leave it current; a changed expression does not."""
    from reporting.results import _code

    before = 'from a import b, c as d\n\ndef f(x):\n    """Doc."""\n    return b(x) + d(x)  # sum\n'
    after = (
        'from a import b\nfrom a import c as d\n\n\ndef f(\n    x,\n):\n    """Other words."""\n'
        "    return b(x) + d(x)\n"
    )
    assert _code(before) == _code(after)
    assert _code(before) != _code(before.replace("+ d(x)", "- d(x)"))
    # a module that moved (dsta.keypoints -> dsta.core.keypoints), imported under its old and its new name
    assert _code("from dsta import keypoints as kp\nfrom dsta.rle import rle_loss\n") == _code(
        "from dsta.core import keypoints as kp\nfrom dsta.nn.rle_flow import rle_loss\n"
    )


def test_box_prior_rows_are_the_chance_level_of_the_table(results):
    """The robustness stage's box prior (detected and GT boxes) is a block of its own in the Markdown and the LaTeX
    main table, with its columns as scored and a footnote that says where it came from."""
    from tests.test_robustness_report import _metrics

    cols = {g: 10.0 + i for i, g in enumerate(("Head", "Shou", "Elb", "Wri", "Hip", "Knee", "Ankl"))}
    doc = _metrics(3, 35.0, 31.0)
    doc["box_prior"] = {
        "boxes": 12.0,
        "gt_boxes": 25.0,
        "columns": {"boxes": {**cols, "Total": 12.0}, "gt_boxes": {**cols, "Total": 25.0}},
    }
    (results / "robustness" / "dsta_t3").mkdir(parents=True)
    (results / "robustness" / "dsta_t3" / "metrics.json").write_text(json.dumps(doc))
    _build(results, robustness=results / "robustness")
    page = (results / "out" / "synthetic.md").read_text()
    detected, gt = _rows(page, "chance level")
    assert dict(zip(MAIN_HEADER, detected))["Mean"] == "12.0" and dict(zip(MAIN_HEADER, gt))["Mean"] == "25.0"
    assert dict(zip(MAIN_HEADER, detected))["Boxes"] == "detected" and dict(zip(MAIN_HEADER, gt))["Boxes"] == "GT"
    assert "box prior: the mean training pose" in page and "robustness/dsta_t3/metrics.json" in page
    latex = (results / "out" / "latex" / "synthetic.tex").read_text()
    assert "Chance level (no image)" in latex and latex.count("Box prior (no image)") == 2


def test_box_prior_file_gives_the_chance_rows_of_a_report_without_robustness_runs(results):
    """The GPU report's case: no robustness run, the box_prior stage's file given (``--box-prior``): one GT-box row
    (its evaluations used GT boxes), the file and the commit of the data in the footnote; a file scored with other
    boxes than the page's evaluations is refused, naming the file and field."""
    cols = {g: 10.0 + i for i, g in enumerate(GROUPS)}
    prior = {
        "boxes": 25.0,
        "gt_boxes": 25.0,
        "boxes_file": "gt",
        "data": {"input_size": [48, 64]},
        "columns": {"boxes": {**cols, "Total": 25.0}, "gt_boxes": {**cols, "Total": 25.0}},
        "provenance": {"commit": "abc1234", "data_generated_at": "def5678"},
    }
    (results / "box_prior").mkdir()
    (results / "box_prior" / "synthetic.json").write_text(json.dumps(prior))
    _build(results, box_priors=results / "box_prior")
    page = (results / "out" / "synthetic.md").read_text()
    (row,) = _rows(page, "chance level")
    assert dict(zip(MAIN_HEADER, row))["Mean"] == "25.0" and dict(zip(MAIN_HEADER, row))["Boxes"] == "GT"
    assert "box_prior/synthetic.json" in page and "generated at commit def5678" in page
    assert "Box prior (no image)" in (results / "out" / "latex" / "synthetic.tex").read_text()
    (results / "box_prior" / "synthetic.json").write_text(json.dumps({**prior, "boxes_file": "boxes/det.json"}))
    with pytest.raises(DataError, match=r"synthetic.json.*boxes_file.*\['gt'\]"):
        _build(results, box_priors=results / "box_prior")


def test_bold_mean_respects_the_seeds_spread():
    """The GPU table's case: T=5 (one seed, 54.9) and T=3 (54.8 +- 0.7 over two seeds) tie in the Mean column; a
    per-joint column, which has no spread, bolds its best value alone; a value outside the sd is not bold."""
    from reporting.rows import AP_COLUMNS, Row, best_in_block

    def row(mean, spread=None, seeds=1, head=50.0):
        return Row(
            "reproduced",
            "DSTA",
            "ResNet-18",
            3,
            "64x48",
            [head] + [40.0] * (len(AP_COLUMNS) - 2) + [mean],
            spread=spread,
            seeds=seeds,
        )

    t5, t3, t1 = row(54.9, head=51.0), row(54.8, 0.7, 2), row(53.0, 0.5, 2)
    marks = best_in_block([t5, t3, t1])
    mean = len(AP_COLUMNS) - 1
    assert mean in marks[0] and mean in marks[1] and mean not in marks[2]
    assert 0 in marks[0] and 0 not in marks[1]  # Head: 51.0 vs 50.0, no spread to tie within


def test_bold_compares_rows_with_the_same_boxes_only():
    """posetrack18.tex's case: HRNet 84.6 with GT boxes is not bolded above DSTA 83.4 with detected boxes; each box
    kind has its own best (alone in its kind: no bold)."""
    from reporting.rows import AP_COLUMNS, Row, best_in_block

    def row(mean, boxes):
        return Row("reported", "X", "R", 3, "", [None] * (len(AP_COLUMNS) - 1) + [mean], boxes=boxes)

    marks = best_in_block([row(84.6, "GT"), row(83.4, "detected"), row(82.0, "detected")])
    mean = len(AP_COLUMNS) - 1
    assert mean not in marks[0] and mean in marks[1] and mean not in marks[2]


def test_committed_latex_says_nothing_it_does_not_hold():
    """Every committed LaTeX table (CPU and GPU reports): no caption that points to footnotes (the LaTeX has notes
    under the table, the footnotes live in the Markdown), no table whose every number is a dash, no unknown batch."""
    import re

    root = Path(__file__).resolve().parents[1] / "reports"
    tables = [
        p
        for p in [*root.glob("latex/*.tex"), *root.glob("synthetic_gpu/latex/*.tex")]
        if p.name not in ("preamble.tex", "figures.tex")
    ]
    assert len(tables) >= 10
    for path in tables:
        text = path.read_text()
        caption = re.search(r"\\caption\{(.*)\}\n\\label", text, re.S).group(1)
        assert "footnote" not in caption.lower(), path.name
        body = text.split(r"\midrule", 1)[1].split(r"\bottomrule")[0]
        rows = [line for line in body.splitlines() if line.endswith(r"\\") and "multicolumn" not in line]
        numeric = [
            sum(bool(re.match(r"(\\textbf\{)?\$?-?[\d.]+", c.strip())) for c in row[:-2].split("&")[1:]) for row in rows
        ]
        assert rows and max(numeric) >= 2, (path.name, "an empty table")  # a row's T alone is no result
        assert "batch ?" not in text, path.name
