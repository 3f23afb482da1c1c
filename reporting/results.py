"""Reading what the pipeline produced: one ``Experiment`` per entry of params.yaml with its evaluation, training
record and profile (None where a stage has not run), the paper-size profiles, the benchmark rows and each dataset's
status; and the flat, machine-readable forms of the results (``metrics.json`` for ``dvc metrics``, the per-joint CSV
for ``dvc plots``).

Torch-free: a model's kind and T come from its config, not from the model (``Experiment.kind``).
"""

from __future__ import annotations

import ast
import csv
import functools
import io
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dsta.config import base_name
from dsta.core import keypoints as kp
from dsta.core.configs import num_frames_of
from dsta.core.errors import DataError
from dsta.core.io import load_json, load_yaml
from dsta.core.provenance import from_env, legacy
from dsta.core.registry import plugin
from dsta.data.marker import not_configured
from dsta.evaluate import load as load_split
from dsta.evaluate.bootstrap import matched, matched_split
from reporting.labels import backbone_label, method_label

DATASETS = ("synthetic", "posetrack17", "posetrack18", "posetrack21")
GROUPS = [c for c in kp.POSEVAL_COLUMNS if c != "Total"]  # Head, Shou, Elb, Wri, Hip, Knee, Ankl
RELEASED = "released"  # a released entry's key is released/NAME; its evaluation eval/released/NAME (dvc.yaml)
#: what "peak memory" counts on each device type (benchmarks/profiling/memory.py), for tables and figures alike
MEMORY_COUNTERS = {
    "cpu": "the peak resident-memory rise over the call plus the resident tensors",
    "cuda": "torch.cuda.max_memory_allocated",
}
# what a DSTA timing depends on
CORRUPTED = "corrupted"  # the synthetic GT images' flag the clean vs corrupted split uses (dsta.predict)
TIMED_CODE = ("dsta/models/dsta.py", "dsta/models/dsta_fused.py", "dsta/nn/attention.py", "dsta/nn/layers.py")


def _optional_json(path: Path) -> dict | None:
    return load_json(path) if path.is_file() else None


def _check_scores(path: Path, doc: dict | None, where: str = "") -> None:
    """The AP columns of an evaluation (``where=""``) or of a training record's ``val`` must be numbers or null (NaN
    written as JSON): a hand-edited ``Total: "n/a"`` is one error naming the file and the field, not a traceback."""
    node = doc if not where else (doc or {}).get(where)
    if not isinstance(node, dict):
        return
    for column in kp.POSEVAL_COLUMNS:
        value = node.get(column)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise DataError(
                path, f"{where + '.' if where else ''}{column}", f"expected a number or null, got {value!r}"
            )
    if doc is not None and where == "val":
        value = doc.get("untrained_val_mAP")
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise DataError(path, "untrained_val_mAP", f"expected a number or null, got {value!r}")


@dataclass(frozen=True)
class Experiment:
    """Everything the pipeline produced for one experiment of params.yaml (None where it has not run)."""

    key: str
    config: dict
    evaluation: dict | None = None
    training: dict | None = None
    profile: dict | None = None
    skipped: str | None = None  # why train/evaluate skipped it (dataset not fetched); then there is no evaluation
    paths: dict[str, Path] = field(default_factory=dict)  # the file each record came from
    robustness: dict | None = None  # the robustness stage's metrics (reporting.robustness.attach)
    matched: Any = None  # the evaluator's matched arrays of its val predictions, for the bootstrap (the same)
    matched_split: dict = field(default_factory=dict)  # the same for the corrupted ("true") and clean ("false") frames

    def provenance(self, record: str) -> dict | None:
        """The provenance of the file a number came from (``"evaluation"``, ``"training"`` or ``"profile"``): its
        own ``provenance`` block; for a profile without one its ``env``; else what git knows of the file."""
        data = getattr(self, record)
        if not data:
            return None
        if data.get("provenance"):
            return data["provenance"]
        if record == "profile" and data.get("env"):
            return from_env(data["env"])
        return legacy(self.paths[record])

    @property
    def released(self) -> bool:
        """A released checkpoint evaluated here (``released.NAME`` of params.yaml), not trained here."""
        return self.key.startswith(f"{RELEASED}/")

    @property
    def dataset(self) -> str:
        return self.config["data"]["name"]

    @property
    def model(self) -> str:
        return self.config["model"]["name"]

    @property
    def kwargs(self) -> dict:
        return self.config["model"]["kwargs"]

    @property
    def kind(self) -> str:
        """``"heatmap"`` or ``"regression"``, from the config: a heatmap model's config has a ``heatmap`` section, a
        regression model's a ``loss`` section (tests/test_config.py checks this against the registry), so the report
        learns it without torch or the models."""
        return "heatmap" if "heatmap" in self.config["model"] else "regression"

    @property
    def num_frames(self) -> int:
        return num_frames_of(self.model, self.kwargs)

    def method(self) -> str:
        """The method's name in tables and figures: ours, or the label its plugin declares (``ModelPlugin.label``)."""
        return method_name(self.model, str(self.kwargs.get("backbone", "")))

    def cite(self) -> str | None:
        """The BibTeX key a plugin's model ships (``ModelPlugin.bibtex``; ``reports/latex/plugins.bib``), else None."""
        found = plugin(self.model)
        return bibtex_key(found.bibtex) if found and found.bibtex else None

    def init(self) -> str:
        """``pretrained`` (its backbone starts from a file: a pretrain stage's backbone or a checkpoint) or
        ``scratch``: what tells two runs of one architecture apart."""
        return "pretrained" if self.kwargs.get("pretrained") else "scratch"

    def frames_group(self) -> str:
        return "multi" if self.num_frames > 1 else "single"

    def backbone(self) -> str:
        return backbone_label(self.kwargs.get("backbone", ""), self.model)

    @property
    def seed(self) -> int:
        return int((self.config.get("train") or {}).get("seed", 0))

    def input_size(self) -> str:
        w, h = self.config["data"]["input_size"]
        return f"{h}x{w}"


def method_name(model: str, backbone: str = "") -> str:
    """A registry name's method name: ours (``labels.METHOD_NAMES``), a plugin's label, else the name itself."""
    found = plugin(model)
    return method_label(model, backbone, found.label if found else None)


def seed_groups(experiments: list[Experiment]) -> dict[str, list[Experiment]]:
    """Each experiment with its runs over the seed axis (``dsta_t3``, ``dsta_t3-s1`` -> ``dsta_t3``), groups in the
    order of their first run, runs in seed order."""
    groups: dict[str, list[Experiment]] = {}
    for e in experiments:
        groups.setdefault(base_name(e.key), []).append(e)
    return {name: sorted(runs, key=lambda e: e.seed) for name, runs in groups.items()}


def bibtex_key(entry: str) -> str | None:
    """``@misc{KEY, ...}`` -> ``KEY``."""
    match = re.match(r"\s*@\w+\s*\{\s*([^,\s]+)\s*,", entry)
    return match.group(1) if match else None


def plugin_bibtex(experiments: list[Experiment]) -> str:
    """The BibTeX entries of the plugins whose models the experiments train (``reports/latex/plugins.bib``)."""
    entries = {}
    for e in experiments:
        found = plugin(e.model)
        if found and found.bibtex and bibtex_key(found.bibtex):
            entries[bibtex_key(found.bibtex)] = found.bibtex.strip()
    return "".join(f"{text}\n" for _, text in sorted(entries.items()))


def load_experiments(params: Path, runs: Path, evals: Path, profiles: Path) -> list[Experiment]:
    doc = load_yaml(params) or {}
    exps = doc.get("experiments")
    if not isinstance(exps, dict) or not exps:
        raise DataError(params, "experiments", "no experiments")
    out = []
    for key, cfg in exps.items():
        evaluation = _optional_json(evals / key / "metrics.json")
        training = _optional_json(runs / key / "metrics.json")
        _check_scores(evals / key / "metrics.json", evaluation)
        _check_scores(runs / key / "metrics.json", training, "val")
        skipped = (evaluation or {}).get("skipped") or (training or {}).get("skipped")
        out.append(
            Experiment(
                key,
                cfg,
                None if skipped else evaluation,
                training,
                _optional_json(profiles / f"{key}.json"),
                skipped,
                {
                    "evaluation": evals / key / "metrics.json",
                    "training": runs / key / "metrics.json",
                    "profile": profiles / f"{key}.json",
                },
            )
        )
    return out


def load_released(params: Path, evals: Path) -> list[Experiment]:
    """One ``Experiment`` per ``released`` entry of params.yaml (a released checkpoint evaluated without training, by
    the evaluate_released stage): key ``released/NAME``, evaluation from ``EVAL/released/NAME/metrics.json``."""
    out = []
    for name, cfg in ((load_yaml(params) or {}).get("released") or {}).items():
        path = evals / RELEASED / name / "metrics.json"
        evaluation = _optional_json(path)
        skipped = (evaluation or {}).get("skipped")
        out.append(
            Experiment(
                f"{RELEASED}/{name}", cfg, None if skipped else evaluation, skipped=skipped, paths={"evaluation": path}
            )
        )
    return out


def load_robustness(folder: Path, experiments: list[Experiment]) -> dict[str, dict]:
    """``folder/KEY/metrics.json`` of each experiment that has one (and was not skipped)."""
    out = {}
    for e in experiments:
        path = folder / e.key / "metrics.json"
        if path.is_file():
            doc = load_json(path)
            if not doc.get("skipped"):
                out[e.key] = doc
    return out


def outside_models(folder: Path | None, experiments: list[Experiment]) -> list[Experiment]:
    """The outside models of ``folder``: a ``NAME/metrics.json`` that no experiment of params.yaml wrote, scored from
    prediction files (``python -m dsta.robustness_files score``: ``source: predictions``), as an experiment with its
    robustness metrics, named by its ``label``."""
    keys = {e.key for e in experiments}
    out = []
    for path in sorted(folder.glob("*/metrics.json")) if folder is not None else []:
        if path.parent.name in keys:
            continue
        doc = load_json(path)
        if doc.get("source") != "predictions":
            continue
        for key in ("label", "dataset", "num_frames"):
            if key not in doc:
                raise DataError(path, key, "missing (write it with python -m dsta.robustness_files score)")
        config = {
            "data": {"name": doc["dataset"]},
            "model": {"name": doc["label"], "kwargs": {"num_frames": doc["num_frames"]}},
        }
        out.append(Experiment(path.parent.name, config, robustness=doc, paths={"robustness": path}))
    return out


def with_robustness(experiments: list[Experiment], folder: Path | None, evals: Path, data: Path) -> list[Experiment]:
    """Each experiment with its robustness metrics (``folder/KEY/metrics.json``) and, on the synthetic set, the
    evaluator's matched arrays of its val predictions (``evals/KEY/predictions`` against the GT it was scored on),
    which the claims' paired bootstrap re-weights."""
    results = load_robustness(folder, experiments) if folder is not None else {}
    out = []
    for e in experiments:
        extra: dict[str, Any] = {"robustness": results.get(e.key)}
        preds = evals / e.key / "predictions"
        gt = data / e.dataset / e.config["data"].get("val_ann", "")
        if e.dataset == "synthetic" and e.evaluation and preds.is_dir() and gt.is_dir():
            loaded = load_split(gt, preds)
            extra.update(matched=matched(loaded), matched_split=matched_split(loaded, CORRUPTED))
        out.append(replace(e, **extra))
    return out


def load_paper_profiles(profiles: Path) -> dict[str, dict]:
    folder = profiles / "paper"
    return {p.stem: load_json(p) for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}


def load_benchmarks(path: Path) -> list[dict]:
    """pytest-benchmark's ``--benchmark-json`` output as rows (name, median ms, IQR, rounds, extra info)."""
    if not path.is_file():
        return []
    doc = load_json(path)
    rows = []
    for b in doc.get("benchmarks", []):
        s = b["stats"]
        rows.append(
            {
                "name": b["name"],
                "group": b.get("group"),
                "median_ms": s["median"] * 1e3,
                "iqr_ms": s["iqr"] * 1e3,
                "min_ms": s["min"] * 1e3,
                "rounds": s["rounds"],
                "extra": b.get("extra_info", {}),
            }
        )
    machine = doc.get("machine_info", {})
    # the project's provenance (source files only) where benchmarks/conftest.py wrote it; else pytest-benchmark's,
    # whose "dirty" also counts pipeline outputs
    prov = doc.get("provenance") or {}
    commit = {"id": prov["commit"], "dirty": prov.get("dirty")} if prov.get("commit") else doc.get("commit_info") or {}
    for r in rows:
        r["machine"] = f"{machine.get('cpu', {}).get('brand_raw', machine.get('processor', '?'))}"
        r["commit"] = (str(commit.get("id", ""))[:7] + (" (dirty tree)" if commit.get("dirty") else "")) or "unknown"
    return rows


def _side_by_side_rows(doc: dict, source: str) -> list[dict]:
    """One row per (batch, entry) of a side-by-side result (``benchmarks.profiling.side_by_side`` schema)."""
    env, rows = doc.get("env", {}), []
    for batch, b in doc.get("batches", {}).items():
        for label, ratio in b.get("ratio", {}).items():
            if label == doc.get("reference"):
                continue
            ms = b.get("ms_per_call", {})
            rows.append(
                {
                    "device": env.get("device", "?"),
                    "device_type": env.get("device_type", "?"),
                    "input_size": doc.get("input_size"),
                    "batch": int(batch),
                    "options": doc.get("options", {}),
                    "reference": doc.get("reference"),
                    "entry": label,
                    "ratio": ratio,
                    "reference_ms": (ms.get(doc.get("reference")) or {}).get("median"),
                    "entry_ms": (ms.get(label) or {}).get("median"),
                    "threads": env.get("threads"),
                    "torch": env.get("torch"),
                    "commit": env.get("commit", "unknown"),
                    "source": source,
                }
            )
    return rows


#: the ratios measured side by side, by comparison: (benchmark test name, reference entries' config prefix)
COMPARISONS = {
    "streaming_over_rle": ("test_dsta_streaming_over_rle_per_frame", "rle"),
    "ours_over_release": ("test_dsta_over_the_release_forward", "official_"),
}


def load_side_by_side(benchmarks: list[dict], profiles: Path, comparison: str = "streaming_over_rle") -> list[dict]:
    """Every time ratio of one comparison the report may print, each measured side by side (interleaved in one
    process): ``streaming_over_rle`` (DSTA streaming / RLE per frame) or ``ours_over_release`` (our DSTA-R50 clip
    forward / the release's, ``benchmarks.profiling.official_dsta``). Rows from the benchmark stage's entries of that
    comparison's test (this pipeline's machine), then from the committed device runs in
    ``profiles/side_by_side/gpu_*/`` (e.g. ``benchmarks/gpu_side_by_side.sh``) whose reference is that comparison's."""
    test, reference = COMPARISONS[comparison]
    rows = []
    for b in benchmarks:
        x = b["extra"]
        if not b["name"].startswith(test) or "ratio" not in x:
            continue
        env = x.get("env", {})
        rows.append(
            {
                "device": env.get("device", "?"),
                "device_type": env.get("device_type", "?"),
                "input_size": x.get("input_size"),
                "batch": x.get("batch"),
                "options": x.get("options", {}),
                "reference": x.get("reference"),
                "entry": x.get("entry"),
                "ratio": {**x["ratio"], "rounds": x.get("ratio_rounds", [])},
                "reference_ms": None,
                "entry_ms": None,
                "threads": env.get("threads"),
                "torch": env.get("torch"),
                "commit": b["commit"],
                "source": "benchmark stage",
            }
        )
    for path in sorted(profiles.glob("side_by_side/gpu_*/*.json")):
        doc = load_json(path)
        if (
            doc.get("kind") == "side_by_side"
            and not doc.get("op_tables")  # a profiler-table run times nothing new
            and str(doc.get("reference", "")).startswith(reference)
        ):
            rows += _side_by_side_rows(doc, str(path.relative_to(profiles.parent)))
    for r in rows:  # a timing older than the DSTA code it timed says so
        r["stale"] = stale_timing(str(r["commit"]).split(" ")[0])
    return rows


def load_timings(profiles: Path) -> dict[str, dict]:
    """The interleaved timing runs of whole params sections (``profiles/side_by_side/all_SECTION.json``, the
    ``side_by_side`` stage), by section: every latency and FPS a report table prints comes from one of these."""
    out = {}
    for path in sorted(profiles.glob("side_by_side/all_*.json")):
        doc = load_json(path)
        if doc.get("kind") == "side_by_side":
            out[doc.get("section") or path.stem[len("all_") :]] = {**doc, "_path": str(path)}
    return out


def timing(doc: dict | None, key: str, mode: str, batch: str | None = None) -> dict | None:
    """One model's timing in one mode from an interleaved run: ``{"batch", "ms": {median, p25, p75, min, max,
    rounds}, "fps": {median, p25, p75}}`` at batch 1 (``batch=None``) or at the run's other batch."""
    if not doc:
        return None
    batches = sorted(doc.get("batches", {}), key=int)
    pick = "1" if batch is None else batch
    if pick not in batches:
        return None
    ms = (doc["batches"][pick].get("ms_per_call") or {}).get(f"{key}:{mode}")
    if not ms:
        return None
    b = int(pick)
    # FPS per round from that round's median time per call; its quartiles mirror those of the time
    return {
        "batch": b,
        "ms": ms,
        "rounds": len(ms.get("rounds", [])),
        "fps": {"median": b / ms["median"] * 1e3, "p25": b / ms["p75"] * 1e3, "p75": b / ms["p25"] * 1e3},
    }


def throughput_batch(doc: dict | None) -> str | None:
    """The run's batch other than 1 (its FPS batch), as the key of ``batches``."""
    others = [b for b in (doc or {}).get("batches", {}) if b != "1"]
    return max(others, key=int) if others else None


#: modules that moved (former name -> current), so an import of the same module under its former name is the same code
MOVED_MODULES = {
    **{f"dsta.{m}": f"dsta.core.{m}" for m in ("keypoints", "errors", "io", "provenance", "registry")},
    "dsta.checks": "dsta.core.configs",
    **{f"dsta.{m}": f"dsta.nn.{m}" for m in ("layers", "attention", "backbones", "checkpoint")},
    "dsta.rle": "dsta.nn.rle_flow",
    "dsta.draw": "dsta.data.draw",
}
#: where each moved file lived (current path -> former path), so a timing made before a move compares the code it
#: timed with today's
FORMER_PATHS = {new.replace(".", "/") + ".py": old.replace(".", "/") + ".py" for old, new in MOVED_MODULES.items()}


def _imported(module: str, name: str, asname: str) -> tuple[str, str, str]:
    """An import as (module, name, alias) under the modules' current names."""
    full = f"{module}.{name}" if module else name
    if full in MOVED_MODULES:  # from dsta import keypoints as kp
        module, _, name = MOVED_MODULES[full].rpartition(".")
        return module, name, asname or full.rpartition(".")[2]
    return MOVED_MODULES.get(module, module), name, asname


def _code(source: str) -> str:
    """A module's code without its docstrings, comments or layout (its AST, dumped, the module's imports as a sorted
    set, however they are grouped into statements): what a timing depends on."""
    tree = ast.parse(source)
    imports = sorted(
        _imported(getattr(node, "module", None) or "", alias.name, alias.asname or "")
        for node in tree.body
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    )
    tree.body = [node for node in tree.body if not isinstance(node, (ast.Import, ast.ImportFrom))]
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return repr(imports) + ast.dump(tree)


def _timed_code(revision: str | None, paths: tuple[str, ...]) -> tuple[str | None, ...]:
    """The code of ``paths`` at ``revision`` (a commit; None: the working tree), each None where it is absent."""
    import subprocess

    from dsta.core.provenance import REPO

    out = []
    for path in paths:
        if revision is None:
            file = REPO / path
            out.append(_code(file.read_text()) if file.is_file() else None)
            continue
        text = None
        for candidate in (path, FORMER_PATHS.get(path)):
            if candidate is None:
                continue
            r = subprocess.run(["git", "show", f"{revision}:{candidate}"], cwd=REPO, capture_output=True, text=True)
            if r.returncode == 0:
                text = r.stdout
                break
        out.append(_code(text) if text is not None else None)
    return tuple(out)


@functools.cache  # every row of one timing run asks the same question: git is asked once
def stale_timing(commit: str | None, paths: tuple[str, ...] = TIMED_CODE) -> str | None:
    """Whether a timing made at ``commit`` predates the code it timed: the first later commit at which that code
    differs from the commit's (docstrings, comments, formatting and moves do not count: the code's AST is compared).
    Returns that commit (short; "uncommitted changes" for the working tree), or None (the same code, or git cannot
    tell)."""
    import subprocess

    from dsta.core.provenance import REPO

    sha = (commit or "").split("-")[0].split()[0] if commit else ""
    if not sha or sha == "unknown":
        return None
    try:
        timed = _timed_code(sha, paths)
        if all(c is None for c in timed):
            return None  # the commit is not in this repository's history
        every = [*paths, *(FORMER_PATHS[p] for p in paths if p in FORMER_PATHS)]
        later = subprocess.run(
            ["git", "log", "--reverse", "--format=%h", f"{sha}..HEAD", "--", *every],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError, SyntaxError):
        return None
    for revision in later:
        if _timed_code(revision, paths) != timed:
            return revision
    return "uncommitted changes" if _timed_code(None, paths) != timed else None


def dataset_status(data: Path, name: str) -> dict:
    folder = data / name
    marker = not_configured(folder)
    if marker is not None:
        return {"configured": False, **marker}
    summary = _optional_json(folder / "dataset.json")
    return {"configured": folder.is_dir(), **(summary or {})}


def flat_metrics(experiments: list[Experiment]) -> dict:
    out = {}
    for e in experiments:
        rec: dict[str, Any] = {}
        if e.evaluation:
            rec["mAP"] = e.evaluation.get("Total")
            for g in GROUPS:
                rec[f"AP_{g}"] = e.evaluation.get(g)
            split = e.evaluation.get("split") or {}
            if split:
                rec["mAP_clean"] = (split.get("false") or {}).get("Total")
                rec["mAP_corrupted"] = (split.get("true") or {}).get("Total")
        if e.profile:
            clip = e.profile["modes"]["clip"]
            rec.update(
                params=e.profile["params"]["total"],
                gflops=(clip.get("gflops") or {}).get("total"),
                fps=clip["throughput"]["fps"],
                latency_ms=clip["latency"]["median_ms"],
                peak_mem_mib=(clip.get("memory_forward") or {}).get("peak_mib"),
            )
            if "streaming" in e.profile["modes"]:
                rec["gflops_streaming"] = (e.profile["modes"]["streaming"].get("gflops") or {}).get("total")
        if e.training and "train_seconds" in e.training:
            rec["train_seconds"] = e.training["train_seconds"]
        out[e.key] = rec
    return out


def per_joint_csv(experiments: list[Experiment]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["experiment", "joint", "AP"])
    for e in experiments:
        for name, ap in zip(kp.POSEVAL_JOINT_NAMES, (e.evaluation or {}).get("per_joint") or []):
            w.writerow([e.key, name, f"{ap:.4f}"])
    return buf.getvalue()
