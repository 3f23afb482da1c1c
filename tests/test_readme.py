"""The README's quick start, run as written (the commands are read from its block, so the block cannot drift), in a
fresh folder beside the committed pretrained backbone; and every ``python -m`` command the README and the pages in
``docs/`` show names a module that exists and flags that module takes."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))  # the README's detail pages


def blocks(text: str) -> list[tuple[str, str]]:
    """(the heading above, the text) of every ```sh block."""
    out: list[tuple[str, str]] = []
    heading, block = "", None
    for line in text.splitlines():
        if block is None and line.startswith("#"):
            heading = line
        elif block is None and line == "```sh":
            block = []
        elif block is not None and line == "```":
            out.append((heading, "\n".join(block) + "\n"))
            block = None
        elif block is not None:
            block.append(line)
    return out


def commands(block: str) -> list[str]:
    """The block's commands: continuation lines joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", block)
    return [line.split("  #")[0].strip() for line in joined.splitlines() if line.strip() and not line.startswith("#")]


def quick_start() -> list[str]:
    (block,) = [b for h, b in blocks(README.read_text()) if h.startswith("## Quick start")]
    return commands(block)


def test_the_quick_start_block_is_the_chain_a_newcomer_needs():
    modules = [re.search(r"python -m (\S+)", c).group(1) for c in quick_start()]
    assert modules == ["dsta.data.synthetic", "dsta.config", "dsta.train", "dsta.predict", "dsta.demo"]


@pytest.mark.slow
def test_the_quick_start_runs_as_written(tmp_path):
    """About a minute: the synthetic default's data, one epoch of DSTA T=3, its predictions, a skeleton video."""
    (tmp_path / "pretrain").symlink_to(ROOT / "pretrain")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    said = []
    for command in quick_start():
        r = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert r.returncode == 0, f"{command}\n{r.stderr[-2000:]}"
        said.append(r.stdout.strip().splitlines()[-1])
    assert (tmp_path / "runs" / "quick" / "last.pt").is_file() and (tmp_path / "demo.gif").stat().st_size > 0
    assert said[2].startswith("wrote runs/quick/metrics.json and runs/quick/last.pt: val mAP ")
    assert "clean" in said[3] and "corrupted" in said[3] and "ms per frame" in said[4]


def test_every_command_the_readme_shows_exists_with_its_flags(capsys):
    """Each ``python -m MODULE --flag ...`` of the README and of docs/*.md: the module's ``--help`` (run in this
    process) lists every flag the page passes it."""
    import importlib

    assert DOCS, "docs/*.md: the README's detail pages are missing"
    seen: dict[tuple[str, str], set[str]] = {}  # (module, subcommand) -> flags
    where: dict[tuple[str, str], set[str]] = {}  # (module, subcommand) -> the pages that show it
    for page in [README, *DOCS]:
        for _, block in blocks(page.read_text()):
            for command in commands(block):
                for m in re.finditer(r"python -m (\S+)([^|;&]*)", command):
                    args = shlex.split(m.group(2), comments=True)
                    sub = args[0] if args and re.fullmatch(r"[a-z_]+", args[0]) else ""
                    flags = {f.split("=")[0] for f in args if f.startswith("--")}
                    seen.setdefault((m.group(1), sub), set()).update(flags)
                    where.setdefault((m.group(1), sub), set()).add(str(page.relative_to(ROOT)))
    assert ("dsta.train", "") in seen and ("dsta.demo", "") in seen
    for (module, sub), flags in sorted(seen.items()):
        if module in ("pytest", "pip", "venv", "tests.dvc_deps"):
            continue
        main = importlib.import_module(module).main
        with pytest.raises(SystemExit) as done:
            main([sub, "--help"] if sub else ["--help"])
        assert done.value.code == 0, module
        text = capsys.readouterr().out
        missing = sorted(f for f in flags if f not in text)
        pages = ", ".join(sorted(where[module, sub]))
        assert not missing, f"{pages} pass {missing} to python -m {module} {sub}, which does not take them"
