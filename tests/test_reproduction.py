"""The notebooks' regression check: committed tables compared within measured tolerances.

The check must pass a re-run whose numbers moved within tolerance and fail one that moved beyond it,
through the same line nbval compares (sanitised as nbval sanitises it)."""

from __future__ import annotations

import configparser
import json
import math
import re
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from mriunlearn import paths, reproduction
from mriunlearn.errors import ConfigError
from mriunlearn.experiments import unlearning

ROOT = paths.ROOT
CHECK_CALL = re.compile(r'committed\.check\((\w+), "(\w+)"\)')


def _sanitise(text: str) -> str:
    """The output as nbval compares it: every regex of tests/nbval_sanitize.cfg applied."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "tests" / "nbval_sanitize.cfg", encoding="utf-8")
    for section in cfg.sections():
        text = re.sub(cfg[section]["regex"], cfg[section]["replace"], text)
    return text


def _checked_calls() -> list[tuple[str, str, str]]:
    """``(notebook, table name, committed output of the table check)`` of every checked cell that calls
    ``committed.check`` (a run-record line that follows in the same cell is cut off)."""
    out = []
    for nb_path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in nbformat.read(nb_path, 4).cells:
            if cell.cell_type == "code" and "NBVAL_CHECK_OUTPUT" in cell.source and (m := CHECK_CALL.search(cell.source)):
                text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
                out.append((nb_path.name, m.group(2), text.split("\nRun records vs")[0].rstrip("\n")))
    return out


def _bound(folder: Path) -> reproduction.Reference:
    ref = reproduction.Reference.load(folder)
    return ref.for_run(ref.record)


def _first_value(table: pd.DataFrame, name: str, cls: str) -> tuple[int, str]:
    """Row position and column of the first number of class ``cls`` in committed table ``name``."""
    spec = reproduction.TABLES[name]
    c = reproduction.compare(table, table, spec)
    target = next(d for d in c.differences if d.tol.name == cls and not math.isnan(d.ref))
    col = target.column
    for pos, (_, row) in enumerate(table.iterrows()):
        key = ", ".join(f"{k}={row[k] if not isinstance(row[k], float) else f'{row[k]:g}'}" for k in spec.keys)
        if key == target.row:
            return pos, col
    raise AssertionError(f"no row {target.row}")


def test_tolerance_and_verdict_rules():
    t = reproduction.tolerance("trained_db")
    assert t.allows(28.5, 28.5 + t.abs * 0.99) and not t.allows(28.5, 28.5 + t.abs * 1.01)
    assert reproduction.TOLERANCES["exact"].allows(math.nan, math.nan)
    assert not reproduction.TOLERANCES["exact"].allows(1.0, math.nan)
    assert reproduction.verdict(t.abs * 1.01, t) == "yes"
    assert reproduction.verdict(-t.abs * 1.01, t) == "no"
    assert reproduction.verdict(t.abs * 0.5, t) == reproduction.verdict(-t.abs * 0.5, t) == "borderline"
    with pytest.raises(ConfigError, match="unknown tolerance class 'nope'"):
        reproduction.tolerance("nope")


@pytest.mark.parametrize("model, metric, cls", [("zero_filled", "psnr", "exact"), ("oracle", "psnr", "trained_db"),
                                                 ("original", "ssim", "trained_ssim"), ("nl_ft", "psnr", "unlearned_db"),
                                                 ("nl_ft:code", "ssim", "unlearned_ssim"), ("ga_l1", "psnr", "unstable_db"),
                                                 ("nl base@today", "psnr", "unlearned_db")])
def test_model_classes(model, metric, cls):
    assert reproduction.model_class(model, metric) == cls


@pytest.mark.parametrize("table, row, col, cls", [
    ("03_table2_dynamics", {"model": "nl_ft", "seed": 42, "epoch": "0", "column": "BTA"}, "ssim", "trained_ssim"),
    ("03_table2_dynamics", {"model": "nl_ft", "seed": 42, "epoch": "0", "column": "BTA"}, "psnr", "trained_db"),
    ("03_table2_dynamics", {"model": "nl_ft", "seed": 42, "epoch": "3", "column": "UA"}, "ssim", "unlearned_ssim"),
    ("03_table2_dynamics", {"model": "ga_l1", "seed": 42, "epoch": "3", "column": "UA"}, "ssim", None),
    ("03_table2_dynamics", {"model": "ga_l1", "seed": 42, "epoch": "3", "column": "UA"}, "psnr", "diverging_db"),
    ("04_table3", {"method": "nl_ft", "fraction": "0.1", "seed": 42}, "KTA_ssim", "unlearned_ssim"),
    ("04_table3", {"method": "ga_l1_ft", "fraction": "0.1", "seed": 42}, "BTA_ssim", "unstable_ssim"),
    ("04_table3", {"method": "nl_ft", "fraction": "0.1", "seed": 42}, "KTA", "unlearned_db")])
def test_ssim_columns_of_tables_2_and_3_get_ssim_classes(table, row, col, cls):
    """``None``: a collapse's SSIM during the run is not compared (no measured tolerance; its end is
    compared in Table 1)."""
    assert reproduction.TABLES[table].classify(row, col) == cls


def test_a_new_ssim_column_is_compared_once_committed():
    """A committed Table 2 without ``ssim`` compares the PSNR alone; once it has one, SSIM is
    compared with the SSIM classes (epoch 0, G, with ``trained_ssim``)."""
    spec = reproduction.TABLES["03_table2_dynamics"]
    old = pd.DataFrame({"model": ["nl_ft"] * 2, "seed": [42] * 2, "epoch": [0, 1], "column": ["BTA"] * 2,
                        "psnr": [28.0, 27.0]})
    new = old.assign(ssim=[0.9, 0.85])
    assert {d.column for d in reproduction.compare(new, old, spec).differences} == {"psnr"}
    both = reproduction.compare(new, new.assign(ssim=[0.95, 0.85]), spec)
    assert {(d.column, d.tol.name) for d in both.differences} >= {("ssim", "trained_ssim"), ("ssim", "unlearned_ssim")}
    assert [d.row for d in both.failures] == ["model=nl_ft, seed=42, epoch=0, column=BTA"]


def test_every_checked_table_is_a_committed_table_with_a_spec():
    calls = _checked_calls()
    assert {name for _, name, _ in calls} == set(reproduction.TABLES)
    for _, name, _ in calls:
        assert (paths.REFERENCE_DIR / f"{name}.csv").exists(), name


@pytest.mark.parametrize("name", sorted(reproduction.TABLES))
def test_committed_output_is_what_the_committed_numbers_print(name):
    """Re-running with exactly the committed numbers prints the committed (sanitised) line."""
    ref = _bound(paths.REFERENCE_DIR)
    (committed_out,) = [out for _, n, out in _checked_calls() if n == name]
    line = str(ref.check(ref.tables[name], name))
    assert "within tolerance" in line
    assert _sanitise(line) == _sanitise(committed_out)


@pytest.mark.parametrize("name, cls", [("03_table1", "unlearned_db"), ("01_operating_point", "trained_db"),
                                       ("01_shared_knowledge", "exact"), ("04_table3", "unstable_db"),
                                       ("03_forgetting", "mia_auc")])
def test_a_number_beyond_its_tolerance_fails_the_notebook_check(tmp_path, name, cls):
    """A committed number nudged by 1.1x its tolerance changes the checked line (nbval fails);
    nudged by 0.9x it does not."""
    (committed_out,) = [out for _, n, out in _checked_calls() if n == name]
    fresh = _bound(paths.REFERENCE_DIR).tables[name]  # a re-run that reproduced the committed numbers
    pos, col = _first_value(fresh, name, cls)
    for factor, should_pass in ((0.9, True), (1.1, False)):
        folder = tmp_path / f"x{factor}"
        shutil.copytree(paths.REFERENCE_DIR, folder, ignore=shutil.ignore_patterns("*.png", "*.pdf", "*_seeds_3", "nl_ablation"))
        nudged = fresh.copy()
        ref_value = float(nudged.iloc[pos][col])
        nudged.iloc[pos, nudged.columns.get_loc(col)] = ref_value + factor * reproduction.tolerance(cls).width(ref_value)
        nudged.to_csv(folder / f"{name}.csv", index=False)
        line = str(_bound(folder).check(fresh, name))
        assert (_sanitise(line) == _sanitise(committed_out)) is should_pass, line
        if not should_pass:
            assert "1 of" in line and "outside tolerance" in line and col in line


def test_rows_that_differ_are_not_compared():
    ref = _bound(paths.REFERENCE_DIR)
    fewer = ref.tables["03_table1"].iloc[:-1]
    c = ref.check(fewer, "03_table1")
    assert not c.ok and "rows differ: 1 only committed, 0 only here" in str(c)


def test_another_profile_is_not_compared():
    ref = reproduction.Reference.load()
    record = {**ref.record, "profile": {**ref.record["profile"], "epochs": 2, "num_threads": 7}}
    c = ref.for_run(record).check(ref.tables["03_table1"], "03_table1")
    assert "not compared (profile fields differ from the committed run: epochs)" in str(c)
    assert ref.for_run({**ref.record, "manifest_hash": "x"}).mismatch() == "another split (manifest) than the committed run"


def test_verdicts_agree_unless_yes_and_no_swap():
    ref = _bound(paths.REFERENCE_DIR)
    claims = ref.tables["03_claims"].copy()
    assert "all 7 verdicts agree" in ref.check_verdicts(claims)
    held = claims.index[claims.reproduced == "yes"][0]
    claims.loc[held, "reproduced"] = "borderline"
    assert "all 7 verdicts agree" in ref.check_verdicts(claims)
    claims.loc[held, "reproduced"] = "no"
    out = ref.check_verdicts(claims)
    assert "1 of 7 verdicts changed" in out and claims.loc[held, "claim"] in out


def _summary(values: dict[str, dict[str, float]]) -> pd.DataFrame:
    rows = [{"model": m, "column": c, "metric": "psnr", "mean": v, "std_over_volumes": 0.5, "n_seeds": 1}
            for m, cols in values.items() for c, v in cols.items()]
    return pd.DataFrame(rows)


def test_a_claim_within_tolerance_of_its_threshold_is_borderline():
    tol = reproduction.tolerance("unlearned_db").abs
    base = {"original": {"BTA": 28.0, "KTA": 20.0, "UA": 24.0}, "oracle": {"BTA": 28.5, "KTA": 16.0, "UA": 15.0}}
    near = _summary({**base, "ft": {"BTA": 28.0, "KTA": 20.0, "UA": 24.0 - 1.0 - tol / 2}})
    far = _summary({**base, "ft": {"BTA": 28.0, "KTA": 20.0, "UA": 24.0 - 1.0 - 2 * tol}})
    verdict = {n: unlearning.judge_claims(s, ["ft"]).set_index("claim").reproduced for n, s in (("near", near), ("far", far))}
    claim = "FT alone does not forget (UA stays near G's)"
    assert verdict["near"][claim] == "borderline" and verdict["far"][claim] == "no"
    assert verdict["far"]["G is better than Ĝ on knee (shared knowledge)"] == "yes"


def test_measured_differences_tabulates_two_folders(tmp_path):
    shutil.copytree(paths.REFERENCE_DIR, tmp_path / "other", ignore=shutil.ignore_patterns("*.png", "*.pdf", "*_seeds_3", "nl_ablation"))
    t = pd.read_csv(tmp_path / "other" / "03_table1.csv")
    t.loc[t.model == "ga_l1", "mean"] += 0.5
    t.to_csv(tmp_path / "other" / "03_table1.csv", index=False)
    d = reproduction.measured_differences(paths.REFERENCE_DIR, tmp_path / "other", ["03_table1"])
    moved = d[d.abs_diff > 0]
    assert set(moved["class"]) == {"unstable_db", "unstable_ssim"} and moved.abs_diff.max() == pytest.approx(0.5)


def test_no_committed_file_records_a_machine_folder():
    """Executed notebooks, figures' records and reports name folders relative to the repository,
    never the absolute folder of the machine that made them."""
    import subprocess
    import tempfile

    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    machine = [str(ROOT), str(Path.home()) + "/"]
    if ROOT.parent != Path(tempfile.gettempdir()).resolve():  # a clone in /tmp: the docs' /tmp/ examples are not it
        machine.append(str(ROOT.parent) + "/")
    pattern = re.compile("|".join(re.escape(m) for m in machine) + r"|(?<![\w.~])/(?:home|Users|root)/\w")
    found = []
    for name in files:
        path = ROOT / name
        if path.suffix in {".png", ".pdf", ".h5"} or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        found += [f"{name}: {m.group(0)}" for m in pattern.finditer(text)]
    assert not found, found[:10]


def test_notebook_folders_are_recorded_relative_to_the_repository(tmp_path):
    inside = ROOT / "figures" / "some_run" / "figures"
    assert paths.for_notebook(inside) == "figures/some_run/figures"
    assert paths.from_root("figures/some_run/figures") == inside
    assert paths.for_notebook(tmp_path) == str(tmp_path.resolve())
    assert paths.from_root(tmp_path) == tmp_path.resolve()


def test_compare_command_exit_status(tmp_path, capsys):
    from mriunlearn import cli

    other = tmp_path / "other"
    shutil.copytree(paths.REFERENCE_DIR, other, ignore=shutil.ignore_patterns("*.png", "*.pdf", "*_seeds_3", "nl_ablation"))
    assert cli.main(["compare", str(other), "--out", str(tmp_path / "diffs.csv")]) == 0
    assert "0 of" in capsys.readouterr().out and (tmp_path / "diffs.csv").exists()
    t = pd.read_csv(other / "01_shared_knowledge.csv")
    t.loc[t.model == "zero_filled", "mean"] += 0.01  # no training involved: must match exactly
    t.to_csv(other / "01_shared_knowledge.csv", index=False)
    assert cli.main(["compare", str(other)]) == 1
    assert "6 of" in capsys.readouterr().out
    assert cli.main(["compare", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_tolerances_meet_their_rule_on_the_committed_measurements():
    """Every width in force covers 4·√2 seed sigmas (committed multi-seed runs) and 1.5x every
    difference measured between machines (figures/reproducibility/)."""
    runs = paths.REFERENCE_DIR
    spreads = reproduction.seed_spreads(pd.read_csv(runs / "unlearn_seeds_3" / "figures" / "03_table1_per_volume.csv"),
                                        pd.read_csv(runs / "train_seeds_3" / "figures" / "01_training_curves.csv"))
    machine = pd.read_csv(runs / "reproducibility" / "machine_differences.csv")
    widths = reproduction.derived_widths(spreads, machine)
    assert widths.meets.all(), widths[~widths.meets]
    assert {"trained_db", "unlearned_db", "unstable_db"} <= set(spreads.index)
    assert (widths.numbers > 0).sum() >= 12  # nearly every class has a machine measurement


def test_ratio_widths_cover_the_committed_ratios_and_denominators():
    """The ratio classes propagate their parts' widths for denominators from a floor up and ratios up
    to RATIO_MAX: the committed operating point lies in that range, so the width bounds its moves."""
    op = pd.read_csv(paths.REFERENCE_DIR / "01_operating_point.csv").set_index("measure")
    parts = {"ssim_ratio": ("Ĝ KTA SSIM ÷ G KTA SSIM", "G KTA SSIM"),
             "gain_ratio": ("Ĝ gain over zero-filled at 170 mm FOV ÷ at the training FOV", "Ĝ BTA − zero-filled (dB)")}
    assert set(parts) == set(reproduction.RATIO_PARTS)
    for name, (ratio_row, denominator_row) in parts.items():
        part, floor = reproduction.RATIO_PARTS[name]
        r, b = op.loc[ratio_row, "ours"], op.loc[denominator_row, "ours"]
        assert b >= floor and 0 <= r <= reproduction.RATIO_MAX, (name, r, b)
        w = reproduction.TOLERANCES[part].abs
        assert (w + r * w) / b <= reproduction.TOLERANCES[name].abs


def test_module_examples_run():
    import doctest

    result = doctest.testmod(reproduction)
    assert result.attempted >= 3 and result.failed == 0


def test_run_records_compare_cache_keys_exactly():
    ref = _bound(paths.REFERENCE_DIR)
    record = json.loads((paths.REFERENCE_DIR / "03_table1.json").read_text())
    line = ref.check_record(record, "03_table1")
    assert "all" in line and "entries identical" in line and "cache keys" in line
    changed = {**record, "runs": {**record["runs"], "nl_ft@seed42": {**record["runs"]["nl_ft@seed42"], "cache_key": "x"}}}
    line = ref.check_record(changed, "03_table1")
    assert "1 of" in line and "runs/nl_ft@seed42/cache_key" in line
    assert "not compared (no committed record" in ref.check_record(record, "nope")


def test_claims_table_words_agree_with_yes_and_no():
    """"holds" / "does not hold" (the claims table) are "yes" / "no": a borderline still agrees with
    either, and holds against does not hold is a change."""
    ref = _bound(paths.REFERENCE_DIR)
    committed = pd.DataFrame({"id": ["a", "b", "c"], "verdict": ["holds", "does not hold", "borderline"]})
    ref = reproduction.Reference(ref.folder, {"claims": committed}, ref.record, ref.run)
    same = committed.assign(verdict=["yes", "borderline", "does not hold"])
    assert "all 3 verdicts agree" in ref.check_verdicts(same, "claims", key="id", column="verdict")
    flipped = committed.assign(verdict=["does not hold", "does not hold", "holds"])
    out = ref.check_verdicts(flipped, "claims", key="id", column="verdict")
    assert "1 of 3 verdicts changed" in out and "a: does not hold here, holds committed" in out
