"""File helpers: JSON that fails with a clear message, and writes that never leave a half-written file."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from dsta.core.errors import DataError

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"  # the Hydra config groups (dsta.config composes them)


def load_json(path: str | Path) -> Any:
    """Read a JSON file; a missing or malformed file raises DataError naming it (and the line/column).

    orjson parses; where it refuses (malformed text, or the NaN/Infinity literals Python writes), the standard
    parser reads the file again, to name the exact place or to let the caller report the non-finite value by field.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataError(path, None, "file not found") from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(raw)
    except json.JSONDecodeError as err:
        raise DataError(path, f"line {err.lineno} column {err.colno}", f"malformed JSON ({err.msg})") from None
    except UnicodeDecodeError as err:
        raise DataError(path, None, f"not UTF-8 text ({err.reason})") from None


def load_yaml(path: str | Path) -> Any:
    """Read a YAML file; a missing or malformed file raises DataError naming it (and the line)."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise DataError(path, None, "file not found") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else None
        raise DataError(path, where, f"malformed YAML ({getattr(err, 'problem', None) or err})") from None


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a new temporary directory beside ``path``; on success it replaces ``path`` (a directory, file or link
    already there is removed), on failure it is removed, so ``path`` is never half-written."""
    import shutil

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``, on failure removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    """Write text atomically (temp file, then rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, obj: Any, indent: int | None = None) -> None:
    """Write JSON atomically. NaN/inf are refused: they are not JSON."""
    write_text(path, json.dumps(obj, indent=indent, allow_nan=False) + "\n")


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write bytes atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


# -- output paths, checked before any work ------------------------------------------------------------------------
def _probe_dir(directory: Path, field: str) -> None:
    """Create and remove a file in ``directory`` (a permission check that also holds for root and read-only mounts)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-check.", suffix=".tmp", dir=directory)
    except OSError as err:
        raise DataError(directory, field, f"not writable ({err.strerror})") from None
    os.close(fd)
    os.unlink(probe)


def check_out_dir(path: str | Path, field: str = "--out") -> Path:
    """An output directory: created if missing; a file in its place, or a directory that cannot be written, is a
    DataError before any work is done (not after it, when the result would be lost)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DataError(path, field, "exists and is not a directory")
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise DataError(existing, field, "a file where a directory is needed")
    _probe_dir(existing, field)
    return path


def check_out_file(path: str | Path, field: str = "--out") -> Path:
    """An output file: not a directory, and its (nearest existing) parent directory writable."""
    path = Path(path)
    if path.is_dir():
        raise DataError(path, field, "is a directory, expected a file path")
    check_out_dir(path.parent, field)
    return path


def remove_stale_temps(directory: str | Path) -> list[Path]:
    """Remove what killed atomic writes left in ``directory`` (``atomic_path``'s ``.NAME.*.tmp`` files and
    ``atomic_dir``'s ``.NAME.*`` folders); an entry point calls it on its own output directory before writing there,
    so no other process's write is in flight. Returns what was removed."""
    import shutil

    directory = Path(directory)
    if not directory.is_dir():
        return []
    removed = []
    for entry in directory.iterdir():
        name = entry.name
        if not name.startswith("."):
            continue
        stale_file = name.endswith(".tmp") and entry.is_file()
        stale_dir = entry.is_dir() and not entry.is_symlink() and _is_atomic_dir_name(name)
        if stale_file:
            entry.unlink()
        elif stale_dir:
            shutil.rmtree(entry, ignore_errors=True)
        else:
            continue
        removed.append(entry)
    return removed


def _is_atomic_dir_name(name: str) -> bool:
    """``atomic_dir`` names its folder ``.NAME.XXXXXXXX`` (``tempfile.mkdtemp``: 8 random characters)."""
    stem, dot, suffix = name[1:].rpartition(".")
    return bool(stem) and bool(dot) and len(suffix) == 8 and suffix.replace("_", "").isalnum()


def sha256_of(path: str | Path) -> str:
    """The sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
