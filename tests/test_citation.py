"""LICENSE and CITATION.cff: the licence pyproject declares exists, and the citation file holds what
the Citation File Format 1.2.0 requires (``cffconvert --validate`` cannot be installed beside the
pinned Jupyter stack, so the rules that matter are checked here, offline): the required keys, a
name for every author, and for every reference a known type, a title, authors and ISO dates.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

#: the reference types this file uses, all of them CFF 1.2.0 types
CFF_REFERENCE_TYPES = {"article", "conference-paper", "software", "data", "generic", "report", "book"}
#: CFF 1.2.0's identifier types
CFF_IDENTIFIER_TYPES = {"doi", "url", "swh", "other"}


def _person_ok(person: dict) -> bool:
    """A CFF person has family-names (given-names optional); an entity has a name."""
    return isinstance(person, dict) and bool(person.get("family-names") or person.get("name"))


def _cff_problems(cff: dict) -> list[str]:
    problems = [f"missing required key {k!r}" for k in ("cff-version", "message", "title", "authors") if k not in cff]
    problems += [f"author {a!r} has no name" for a in cff.get("authors", []) if not _person_ok(a)]
    for i, ref in enumerate(cff.get("references", [])):
        where = f"reference {i} ({ref.get('title', '?')!r})"
        if ref.get("type") not in CFF_REFERENCE_TYPES:
            problems.append(f"{where}: type {ref.get('type')!r}")
        if not ref.get("title") or not ref.get("authors") or not all(_person_ok(a) for a in ref["authors"]):
            problems.append(f"{where}: needs a title and named authors")
        problems += [f"{where}: identifier type {x.get('type')!r}" for x in ref.get("identifiers", [])
                     if x.get("type") not in CFF_IDENTIFIER_TYPES]
        if "doi" in ref and not re.fullmatch(r"10\.\d{4,9}/\S+", str(ref["doi"])):
            problems.append(f"{where}: doi {ref['doi']!r}")
    for key in ("date-released", "date-published"):
        if key in cff and not isinstance(cff[key], dt.date):
            problems.append(f"{key} is not an ISO date")
    return problems


def test_citation_cff_has_what_cff_1_2_0_requires():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    assert _cff_problems(cff) == []


def test_the_cff_check_can_fail():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    broken = {**cff, "authors": [{"given-names": "Only"}],
              "references": [{**cff["references"][0], "type": "tweet", "doi": "not-a-doi"}]}
    del broken["message"]
    problems = _cff_problems(broken)
    assert len(problems) == 4, problems


def test_citation_names_the_paper_and_agrees_with_pyproject():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert cff["version"] == project["version"]
    assert cff["license"] == project["license"]["text"] == "MIT"
    [paper] = [r for r in cff["references"] if "Erase to Enhance" in r["title"]]
    assert [a["family-names"] for a in paper["authors"]] == ["Xue", "Liu", "McDonagh", "Tsaftaris"]
    assert paper["year"] == 2024 and "2405.15517" in paper["url"]


def test_license_file_is_the_mit_licence():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "Permission is hereby granted, free of charge" in text
