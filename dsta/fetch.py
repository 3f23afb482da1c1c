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
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import shutil
import tarfile
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from dsta.config import load_params_section
from dsta.data.marker import NOT_CONFIGURED
from dsta.errors import DataError, main_guard
from dsta.io import atomic_dir, write_json

REPO = Path(__file__).resolve().parents[1]
MANIFEST = "MANIFEST.json"
CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def is_url(source: str) -> bool:
    return urllib.parse.urlparse(source).scheme in ("http", "https", "file")


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
    except (OSError, http.client.HTTPException) as err:  # URLError, HTTPError, timeouts, connection resets: keep the .part for the next run
        raise DataError(url, "source", f"download failed ({err}); run the stage again to resume "
                                       f"({part.stat().st_size if part.is_file() else 0} bytes kept in {part})") \
            from None
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
    """Unpack ``archive`` into the (new) directory ``dest``; returns the number of members."""
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
            manifest = {"dataset": dataset, "configured": False,
                        "reason": f"no source configured: set datasets.{dataset}.source (a local archive, directory "
                                  f"or URL) in configs/fetch/{dataset}.yaml, then `python -m dsta.config`"}
            write_json(tmp / NOT_CONFIGURED, manifest, indent=2)
        else:
            source = str(source)
            if is_url(source):
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
                manifest.update(kind="archive", sha256=verify(archive, expected, f"datasets.{dataset}.sha256"),
                                sha256_pinned=bool(expected), bytes=archive.stat().st_size,
                                members=extract(archive, tmp / "data"))
            write_json(tmp / MANIFEST, manifest, indent=2)
    return manifest


@main_guard
def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--dataset", required=True, help="a key of datasets in params")
    p.add_argument("--out", required=True)
    p.add_argument("--downloads", default="data/downloads", help="where archives are downloaded (and resumed)")
    a = p.parse_args(argv)
    cfg = load_params_section(a.params, f"datasets.{a.dataset}")
    manifest = fetch(a.dataset, cfg, Path(a.out), Path(a.downloads))
    print(f"{a.dataset}: " + ("fetched" if manifest["configured"] else "not configured") + f" -> {a.out}")
    return manifest


if __name__ == "__main__":
    main()
