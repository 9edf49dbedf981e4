"""R7 of the regime indicators: Ĝ on test brains of a real anatomy that no training brain deforms.

Every embedded brain deforms the MNI152 template (an average of 152 brains). This re-simulates the
embedded default's test brains with Colin27 underneath, one real person's brain (Debian's and Ubuntu's
``mricron-data``, :func:`mriunlearn.paths.colin27_file`): the same subjects, pose, size, deformation,
contrast, field of view, rotation, coils and noise, another brain. It evaluates Ĝ of every training
seed asked for (restored from the published base models where they ship) and the zero-filled input
on both sets, and writes into ``--out``:

- ``per_volume.csv``: every test volume's PSNR/SSIM per model and seed, ``brains`` = ``template`` or
  the anatomy's name;
- ``r7.csv``: per training seed, Ĝ's PSNR on the real anatomy minus on the usual test brains, paired
  per subject (:func:`mriunlearn.experiments.data_overlap.anatomy_gap`), and the zero-filled input's;
- ``record.json``: the study's record (split hash, G/Ĝ keys), each seed's Ĝ key, the anatomy file
  and its SHA-256.

Usage::

    python tools/held_out_anatomy.py --seeds 42 43 44 --out figures/held_out_anatomy
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import pandas as pd

from mriunlearn import paths
from mriunlearn.atomic import atomic_write_text, sha256_file
from mriunlearn.experiments.data_overlap import anatomy_gap, anatomy_shift
from mriunlearn.experiments.study import load_study, run_entry, study_record
from mriunlearn.metrics import evaluate, zero_filled


def measure(seeds: list[int], anatomy: str = "colin27") -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """``(per_volume, r7, record)`` for Ĝ at ``seeds`` on the default's test brains and on them with
    ``anatomy`` underneath (the files this module's docstring names)."""
    study = load_study("default")
    studies = [study.at_seed(s) for s in seeds]
    usual = [zero_filled(study.manifest, "test_brain", study.profile).assign(model="zero_filled", seed=study.profile.seed)]
    usual += [evaluate(s.oracle.model, study.manifest, "test_brain", s.profile).assign(model="oracle", seed=s.profile.seed)
              for s in studies]
    usual = pd.concat(usual, ignore_index=True)
    shifted = anatomy_shift(studies, anatomy)
    per_volume = pd.concat([usual.assign(brains="template"), shifted.assign(brains=anatomy)], ignore_index=True)
    source = paths.colin27_file()
    record = {**study_record(study), "anatomy": anatomy, "anatomy_file": str(source), "anatomy_sha256": sha256_file(source),
              "oracle_keys": {str(s.profile.seed): getattr(run_entry(s.oracle), "key", None) for s in studies}}
    return per_volume, anatomy_gap(usual, shifted), record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42], help="training seeds of Ĝ (default: 42)")
    parser.add_argument("--out", type=Path, required=True, help="folder for per_volume.csv, r7.csv, record.json")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", module="torch")
    per_volume, r7, record = measure(args.seeds)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "per_volume.csv", per_volume.to_csv(index=False))
    atomic_write_text(args.out / "r7.csv", r7.to_csv(index=False))
    atomic_write_text(args.out / "record.json", json.dumps(record, indent=1, sort_keys=True) + "\n")
    print(r7.round(3).to_string(index=False))
    mean, sd = r7.oracle_db.mean(), r7.oracle_db.std(ddof=1) if len(r7) > 1 else float("nan")
    print(f"R7 (Ĝ on {record['anatomy']} − on the template's test brains): {mean:+.2f} dB over {len(r7)} seed(s), "
          f"seed sd {sd:.2f} dB; target >= -1 dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
