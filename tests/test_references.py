"""reports/references.bib: every entry complete (authors, title, venue, year, pages or an arXiv id), no placeholder
author and no path of this repository in it, every key a table cites present, every entry cited by something, each
source that is not a publication declared as such, and every entry's checked fields listed in references.md."""

import re
from pathlib import Path

import yaml

from reporting import labels

ROOT = Path(__file__).resolve().parents[1]
BIB = ROOT / "reports" / "references.bib"


def entries() -> dict[str, tuple[str, dict[str, str]]]:
    """key -> (entry type, {field: value}) of references.bib (a flat parser: one field per ``name = {...}``)."""
    out = {}
    for kind, key, body in re.findall(r"@(\w+)\{([^,\s]+),(.*?)\n\}", BIB.read_text(), re.S):
        fields = {
            m.group(1).lower(): " ".join(m.group(2).split())
            for m in re.finditer(r"(\w+)\s*=\s*\{((?:[^{}]|\{[^{}]*\})*)\}", body)
        }
        out[key] = (kind.lower(), fields)
    return out


def cited_keys() -> set[str]:
    """The keys the reports cite: reference.yaml's rows and the labels' method, backbone and dataset papers, and the
    ``\\cite{}`` written in the report code (the robustness table's metrics)."""
    doc = yaml.safe_load((ROOT / "reports" / "reference.yaml").read_text())
    keys = {
        r[field]
        for rows in doc.values()
        if isinstance(rows, list)
        for r in rows
        if isinstance(r, dict)
        for field in ("cite", "tabulated_in")
        if r.get(field)
    }
    keys |= {*labels.METHOD_CITES.values(), *labels.BACKBONE_CITES.values(), *labels.DATASET_CITES.values()}
    for path in (ROOT / "reporting").glob("*.py"):
        keys |= set(re.findall(r"\\cite\{\{?([a-z0-9_]+)\}", path.read_text()))
    return keys


def test_every_entry_is_complete_and_clean():
    found = entries()
    assert len(found) >= 20
    for key, (kind, f) in found.items():
        assert f.get("title") and re.fullmatch(r"\d{4}", f.get("year", "")), key
        text = " ".join(f.values())
        assert not re.search(r"reports/|\.py\b|\.ya?ml\b|/work/|configs/", text), (key, "a path of this repository")
        if kind == "misc":
            continue
        assert f.get("author") and "authors}" not in f["author"] and "author" not in f["author"].lower(), key
        assert f.get("booktitle") or f.get("journal"), (key, "no venue")
        assert f.get("pages") or "arXiv:" in f.get("note", "") + f.get("journal", ""), (key, "no pages or arXiv id")


def test_cited_and_present_both_ways():
    found = entries()
    cited = cited_keys()
    assert not cited - set(found), f"cited but not in references.bib: {sorted(cited - set(found))}"
    assert not set(found) - cited, f"in references.bib but cited by nothing: {sorted(set(found) - cited)}"
    # a source that is not a publication is a @misc entry and declared so (its rows then say so)
    assert {k for k, (kind, _) in found.items() if kind == "misc"} == set(labels.UNPUBLISHED)


def test_every_entry_says_where_it_was_checked():
    table = (ROOT / "reports" / "references.md").read_text()
    listed = set(re.findall(r"^\| ([a-z0-9_]+) \|", table, re.M))
    assert listed == set(entries())
