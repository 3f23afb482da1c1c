"""The one error type's plumbing: every command's ``--help`` starts with its docstring's whole first paragraph."""

import ast
from pathlib import Path

from dsta.core.errors import DataError, doc_summary

ROOT = Path(__file__).resolve().parents[1]


def test_error_names_file_and_field():
    assert str(DataError("a.json", "x[1]", "bad")) == "a.json: x[1]: bad"
    assert str(DataError(None, None, "bad")) == "bad"


def test_every_command_describes_itself_in_whole_sentences():
    """``--help`` of convert_rle and convert_dcpose used to stop at the docstring's first line ("e.g. the COCO");
    every command that describes itself with ``doc_summary`` now prints the first paragraph, ending a sentence."""
    commands = [p for p in ROOT.glob("*/**/*.py") if ".venv" not in p.parts and "doc_summary(__doc__)" in p.read_text()]
    assert len(commands) >= 15
    for path in commands:
        text = doc_summary(ast.get_docstring(ast.parse(path.read_text()), clean=False))
        assert text.endswith((".", ")", "`")) and "\n" not in text and len(text) > 20, path
    assert doc_summary("One line\ncontinued.\n\nMore.") == "One line continued."
