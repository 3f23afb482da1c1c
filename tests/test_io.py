"""dsta.core.io: atomic writes, the clean-up of what killed writes left, and output paths checked before any work."""

import pytest

from dsta.core.errors import DataError
from dsta.core.io import atomic_path, check_out_dir, check_out_file, remove_stale_temps, write_json


def test_remove_stale_temps_takes_only_what_atomic_writes_leave(tmp_path):
    write_json(tmp_path / "metrics.json", {"Total": 1.0})
    (tmp_path / ".metrics.json.k1lled_x.tmp").write_text("{half")  # atomic_path's temp file
    (tmp_path / ".predictions.ab12cd34").mkdir()  # atomic_dir's temp folder
    keep = [tmp_path / ".previous-run", tmp_path / ".dvc", tmp_path / ".gitignore", tmp_path / "notes.tmp"]
    keep[0].mkdir(), keep[1].mkdir(), keep[2].write_text("x"), keep[3].write_text("x")
    removed = remove_stale_temps(tmp_path)
    assert sorted(p.name for p in removed) == [".metrics.json.k1lled_x.tmp", ".predictions.ab12cd34"]
    assert all(p.exists() for p in keep) and (tmp_path / "metrics.json").is_file()


def test_a_failed_atomic_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(path, {"Total": 1.0})
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_text("{half")
            raise RuntimeError("killed")
    assert path.read_text() == '{"Total": 1.0}\n' and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_output_paths_are_checked_before_any_work(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="exists and is not a directory"):
        check_out_dir(tmp_path / "file")
    with pytest.raises(DataError, match="a file where a directory is needed"):
        check_out_dir(tmp_path / "file" / "sub")
    with pytest.raises(DataError, match="is a directory, expected a file path"):
        check_out_file(tmp_path)
    assert check_out_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # checked, not made
