"""README and docs: short README with its status box and figure, every quoted number equal to its
source file, every relative link and anchor resolving, no development history in the text.

Quoted numbers carry their source as an HTML comment (``28.53<!--= t1("oracle", "BTA") -->``, see
``tools/quoted_numbers.py``): a number that no longer matches ``figures/`` or
``benchmarks/results/`` fails here; ``python tools/quoted_numbers.py`` rewrites them from the files.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("quoted_numbers", ROOT / "tools" / "quoted_numbers.py")
quoted = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(quoted)

DOCS = quoted.documents()
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _ids(path: Path) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in path] if isinstance(path, list) else [str(path.relative_to(ROOT))]


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_quoted_numbers_match_their_source_files(doc):
    assert quoted.mismatches(doc) == [], "run: python tools/quoted_numbers.py"


def test_readme_numbers_are_quoted_with_their_source():
    readme = (ROOT / "README.md").read_text()
    assert len(quoted.MARKER.findall(readme)) >= 2  # the claims count of the status box


def test_render_keeps_the_written_style():
    assert quoted.render(-0.149, "+0.15") == "−0.15" and quoted.render(3.245, "+3.25") == "+3.25"
    assert quoted.render(8000.0, "8,000") == "8,000" and quoted.render(-1.0, "-2") == "-1"
    assert quoted.render(0.0004, "+0.00") == "+0.00"


def test_readme_is_an_orientation_page():
    text = (ROOT / "README.md").read_text()
    assert len(text.split()) <= 2000  # words as `wc -w` counts them (source comments included)
    box = text[text.index("> **Status**"):].split("\n\n")[0]
    assert box.count("\n> - ") == 5
    assert "![" in text and "(figures/00_overview.png)" in text
    for section in ("## Two commands", "## A five-minute tour", "## The paper's recipe and the two profiles",
                    "## Cite and credits"):
        assert section in text
    assert "any change to the numbers fails" not in text


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    out = set()
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return out


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_relative_links_resolve(doc):
    broken = []
    for target in LINK.findall(doc.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        path, _, anchor = target.partition("#")
        resolved = (doc.parent / path).resolve() if path else doc
        if not resolved.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target} (no such heading)")
    assert broken == [], f"{doc.relative_to(ROOT)}: broken links"


HISTORY = [r"\bissues? \d+", r"\bthe issue'?s\b", r"(?<![\w&/])#\d{1,3}\b(?![0-9a-fA-F;\"'])", r"\bbefore issue\b",
           r"\b(default|data|profile) of the time\b", r"\blent\b", r"\bhelper sessions?\b",
           r"\bthis revision\b"]


def _text_files() -> list[Path]:
    files = [*DOCS, ROOT / "Makefile", ROOT / "environment.yml"]
    for folder in ("mriunlearn", "benchmarks", "tests", "tools"):
        files += sorted((ROOT / folder).rglob("*.py"))
    return [f for f in files if f.name != Path(__file__).name]


def test_no_development_history_in_the_text():
    found = [f"{f.relative_to(ROOT)}: {m.group(0)!r}" for f in _text_files()
             for pattern in HISTORY for m in re.finditer(pattern, f.read_text(), re.IGNORECASE)]
    assert found == []


def test_real_data_recipe_shows_import_and_draw_as_alternatives():
    text = (ROOT / "docs" / "real_data.md").read_text()
    assert "split import --tree" in text and "split draw --seed" in text and "--force" in text


def _readme_table(first_header: str) -> dict[str, list[str]]:
    """The README table whose header row starts with ``first_header``: ``{row name: its cells}``."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header}"))
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def test_readme_profile_table_states_the_profiles_values():
    from mriunlearn.profiles import get_profile
    from mriunlearn.simulate.build import DatasetSpec

    table = _readme_table("| paper | `paper` profile")
    paper, default = get_profile("paper"), get_profile("default")
    network = (f"{default.num_cascades} cascades, chans {default.chans}, pools {default.pools}, "
               f"sens_chans {default.sens_chans}, sens_pools {default.sens_pools}")
    assert table["network"][2] == network
    assert (paper.num_cascades, paper.chans, paper.pools, paper.sens_chans, paper.sens_pools) == (12, 18, 4, 8, 4)
    assert table["batch, precision"][1:3] == [f"{paper.batch_size}, {paper.precision}",
                                              f"{default.batch_size}, {default.precision} autocast"]
    assert f"centre {default.center_fraction}" in table["mask"][2] and paper.center_fraction == 0.04
    assert table["mask"][2].startswith(f"equispaced {default.acceleration}×") and paper.acceleration == 8
    assert f"{DatasetSpec.default().num_coils} coils" in table["data"][2]
    assert table["training / unlearning"][1:3] == [f"{paper.epochs} / {paper.unlearn_epochs}",
                                                   f"{default.epochs} / {default.unlearn_epochs}"]
