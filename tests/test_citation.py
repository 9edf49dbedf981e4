"""LICENSE and CITATION.cff: the licence pyproject declares exists, and the citation file is valid CFF.

CITATION.cff is checked against the Citation File Format 1.2.0 JSON schema, vendored in
``tests/data/cff-1.2.0.schema.json`` (CC-BY-4.0, from the citation-file-format project, as shipped in
``cffconvert`` 2.0.0), with ``jsonschema``: the check ``cffconvert --validate`` makes, offline.
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _as_cff(value: object) -> object:
    """YAML as CFF reads it: dates stay ISO strings (PyYAML makes ``date`` objects of them)."""
    if isinstance(value, dict):
        return {k: _as_cff(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_cff(v) for v in value]
    return value.isoformat() if isinstance(value, dt.date) else value


def test_citation_cff_is_valid_cff_1_2_0():
    schema = json.loads((ROOT / "tests" / "data" / "cff-1.2.0.schema.json").read_text())
    cff = _as_cff(yaml.safe_load((ROOT / "CITATION.cff").read_text()))
    jsonschema.Draft7Validator(schema).validate(cff)
    assert cff["cff-version"] == "1.2.0"


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
