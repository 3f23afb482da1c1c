"""Every generated LaTeX table and figures.tex compiles on a two-column CVPR-like page (10 pt, 3.25 in columns,
booktabs, reports/latex/preamble.tex, bibtex against reports/references.bib) without an overfull box, an undefined
citation or a label defined twice. Skipped where pdflatex/bibtex are not installed (CI installs them: .ci/run)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from reporting import build as rb
from reporting.latex import PREAMBLE

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "reports"
pytestmark = pytest.mark.skipif(
    not (shutil.which("pdflatex") and shutil.which("bibtex")),
    reason="pdflatex/bibtex not installed (apt-get install texlive-latex-extra)",
)

DOCUMENT = r"""\documentclass[10pt,twocolumn]{article}
\usepackage[letterpaper,textwidth=6.875in,columnsep=0.3125in,textheight=9in]{geometry}
\input{preamble}
\begin{document}
%s
\nocite{*}  %% every entry of references.bib is typeset too (and bibtex always has a citation to work on)
\bibliographystyle{plain}
\bibliography{%s}
\end{document}
"""


def compile_tables(folder: Path, tables: list[Path], figures: Path | None = None, bibs: tuple[Path, ...] = ()) -> str:
    """Compile ``tables`` (each followed by a page break, so floats never pile up) in one two-column document built
    in ``folder``, citing reports/references.bib and ``bibs`` (a plugin's plugins.bib); returns the pdflatex log of
    the last pass."""
    latex = folder / "latex"
    latex.mkdir(parents=True)
    (latex / "preamble.tex").write_text(PREAMBLE)  # as the report stage writes it
    shutil.copy(REPORTS / "references.bib", latex)
    for bib in bibs:
        shutil.copy(bib, latex)
    if figures is not None:  # where figures.tex says: figures/ beside the paper's .tex
        shutil.copytree(figures, latex / "figures")
    body = []
    for i, t in enumerate(tables):
        shutil.copy(t, latex / f"t{i}.tex")
        body.append(rf"\input{{t{i}}}\clearpage")
    (latex / "doc.tex").write_text(DOCUMENT % ("\n".join(body), ",".join(["references", *(b.stem for b in bibs)])))

    def run(*cmd):
        return subprocess.run(cmd, cwd=latex, capture_output=True, text=True, timeout=120)

    first = run("pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex")
    assert first.returncode == 0, first.stdout[-3000:]
    bib = run("bibtex", "doc")
    assert bib.returncode == 0, bib.stdout[-2000:]
    for _ in range(2):
        last = run("pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex")
        assert last.returncode == 0, last.stdout[-3000:]
    return (latex / "doc.log").read_text(errors="replace")


def problems(log: str) -> list[str]:
    """Overfull boxes, undefined citations or references, and labels defined twice, from a pdflatex log."""
    pats = [
        r"Overfull \\[hv]box[^\n]*",
        r"Citation `[^']*' [^\n]*undefined[^\n]*",
        r"Reference `[^']*' [^\n]*undefined",
        r"Label `[^']*' multiply defined",
        r"There were undefined references",
    ]
    return [m.group() for p in pats for m in re.finditer(p, log)]


def test_committed_report_tables_and_figures_compile_two_column(tmp_path):
    tables = sorted((REPORTS / "latex").glob("*.tex")) + sorted((REPORTS / "synthetic_gpu" / "latex").glob("*.tex"))
    tables = [t for t in tables if t.name != "preamble.tex"]
    assert any(t.name == "figures.tex" for t in tables) and len(tables) > 5
    log = compile_tables(tmp_path, tables, REPORTS / "figures")
    assert problems(log) == []


def test_fresh_build_compiles_two_column(tmp_path):
    """The tables of a fresh build (a small fixture with reproduced rows, several seeds, efficiency and reported rows
    citing reports/references.bib keys) compile cleanly too."""
    import json

    import yaml

    from tests.test_reports import _eval, _experiment, _profile  # the report tests' fixture helpers

    root = tmp_path / "r"
    params = {
        "experiments": {
            "dsta_t3": _experiment("synthetic", "dsta", 3),
            "dsta_t3-s1": {**_experiment("synthetic", "dsta", 3), "train": {"seed": 1}},
            "rle_ft": _experiment("synthetic", "rle", 1),
        }
    }
    root.mkdir()
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    for key, v in (("dsta_t3", 30.0), ("dsta_t3-s1", 31.0), ("rle_ft", 25.0)):
        (root / "eval" / key).mkdir(parents=True)
        (root / "eval" / key / "metrics.json").write_text(json.dumps(_eval(v)))
    (root / "profiles").mkdir()
    (root / "profiles" / "dsta_t3.json").write_text(json.dumps(_profile(0.36, 11_540_000, streaming=0.121)))
    (root / "profiles" / "rle_ft.json").write_text(json.dumps(_profile(0.12)))
    rb.build(
        root / "params.yaml",
        REPORTS / "reference.yaml",
        root / "runs",
        root / "eval",
        root / "profiles",
        root / "none.json",
        root / "data",
        root / "out",
        plots=False,
    )
    tables = [t for t in sorted((root / "out" / "latex").glob("*.tex")) if t.name != "preamble.tex"]
    assert {"synthetic.tex", "posetrack17.tex", "synthetic-efficiency-cost.tex"} <= {t.name for t in tables}
    log = compile_tables(tmp_path / "doc", tables)
    assert problems(log) == []


def test_the_check_catches_an_overfull_table_and_a_missing_citation(tmp_path):
    """The check itself: a one-column table wider than the column and a key not in references.bib are reported."""
    wide = tmp_path / "wide.tex"
    wide.write_text(
        "\\begin{table}[t]\\centering\\begin{tabular}{"
        + "c" * 30
        + "}\\toprule\n"
        + " & ".join(["123.45"] * 30)
        + " \\\\\n\\bottomrule\\end{tabular}\\caption{x~\\cite{nokey}}"
        "\\end{table}\n"
    )
    found = problems(compile_tables(tmp_path / "doc", [wide]))
    assert any(p.startswith("Overfull \\hbox") for p in found)
    assert any("nokey" in p for p in found)
