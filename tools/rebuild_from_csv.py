"""Rebuild notebook 03's Table 1, Fig. 3 and the NL ablation's verdicts, and notebook 04's Table 3
figure, in a figures folder from the tables saved beside them, with the functions the notebooks
call, without training or evaluating anything.

- ``03_table1.csv`` from ``03_table1_per_volume.csv`` (:func:`~mriunlearn.experiments.results.summary_table`;
  the run record ``03_table1.json`` is kept);
- notebook 03's claims ``03_claims.csv`` from that table and the per-volume one
  (:func:`~mriunlearn.experiments.unlearning.judge_claims`, the paper's methods);
- Fig. 3 in the paper's form (``03_fig3_radar`` and, when the folder holds the added baselines,
  ``03_fig3_radar_extra``) from ``03_table1.csv`` and ``03_costs.csv``
  (:func:`~mriunlearn.experiments.unlearning.radar_psnr`, :func:`~mriunlearn.plots.radar_psnr_grid`);
- its min–max normalised variant ``03_fig3_radar_normalised`` (:func:`~mriunlearn.experiments.unlearning.radar_values`,
  :func:`~mriunlearn.plots.radar_grid`);
- where the folder holds the NL ablation's verdicts, ``03_nl_ablation_verdicts.csv`` with the hypotheses
  its grid did not run taken from the committed full-grid run
  (:func:`~mriunlearn.experiments.nl_ablation.with_full_run`, matched by ``03_nl_ablation.json``);
- where the folder holds notebook 04's tables, Table 3's per-volume figure ``04_table3_per_volume``
  (PSNR and SSIM, the paper's gaps as markers) from ``04_table3_per_volume.csv`` and G's and Ĝ's
  rows of ``03_table1_per_volume.csv`` (:func:`~mriunlearn.plots.fraction_volumes_figure`);
- the figures drawn from one saved table each: ``01_shared_knowledge``, ``04_fig5_fraction_time``,
  ``03_noise_sweep`` (:func:`rebuild_labelled_figures`).

Usage: ``python tools/rebuild_from_csv.py FOLDER [FOLDER ...]``, e.g. ``figures figures/unlearn_seeds_3/figures``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from mriunlearn import plots  # noqa: E402
from mriunlearn.claims import PAPER_METHODS  # noqa: E402
from mriunlearn.manifest import PAPER_COLUMNS  # noqa: E402
from mriunlearn.paper_numbers import table1_gaps  # noqa: E402
from mriunlearn.experiments import nl_ablation  # noqa: E402
from mriunlearn.experiments import noise_sweep  # noqa: E402
from mriunlearn.experiments import retain_fraction as rf  # noqa: E402
from mriunlearn.experiments import unlearning  # noqa: E402


def read(folder: Path, name: str) -> pd.DataFrame:
    """A table :func:`mriunlearn.plots.save_table` wrote, without its unnamed index column."""
    t = pd.read_csv(folder / f"{name}.csv")
    return t.drop(columns=[c for c in t.columns if str(c).startswith("Unnamed: ")])


def rebuild(folder: Path) -> list[Path]:
    """Rewrite Table 1, notebook 03's claims, Fig. 3 (with its tables) and the NL ablation's verdicts in
    ``folder``; returns the files written."""
    per_volume = read(folder, "03_table1_per_volume")
    order = list(dict.fromkeys(per_volume.model))
    summary = unlearning.summary_table(per_volume, order)
    written = [plots.save_table(summary, "03_table1", folder)]
    cost_table = read(folder, "03_costs")
    methods = [m for m in order if m in PAPER_METHODS]
    extra = [m for m in order if m not in ("original", "oracle", *PAPER_METHODS)]
    written.append(plots.save_table(unlearning.judge_claims(summary, methods, per_volume=per_volume), "03_claims", folder))
    radar = unlearning.radar_psnr(summary, cost_table)
    written.append(plots.save_table(radar, "03_fig3_radar", folder))
    for name, shown in (("03_fig3_radar", methods), ("03_fig3_radar_extra", extra)):
        if shown:
            fig = plots.radar_psnr_grid(radar, shown)
            written += plots.save_figure(fig, name, folder)
            plt.close(fig)
    if extra:
        written.append(plots.save_table(radar[radar.model.isin(["oracle", *extra])], "03_fig3_radar_extra", folder))
    normalised = unlearning.radar_values(summary, cost_table)
    written.append(plots.save_table(normalised, "03_fig3_radar_normalised", folder))
    fig = plots.radar_grid(normalised, methods + extra, ncols=4)
    written += plots.save_figure(fig, "03_fig3_radar_normalised", folder)
    plt.close(fig)
    return written + rebuild_nl_verdicts(folder) + rebuild_table3_figure(folder) + rebuild_labelled_figures(folder)


def rebuild_labelled_figures(folder: Path) -> list[Path]:
    """Redraw the figures drawn from one saved table each, where ``folder`` holds it: the shared
    knowledge bars (``01_shared_knowledge``), Fig. 5 (``04_fig5_fraction_time`` and Ĝ's BTA from
    its record) and the noise sweep (``03_noise_sweep``, G and Ĝ from ``03_table1``)."""
    figures = []
    if (folder / "01_shared_knowledge.csv").exists():
        figures.append(("01_shared_knowledge", lambda: plots.shared_knowledge_figure(read(folder, "01_shared_knowledge"), paper=table1_gaps())))
    if (folder / "04_fig5_fraction_time.csv").exists():
        oracle = json.loads((folder / "04_fig5_fraction_time.json").read_text())["oracle_BTA"]
        figures.append(("04_fig5_fraction_time", lambda: plots.fraction_figure(read(folder, "04_fig5_fraction_time"), oracle)))
    if (folder / "03_noise_sweep.csv").exists():
        sweep = read(folder, "03_noise_sweep")
        figures.append(("03_noise_sweep", lambda: plots.noise_figure(
            noise_sweep.noise_table(sweep), noise_sweep.reference_gaps_of(read(folder, "03_table1")), per_seed=sweep)))
    written: list[Path] = []
    for name, draw in figures:
        fig = draw()
        written += plots.save_figure(fig, name, folder)
        plt.close(fig)
    return written


def rebuild_table3_figure(folder: Path) -> list[Path]:
    """Redraw ``04_table3_per_volume`` of ``folder`` from its saved per-volume tables (nothing when
    the folder holds no notebook 04 tables); returns the files written."""
    if not (folder / "04_table3_per_volume.csv").exists():
        return []
    reference = read(folder, "03_table1_per_volume").query("model in ['original', 'oracle']")
    fig = plots.fraction_volumes_figure(read(folder, "04_table3_per_volume"), reference, PAPER_COLUMNS, paper=rf.paper_gaps())
    written = plots.save_figure(fig, "04_table3_per_volume", folder)
    plt.close(fig)
    return written


def rebuild_nl_verdicts(folder: Path) -> list[Path]:
    """Rewrite ``03_nl_ablation_verdicts.csv`` of ``folder`` with :func:`~mriunlearn.experiments.nl_ablation.with_full_run`
    (nothing when the folder holds no NL ablation); returns the files written."""
    if not (folder / "03_nl_ablation_verdicts.csv").exists():
        return []
    record = json.loads((folder / "03_nl_ablation.json").read_text())
    verdicts = nl_ablation.with_full_run(read(folder, "03_nl_ablation_verdicts"), record)
    return [plots.save_table(verdicts, "03_nl_ablation_verdicts", folder)]


if __name__ == "__main__":
    plots.use_theme()  # the look the notebooks draw every committed figure with
    for arg in sys.argv[1:]:
        for path in rebuild(Path(arg)):
            print(path)
