"""Command line: ``python -m mriunlearn {data,train,evaluate,unlearn,methods,export,compare,ship,split}``.

Everything the notebooks do can be run from here (progress bars go to stderr)::

    python -m mriunlearn data --name default
    python -m mriunlearn train --profile default --model original
    python -m mriunlearn evaluate --profile default --model oracle --out oracle.csv
    python -m mriunlearn methods                  # unlearning methods, parameters, sources
    python -m mriunlearn unlearn --profile default --method nl_ft --retain-fraction 0.2
    python -m mriunlearn export --profile default --model original --out original.ts
    python -m mriunlearn compare /scratch/rerun/figures   # another run vs the committed figures/
    python -m mriunlearn ship --runs /scratch/cold/runs   # publish its trained G and Ĝ into models/
    python -m mriunlearn split import /data/fastmri/brain /data/fastmri/knee

The run cache is ``$MRIUNLEARN_RUNS`` (default ``<repo>/runs``) or ``--runs DIR``; a job asking for a
run that another job is computing stops naming it, or waits ``--lock-wait SECONDS`` and loads it.

Profile fields can be changed with ``--set key=value`` (repeatable; values parsed as JSON when
possible, e.g. ``--set epochs=4 --set precision=\"bf16\"`` or ``--set precision=bf16``).
Unknown options, profiles and profile fields are rejected with the list of valid ones.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import paths
from .atomic import atomic_write_text
from .errors import ConfigError, MriUnlearnError
from .profiles import PROFILES, Profile, get_profile

MODELS: tuple[str, ...] = ("original", "oracle")
MODEL_ROLES: dict[str, tuple[str, ...]] = {"original": ("retain", "forget"), "oracle": ("retain",)}
EXPORT_DESCRIPTION = """\
Load a model's weights into a plain fastmri.models.VarNet (same state dict as the engine's VarNet)
and write it as TorchScript (default; loads with torch.jit.load alone) or as its state dict. The
file is written under a temporary name, read back and checked against the engine's VarNet on a
random input, and only then renamed into place (see mriunlearn.export)."""


class _Parser(argparse.ArgumentParser):
    """argparse that lists the valid options when it meets an unknown one, and whose epilog can be
    computed only when the help is shown (``epilog_fn``: listing the unlearning methods imports
    torch and every method, which ``--help`` of other commands should not pay for)."""

    def __init__(self, *args: Any, epilog_fn: Callable[[], str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._epilog_fn = epilog_fn

    def format_help(self) -> str:
        if self._epilog_fn is not None:
            self.epilog = self._epilog_fn()
        return super().format_help()

    def error(self, message: str) -> None:  # type: ignore[override]
        if "unrecognized arguments" in message:
            opts = sorted({s for a in self._actions for s in a.option_strings})
            message += f"\nvalid options of '{self.prog}': {', '.join(opts)}"
        super().error(message)


def parse_value(text: str) -> Any:
    """A command-line value read as JSON when it parses (numbers, lists, true/null), else as text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def key_values(items: Sequence[str] | None, what: str) -> dict[str, Any]:
    """``KEY=VALUE`` items as a dict (``-`` in keys read as ``_``; values by :func:`parse_value`)."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise MriUnlearnError(f"{what} must look like key=value, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip().replace("-", "_")] = parse_value(value)
    return out


def _add_profile_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="default", choices=PROFILES, help="run configuration (default: default)")
    p.add_argument("--manifest", type=Path, default=None, help="manifest CSV (default: the profile's)")
    p.add_argument("--data-root", type=Path, default=None,
                   help="folder the manifest's files are relative to (default: the profile's)")
    p.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE",
                   help="override a profile field (repeatable), e.g. --set epochs=4")
    p.add_argument("--runs", type=Path, default=None, metavar="DIR",
                   help="run cache folder (default: $MRIUNLEARN_RUNS, else <repo>/runs)")
    p.add_argument("--lock-wait", type=float, default=None, metavar="SECONDS",
                   help="if another job is computing the same run, wait this long for it, then load "
                        "its result (default: $MRIUNLEARN_LOCK_WAIT, else 0: stop at once naming it)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the run cache")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _profile(args: argparse.Namespace) -> Profile:
    overrides = key_values(args.overrides, "--set")
    if args.manifest is not None:
        overrides["manifest"] = str(args.manifest.resolve())
        if args.data_root is None and "data_root" not in overrides:
            overrides["data_root"] = str(args.manifest.resolve().parent)
    if args.data_root is not None:
        overrides["data_root"] = str(args.data_root.resolve())
    return get_profile(args.profile, **overrides)


def _cache(args: argparse.Namespace):
    """The run cache of ``--runs`` / ``--lock-wait`` (``False`` with ``--no-cache``).

    Raises:
        ConfigError: ``--runs`` names a file, or ``--lock-wait`` is negative or NaN.
    """
    from .cache import RunCache
    from .lock import check_wait

    if args.no_cache:
        return False
    wait = None if args.lock_wait is None else check_wait(args.lock_wait, "--lock-wait")
    return RunCache(args.runs.expanduser().resolve() if args.runs is not None else None, lock_wait=wait)


def _add_unlearn_args(p: argparse.ArgumentParser, method_into: Any = None,
                      method_default: str | None = "nl_ft") -> None:
    """The options of one unlearning run; ``--method`` goes into ``method_into`` (a mutually
    exclusive group) when given."""
    default = f"default: {method_default}; " if method_default else ""
    (method_into or p).add_argument("--method", default=method_default,
                                    help=f"unlearning method ({default}listed below and by "
                                    "python -m mriunlearn methods)")
    p.add_argument("--param", dest="params", action="append", metavar="KEY=VALUE",
                   help="method hyper-parameter (repeatable; listed below with defaults and ranges)")
    p.add_argument("--retain-fraction", type=float, default=None, help="fraction of retain volumes")
    p.add_argument("--seed", type=int, default=None, help="unlearning seed (default: the profile's)")
    p.add_argument("--epochs", type=int, default=None, help="unlearning epochs (default: profile.unlearn_epochs)")
    p.add_argument("--steps", type=int, default=None,
                   help="instead of --epochs: exactly this many optimiser steps with batch size 1")


def _methods_epilog(source: bool) -> Callable[[], str]:
    def epilog() -> str:
        from .unlearning import describe_methods

        return "unlearning methods (--method) and their --param KEY=VALUE:\n\n" + describe_methods(source=source)
    return epilog


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m mriunlearn`` parser: one subcommand per ``_add_*_parser``, each with its ``func``."""
    parser = _Parser(prog="python -m mriunlearn", description=__doc__.splitlines()[0],
                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 2)[2])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    parser.commands = sub.choices  # type: ignore[attr-defined]
    for add in (_add_data_parser, _add_train_parser, _add_evaluate_parser, _add_unlearn_parser, _add_methods_parser,
                _add_export_parser, _add_compare_parser, _add_ship_parser):
        add(sub)
    _add_split_parsers(sub.add_parser(
        "split", help="make manifests of real fastMRI data (import the authors' split or draw one)"))
    sub.metavar = "{" + ",".join(sub.choices) + "}"
    return parser


def _add_data_parser(sub: "argparse._SubParsersAction") -> None:
    p = sub.add_parser("data", help="build the embedded simulated dataset (if missing)")
    p.add_argument("--name", default="default", choices=("default", "smoke"), help="which dataset")
    p.set_defaults(func=cmd_data)


def _add_train_parser(sub: "argparse._SubParsersAction") -> None:
    p = sub.add_parser("train", help="train the original model G or the oracle (cached)")
    _add_profile_args(p)
    p.add_argument("--model", choices=MODELS, default="original",
                   help="original: retain + forget (G); oracle: retain only")
    p.set_defaults(func=cmd_train)


def _add_evaluate_parser(sub: "argparse._SubParsersAction") -> None:
    p = sub.add_parser("evaluate", help="per-volume PSNR/SSIM/NMSE and the BTA/KTA/UA table")
    _add_profile_args(p)
    p.add_argument("--model", choices=(*MODELS, "zero_filled"), default="original",
                   help="which model (trained first if not cached); zero_filled: no model")
    p.add_argument("--roles", nargs="+", default=None,
                   help="roles to evaluate (default: mriunlearn.manifest.EVAL_ROLES, the BTA, KTA, UA columns)")
    p.add_argument("--out", type=Path, default=None, help="write the per-volume table to this CSV")
    p.set_defaults(func=cmd_evaluate)


def _add_unlearn_parser(sub: "argparse._SubParsersAction") -> None:
    p = sub.add_parser("unlearn", help="unlearn the forget set from G with one method (cached)",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog_fn=_methods_epilog(False))
    _add_profile_args(p)
    _add_unlearn_args(p)
    p.add_argument("--out", type=Path, default=None, help="write the final per-volume table to this CSV")
    p.set_defaults(func=cmd_unlearn)


def _add_methods_parser(sub: "argparse._SubParsersAction") -> None:
    p = sub.add_parser("methods", help="list the unlearning methods, their parameters and sources")
    p.add_argument("names", nargs="*", metavar="METHOD", help="only these methods (default: all)")
    p.set_defaults(func=cmd_methods)


def _add_export_parser(sub: "argparse._SubParsersAction") -> None:
    p = sub.add_parser("export", help="write a trained or unlearned model as TorchScript or a fastMRI state dict",
                       description=EXPORT_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog_fn=_methods_epilog(False))
    _add_profile_args(p)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--model", choices=MODELS, default=None,
                       help="export G (original, the default) or the oracle (trained first if not cached)")
    which.add_argument("--checkpoint", type=Path, default=None,
                       help="export this file: a run cache's model.pt or a checkpoint.pt (--profile and "
                       "--set give its architecture)")
    _add_unlearn_args(p, which, method_default=None)
    # no choices=: they would import torch for every command; export_varnet rejects others
    p.add_argument("--format", default="torchscript",
                   help="torchscript (default) or state_dict (mriunlearn.export.FORMATS)")
    p.add_argument("--out", type=Path, required=True, help="the file to write (atomically)")
    p.set_defaults(func=cmd_export)


def _add_compare_parser(sub: "argparse._SubParsersAction") -> None:
    p = sub.add_parser("compare", help="compare another run's figures folder with the committed figures (tolerances per class)")
    p.add_argument("other", type=Path, help="a figures folder of another run, e.g. reproduce --out DIR's DIR/figures")
    p.add_argument("--reference", type=Path, default=None, help="the folder compared with (default: the committed figures/)")
    p.add_argument("--out", type=Path, default=None, help="write every compared number to this CSV")
    p.set_defaults(func=cmd_compare)


def _add_ship_parser(sub: "argparse._SubParsersAction") -> None:
    p = sub.add_parser("ship", help="publish the finished training runs of a run cache as base models (models/)",
                       description="Copy every finished training run (G, Ĝ) of --runs into the store of published "
                       "base models and rewrite its SHA256SUMS (see mriunlearn.base_models). A run whose key "
                       "(numerics, profile, manifest, seed) is shipped is then restored instead of trained.")
    p.add_argument("--runs", type=Path, required=True, help="the run cache to publish from (e.g. a cold run's runs/)")
    p.add_argument("--store", type=Path, default=None,
                   help="the store (default: $MRIUNLEARN_BASE_MODELS or <repo>/models)")
    p.set_defaults(func=cmd_ship)


def _add_split_parsers(p: argparse.ArgumentParser) -> None:
    """``split import`` and ``split draw`` under ``p``: their arguments only (the split logic is
    :mod:`mriunlearn.splits`, imported when a split command runs)."""
    ss = p.add_subparsers(dest="split_command", required=True, parser_class=_Parser)
    imp = ss.add_parser("import", help="import the authors' split listing")
    _add_split_source_args(imp)
    imp.add_argument("--tree", type=Path, default=paths.PAPER_SPLIT_TREE, help="the authors' tree listing")
    imp.add_argument("--name", default="paper", help="file stem of the manifests")
    imp.add_argument("--no-subsets", action="store_true", help="skip the retain-fraction subsets")
    imp.set_defaults(func=cmd_split_import)
    draw = ss.add_parser("draw", help="draw a fresh seeded split")
    _add_split_source_args(draw)
    draw.add_argument("--name", default=None, help="file stem of the manifests (default drawn_seed<SEED>)")
    draw.add_argument("--seed", type=int, default=0)
    draw.add_argument("--n-retain", type=int, default=1000)
    draw.add_argument("--n-forget", type=int, default=20)
    draw.add_argument("--n-val", type=int, default=200)
    draw.add_argument("--n-test-brain", type=int, default=100)
    draw.add_argument("--n-test-knee", type=int, default=100)
    draw.add_argument("--fractions", type=float, nargs="*", default=[0.01, 0.05, 0.1, 0.2, 0.5])
    draw.set_defaults(func=cmd_split_draw)


def _add_split_source_args(p: argparse.ArgumentParser) -> None:
    """The arguments ``split import`` and ``split draw`` share: FASTMRI_DIR..., --out, --data-root,
    --hash, --force."""
    p.add_argument("fastmri_dirs", nargs="+", type=Path, help="folders holding fastMRI multicoil .h5 files")
    p.add_argument("--out", type=Path, default=paths.MANIFESTS_DIR, help="folder for the manifests")
    p.add_argument("--data-root", type=Path, default=None,
                   help="folder the manifest paths are relative to (default: common parent of the dirs)")
    p.add_argument("--hash", action="store_true", help="record SHA-256 of every file (slow)")
    p.add_argument("--force", action="store_true", help="replace an existing manifest of that name")


def cmd_split_import(args: argparse.Namespace) -> int:
    """:func:`~mriunlearn.splits.import_paper_tree` from ``split import``'s arguments; 0, or 1 if the
    import is incomplete."""
    from .splits import import_paper_tree

    report = import_paper_tree(args.tree, args.fastmri_dirs, args.out, verify_hashes=args.hash,
                               fraction_folders=not args.no_subsets, data_root=args.data_root,
                               name=args.name, verbose=True, overwrite=args.force)
    return 0 if report.complete else 1


def cmd_split_draw(args: argparse.Namespace) -> int:
    """:func:`~mriunlearn.splits.draw_split` from ``split draw``'s arguments; prints the written paths."""
    from .splits import draw_split

    files = draw_split(args.fastmri_dirs, args.out, seed=args.seed, n_retain=args.n_retain,
                       n_forget=args.n_forget, n_val=args.n_val, n_test_brain=args.n_test_brain,
                       n_test_knee=args.n_test_knee, fractions=tuple(args.fractions),
                       data_root=args.data_root, name=args.name, verify_hashes=args.hash,
                       overwrite=args.force)
    print(f"manifest {files.manifest}\nsubsets {files.subsets}\n(files relative to {files.data_root})")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    try:
        from .simulate import ensure_dataset
    except ImportError as exc:
        raise MriUnlearnError(f"the dataset simulator (mriunlearn.simulate.ensure_dataset) is not available: {exc}") from exc
    print(f"manifest {ensure_dataset(args.name, progress=True)}")
    return 0


def _trained(args: argparse.Namespace, profile: Profile, manifest, model: str):
    from .train import train

    return train(profile, manifest, MODEL_ROLES[model], cache=_cache(args), progress=not args.no_progress)


def _is_main_rank() -> bool:
    """Under ``torchrun`` only rank 0 prints."""
    return os.environ.get("RANK", "0") == "0"


def cmd_train(args: argparse.Namespace) -> int:
    from .train import resolve_manifest

    profile = _profile(args)
    manifest = resolve_manifest(profile, None)
    result = _trained(args, profile, manifest, args.model)
    if not _is_main_rank():
        return 0
    print(result.history.round(4).to_string(index=False))
    where = result.entry.path if result.entry is not None else "(not cached)"
    print(f"{args.model}: {'loaded from cache' if result.cached else 'trained'} in "
          f"{result.wall_time_s:.1f} s, {result.slice_steps} slice steps -> {where}")
    return 0


def _print_tables(table, label: str) -> None:
    from .metrics import format_paper_table, paper_table

    table = table.assign(model=label)
    print(table.drop(columns="model").round(4).to_string(index=False))
    tidy = paper_table(table)
    if len(tidy):
        print()
        print(format_paper_table(tidy).to_string(index=False))


def cmd_evaluate(args: argparse.Namespace) -> int:
    from . import distributed, metrics
    from .manifest import EVAL_ROLES
    from .train import resolve_manifest

    profile = _profile(args)
    manifest = resolve_manifest(profile, None)
    roles = list(EVAL_ROLES) if args.roles is None else args.roles
    if args.model == "zero_filled":
        table = metrics.zero_filled(manifest, roles, profile)
    else:
        result = _trained(args, profile, manifest, args.model)
        # under torchrun (streaming data path) the ranks split the volumes; every rank gets the table
        dist = distributed.init()
        table = metrics.evaluate(result.model, manifest, roles, profile, entry=result.entry, dist=dist)
        if not dist.is_main:
            return 0
    if args.out is not None:
        atomic_write_text(args.out, table.to_csv(index=False, lineterminator="\n"))
    _print_tables(table, args.model)
    return 0


def _unlearned(args: argparse.Namespace, profile: Profile):
    """The cached (or new) :class:`~mriunlearn.unlearning.runner.UnlearnResult` of the run the
    unlearning options describe."""
    try:
        from .unlearning import run_unlearning  # type: ignore[attr-defined]
    except ImportError:
        try:
            from .unlearning.runner import run_unlearning
        except ImportError as exc:
            raise MriUnlearnError(f"unlearning is not available (mriunlearn.unlearning.run_unlearning): {exc}") from exc
    from .train import resolve_manifest

    manifest = resolve_manifest(profile, None)
    return run_unlearning(profile, manifest, args.method, params=key_values(args.params, "--param") or None,
                          retain_fraction=args.retain_fraction, seed=args.seed, cache=_cache(args),
                          progress=not args.no_progress, epochs=args.epochs, steps=args.steps)


def cmd_unlearn(args: argparse.Namespace) -> int:
    result = _unlearned(args, _profile(args))
    if not _is_main_rank():  # under torchrun every rank runs its share; rank 0 alone writes and prints
        return 0
    if args.out is not None:
        atomic_write_text(args.out, result.final.to_csv(index=False, lineterminator="\n"))
    _print_tables(result.final, args.method)
    print(f"{args.method}: {result.wall_time_s:.1f} s, {result.slice_steps} slice steps"
          f"{' (cached)' if result.cached else ''}")
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    """Print the registered unlearning methods (or those named): summary, parameters, source."""
    from .unlearning import describe_methods

    print(describe_methods(args.names or None))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Print, per table and tolerance class, how far another run's figures lie from the reference
    (:func:`mriunlearn.reproduction.measured_differences`); exit status 1 when a number is outside
    its tolerance."""
    from . import reproduction

    for folder in (args.other, args.reference):
        if folder is not None and not Path(folder).is_dir():
            raise ConfigError(f"compare: {folder} is not a folder")
    diffs = reproduction.measured_differences(args.reference or paths.REFERENCE_DIR, args.other)
    if diffs.empty:
        raise ConfigError(f"compare: {args.other} holds none of the compared tables ({', '.join(reproduction.TABLES)})")
    summary = diffs.groupby(["table", "class"]).agg(numbers=("abs_diff", "size"), max_abs_diff=("abs_diff", "max"),
                                                     max_ratio=("ratio", "max"))
    print(summary.round(4).to_string())
    outside = diffs[diffs.ratio > 1]
    print(f"{len(outside)} of {len(diffs)} numbers outside tolerance")
    if args.out is not None:
        atomic_write_text(args.out, diffs.to_csv(index=False, lineterminator="\n"))
    return 1 if len(outside) else 0


def cmd_ship(args: argparse.Namespace) -> int:
    """Publish the finished training runs of ``--runs`` (:func:`mriunlearn.base_models.export`)."""
    from . import base_models
    from .cache import RunCache
    from .train import RUN_FILES

    store = args.store.expanduser().resolve() if args.store is not None else paths.base_models_dir()
    if store is None:
        raise ConfigError("ship: MRIUNLEARN_BASE_MODELS is off; give --store DIR")
    cache = RunCache(args.runs.expanduser().resolve())
    entries = [e for kind in base_models.SHIPPED_KINDS for e in cache.entries(kind)]
    if not entries:
        raise ConfigError(f"ship: {cache.root} holds no finished run of kind {', '.join(base_models.SHIPPED_KINDS)}")
    for folder in base_models.export([e.path for e in entries], store, RUN_FILES):
        size = sum(f.stat().st_size for f in folder.iterdir()) / 2**20
        print(f"{folder.relative_to(store)}  {size:.2f} MB")
    print(f"pinned in {store / base_models.SUMS}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Export G, the oracle, an unlearned model (cached runs, trained if missing) or a weights file
    with :func:`mriunlearn.export.export_varnet`."""
    from .checkpoint import read_model_weights
    from .export import check_format, export_varnet

    check_format(args.format)  # before any training
    profile = _profile(args)
    run_options = [option for option, dest in (("--param", "params"), ("--retain-fraction", "retain_fraction"),
                                               ("--seed", "seed"), ("--epochs", "epochs"),
                                               ("--steps", "steps"))
                   if getattr(args, dest) is not None]
    if run_options and args.method is None:
        raise MriUnlearnError(f"{', '.join(run_options)}: only for an unlearned model (give --method)")
    if args.checkpoint is not None:
        weights: Any = read_model_weights(args.checkpoint)
        what = str(args.checkpoint)
    else:
        if args.method is not None:
            result = _unlearned(args, profile)
            what = f"unlearned model {args.method}"
        else:
            from .train import resolve_manifest

            model = args.model or "original"
            result = _trained(args, profile, resolve_manifest(profile, None), model)
            what = f"{model} model"
        weights = result.model
        if result.entry is not None:
            what += f" ({result.entry.model_path})"
    if not _is_main_rank():
        return 0
    out = export_varnet(weights, profile, args.out, fmt=args.format, source=what)
    print(f"{what} -> {out} ({args.format}, fastmri.models.VarNet, profile {profile.name})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the subcommand; errors from the package exit with status 2 and a
    one-line message on stderr."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # report unknown options against the subcommand, listing its valid ones
        command = parser.commands[args.command]  # type: ignore[attr-defined]
        if getattr(args, "split_command", None):
            command = command._subparsers._group_actions[0].choices[args.split_command]
        command.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.func(args) or 0)
    except MriUnlearnError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
