"""The fetch stage: bring one PoseTrack release onto this machine, verified, and unpacked.

``python -m dsta.fetch --params params.yaml --dataset posetrack18 --out data/raw/posetrack18
[--downloads data/downloads]``

The dataset's entry in params (``datasets.<name>``) says where it comes from:

* ``source``: a local archive (``.zip``, ``.tar``, ``.tar.gz``/``.tgz``), a local directory that already holds the
  unpacked release, or an ``http(s)://`` / ``file://`` URL of an archive. Relative paths are taken from the
  repository root. PoseTrack's licence does not allow redistribution, so no source is set by default.
* ``sha256``: the archive's checksum. When set, a mismatch is an error and the archive is not used; when not set,
  the computed checksum is written to the manifest (pin it in ``configs/datasets``).

Downloads go to ``--downloads`` as ``<file>.part`` and resume with an HTTP ``Range`` request after an interruption;
the finished file is renamed into place and reused by later runs. Extraction goes to a temporary directory beside
``--out`` that is renamed to ``--out`` only when complete; archive members that would land outside it are refused.
A directory source is linked, not copied (``OUT/data`` -> the directory).

With no source configured, ``OUT/NOT_CONFIGURED.json`` says so and the stage succeeds: ``dsta.prepare`` passes the
marker on and the report shows the dataset as not configured. Every run writes ``OUT/MANIFEST.json`` (source,
checksum, size, member count).

``python -m dsta.fetch --params params.yaml --weights --out data/weights`` is the weights stage: every file of
``weights`` (``configs/weights/NAME.yaml``: ``file``, ``source``, ``sha256``, ``where``, ``used_by``) that an
experiment of the matrix names as ``model.kwargs.pretrained`` is made present and verified: kept when already at
``file``, else copied or downloaded (resumably) from ``source``; a missing file without a source is an error naming
the file, the experiments and where to get it. It writes ``OUT/<experiment>.json`` with the sha256 of each file the
experiment starts from (``{}`` for none); each train stage depends on its own, so replacing a file retrains exactly
the experiments that use it. (A ``pretrained`` path that is not in ``weights`` is a file the pipeline makes itself,
which its own stage tracks.) A ``released`` entry's ``weights`` file (a released checkpoint evaluated without
training) is handled the same way; its manifest is ``OUT/released/<name>.json``, which its convert_released stage
depends on.
"""

from __future__ import annotations

import argparse
import http.client
import lzma
import os
import shutil
import tarfile
import urllib.parse
import urllib.request
import zipfile
import zlib
from pathlib import Path

from dsta.config import PRETRAIN_DIR, load_params_section
from dsta.core.errors import DataError, doc_summary, main_guard
from dsta.core.io import atomic_dir, atomic_path, check_out_dir, load_yaml, sha256_of, write_json
from dsta.data.marker import NOT_CONFIGURED

REPO = Path(__file__).resolve().parents[1]
MANIFEST = "MANIFEST.json"
RELEASED = "released"  # the manifests of the released entries: OUT/released/NAME.json
CHUNK = 1 << 20


URL_SCHEMES = ("http", "https", "file")


def is_url(source: str, field: str = "source") -> bool:
    """``source`` is a URL the fetch stage downloads; a URL of another scheme (``ftp://``, ``s3://``) is refused
    here rather than taken for a local path that is then "not found"."""
    scheme = urllib.parse.urlparse(source).scheme
    if scheme in URL_SCHEMES:
        return True
    if "://" in source:
        raise DataError(
            source,
            field,
            f"unsupported URL scheme {scheme!r}: use {', '.join(URL_SCHEMES)} or a "
            f"local path (fetch the file by hand and point at it)",
        )
    return False


def download(url: str, dest: Path, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest``, resuming from ``dest.part`` when a previous attempt was cut off."""
    if dest.is_file():
        return dest
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = getattr(response, "status", None) or response.getcode()
            resumed = have > 0 and status == 206
            length = response.headers.get("Content-Length")
            expected = (have if resumed else 0) + int(length) if length is not None else None
            with open(part, "ab" if resumed else "wb") as f:
                shutil.copyfileobj(response, f, CHUNK)
        if expected is not None and part.stat().st_size != expected:
            raise OSError(f"connection closed after {part.stat().st_size} of {expected} bytes")
    except (
        OSError,
        http.client.HTTPException,
    ) as err:  # URLError, HTTPError, timeouts, connection resets: keep the .part for the next run
        raise DataError(
            url,
            "source",
            f"download failed ({err}); run the stage again to resume "
            f"({part.stat().st_size if part.is_file() else 0} bytes kept in {part})",
        ) from None
    os.replace(part, dest)
    return dest


def archive_name(url: str) -> str:
    name = Path(urllib.parse.urlparse(url).path).name
    return name or "archive"


def verify(path: Path, expected: str | None, field: str) -> str:
    actual = sha256_of(path)
    if expected and actual.lower() != str(expected).lower():
        raise DataError(path, field, f"sha256 mismatch: expected {expected}, got {actual}")
    return actual


def _safe_members(names: list[str], archive: Path) -> None:
    for name in names:
        target = Path(name)
        if target.is_absolute() or ".." in target.parts:
            raise DataError(archive, name, "archive member would be written outside the output directory")


def extract(archive: Path, dest: Path) -> int:
    """Unpack ``archive`` into the (new) directory ``dest``; returns the number of members. A truncated or corrupt
    archive (or a file that only bears the suffix) is a DataError naming it."""
    try:
        return _extract(archive, dest)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError) as err:
        if isinstance(err, OSError) and err.errno is not None:  # the disk, not the archive (full, no permission)
            raise
        raise DataError(
            archive, "source", f"truncated or corrupt archive ({type(err).__name__}: {err}); download it again"
        ) from None


def _extract(archive: Path, dest: Path) -> int:
    name = archive.name.lower()
    if name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            names = z.namelist()
            _safe_members(names, archive)
            z.extractall(dest)
        return len(names)
    if name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
        with tarfile.open(archive) as t:
            members = t.getmembers()
            _safe_members([m.name for m in members], archive)
            for m in members:
                if m.issym() or m.islnk():
                    raise DataError(archive, m.name, "links inside the archive are not extracted")
            t.extractall(dest, filter="data")
        return len(members)
    raise DataError(archive, "source", "unknown archive type (expected .zip, .tar, .tar.gz, .tgz, .tar.bz2, .tar.xz)")


def fetch(dataset: str, cfg: dict, out: Path, downloads: Path) -> dict:
    """Fetch one dataset as configured; returns the manifest written to ``out``."""
    source = cfg.get("source")
    expected = cfg.get("sha256")
    with atomic_dir(out) as tmp:
        if not source:
            manifest = {
                "dataset": dataset,
                "configured": False,
                "reason": f"no source configured: set datasets.{dataset}.source (a local archive, directory "
                f"or URL) in configs/fetch/{dataset}.yaml, then `python -m dsta.config`",
            }
            write_json(tmp / NOT_CONFIGURED, manifest, indent=2)
        else:
            source = str(source)
            if is_url(source, f"datasets.{dataset}.source"):
                archive = download(source, Path(downloads) / archive_name(source))
            else:
                path = Path(source) if Path(source).is_absolute() else REPO / source
                if not path.exists():
                    raise DataError(path, f"datasets.{dataset}.source", "not found")
                archive = path
            manifest = {"dataset": dataset, "configured": True, "source": source}
            if archive.is_dir():
                (tmp / "data").symlink_to(archive.resolve(), target_is_directory=True)
                manifest.update(kind="directory")
            else:
                manifest.update(
                    kind="archive",
                    sha256=verify(archive, expected, f"datasets.{dataset}.sha256"),
                    sha256_pinned=bool(expected),
                    bytes=archive.stat().st_size,
                    members=extract(archive, tmp / "data"),
                )
            write_json(tmp / MANIFEST, manifest, indent=2)
    return manifest


def pretrained_file(cfg: dict) -> str | None:
    """The weights file an experiment starts from (``model.kwargs.pretrained`` when it is a path), else None."""
    value = (cfg.get("model", {}).get("kwargs", {}) or {}).get("pretrained")
    return None if value in (None, "imagenet") else str(value)


def weights_entry(weights: dict, file: str) -> tuple[str, dict] | None:
    """The ``weights`` entry (name, config) whose ``file`` is ``file``."""
    for name, entry in (weights or {}).items():
        if Path(str(entry.get("file", ""))) == Path(file):
            return name, entry
    return None


def _where(name: str, entry: dict) -> str:
    source = entry.get("source")
    return (
        f"get it from {entry.get('where') or 'its source'}"
        + (f" (source: {source})" if source else "")
        + f"; configs/weights/{name}.yaml"
    )


def where_to_get(weights: dict, file: str) -> str:
    """Where to get ``file``, as its ``weights`` entry says."""
    found = weights_entry(weights, file)
    return _where(*found) if found else "it is not in configs/weights: add an entry with its source and sha256"


def pretrain_of(params: dict, file: str) -> tuple[str, str] | None:
    """The ``pretrain`` entry (name, its dataset) whose exported backbone is ``file`` (``pretrain/NAME/FILE``, the
    pretrain stage's output, as ``dsta.config`` reads such a path), else None."""
    parts = Path(file).parts
    pretrain = params.get("pretrain") or {}
    if len(parts) != 3 or parts[0] != PRETRAIN_DIR or parts[1] not in pretrain:
        return None
    return parts[1], str(((pretrain[parts[1]] or {}).get("data") or {}).get("name", "synthetic"))


def require_weights(params: str | Path, experiment: str, cfg: dict) -> None:
    """Before training: the experiment's weights file must be there. A missing one is an error naming the file, the
    experiment and where to get it (never a silent start from random init)."""
    file = pretrained_file(cfg)
    if file is None or Path(file).is_file():
        return
    doc = load_yaml(params) or {}
    made = pretrain_of(doc, file)
    if made is not None:  # a backbone this pipeline makes: its pretraining is the fix, not a download
        name, data = made
        raise DataError(
            file,
            f"experiments.{experiment}.model.kwargs.pretrained",
            f"not made yet: the pretrain stage writes it (`dvc repro pretrain@{name}`, or `python -m dsta.train "
            f"--params {params} --section pretrain --experiment {name} --data-root data/{data} --out "
            f"runs/pretrain/{name} --export-backbone {file}`); a fresh clone has it (git holds it)",
        )
    where = where_to_get(doc.get("weights") or {}, file)
    raise DataError(
        file,
        f"experiments.{experiment}.model.kwargs.pretrained",
        f"weights file not found; {where}; `python -m dsta.fetch --params {params} --weights "
        f"--out data/weights` fetches and verifies it",
    )


def fetch_weights(weights: dict, experiments: dict, out: Path, downloads: Path, released: dict | None = None) -> dict:
    """The weights stage (see the module docstring); returns ``{experiment: {name: {file, sha256}}}``, where a
    ``released`` entry's key is ``released/NAME`` (its manifest ``OUT/released/NAME.json``) and its file ``weights``."""
    starts = {exp: pretrained_file(cfg) for exp, cfg in experiments.items()}
    starts.update({f"{RELEASED}/{key}": str(cfg["weights"]) for key, cfg in (released or {}).items()})
    used: dict[str, list[str]] = {}
    per_experiment: dict[str, dict] = {}
    for exp, file in sorted(starts.items()):
        per_experiment[exp] = {}
        if file is None:
            continue
        found = weights_entry(weights, file)
        if found is None:  # made by the pipeline itself (a pretrain stage's backbone), which tracks it
            per_experiment[exp][file] = {"file": file, "tracked": "not a configs/weights file"}
            continue
        used.setdefault(found[0], []).append(exp)
    digests = {}
    for name, exps in sorted(used.items()):
        entry = weights[name]
        file = Path(str(entry["file"]))
        if not file.is_file():
            source = entry.get("source")
            if not source:
                raise DataError(
                    file,
                    f"weights.{name}.source",
                    f"weights file not found and no source configured; used by {exps}; {_where(name, entry)}",
                )
            source = str(source)
            if is_url(source, f"weights.{name}.source"):
                got = download(source, Path(downloads) / f"{name}-{archive_name(source)}")
            else:
                got = Path(source) if Path(source).is_absolute() else REPO / source
                if not got.is_file():
                    raise DataError(got, f"weights.{name}.source", "not found")
            verify(got, entry.get("sha256"), f"weights.{name}.sha256")
            file.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(file) as tmp:
                shutil.copyfile(got, tmp)
        digests[name] = verify(file, entry.get("sha256"), f"weights.{name}.sha256")
        if not entry.get("sha256"):
            print(
                f"weights.{name}: sha256 not pinned; {file} has {digests[name]} (pin it in configs/weights/{name}.yaml)"
            )
    with atomic_dir(out) as tmp:
        (tmp / RELEASED).mkdir()
        for exp in per_experiment:
            file = starts[exp]
            if file is not None and weights_entry(weights, file) is not None:
                name = weights_entry(weights, file)[0]
                per_experiment[exp][name] = {"file": str(weights[name]["file"]), "sha256": digests[name]}
            write_json(tmp / f"{exp}.json", per_experiment[exp], indent=2)
    return per_experiment


@main_guard
def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=doc_summary(__doc__))
    p.add_argument("--params", default="params.yaml")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--dataset", help="a key of datasets in params")
    what.add_argument("--weights", action="store_true", help="the weights stage: the matrix's pretrained files")
    p.add_argument("--out", required=True)
    p.add_argument("--downloads", default="data/downloads", help="where archives are downloaded (and resumed)")
    a = p.parse_args(argv)
    check_out_dir(Path(a.out).parent)  # --out itself is replaced whole (dsta.core.io.atomic_dir)
    if a.weights:
        doc = load_yaml(a.params) or {}
        result = fetch_weights(
            doc.get("weights") or {},
            doc.get("experiments") or {},
            Path(a.out),
            Path(a.downloads),
            doc.get("released") or {},
        )
        used = sorted({n for v in result.values() for n in v})
        print(f"weights: {', '.join(used) if used else 'none needed'} -> {a.out}")
        return result
    cfg = load_params_section(a.params, f"datasets.{a.dataset}")
    manifest = fetch(a.dataset, cfg, Path(a.out), Path(a.downloads))
    print(f"{a.dataset}: " + ("fetched" if manifest["configured"] else "not configured") + f" -> {a.out}")
    return manifest


if __name__ == "__main__":
    main()
