"""Training throughput: the engine's training step against the authors' plain loop, with an ablation.

Rows (cumulative levers, all timed side by side in one process, interleaved batch by batch):

1. ``reference``: what the authors' code does -- ``fastmri.data.SliceDataset`` +
   ``VarNetDataTransform`` (every slice read from its HDF5 file), ``fastmri.models.VarNet`` in fp32,
   batch 1, Adam, the profile's loss and gradient clipping;
2. ``+ in-memory data``: the same loop fed by the engine's in-memory :class:`~mriunlearn.dataset.SliceData`;
3. ``+ batch B``: the engine's :func:`~mriunlearn.train.train_step` on batches of ``B`` same-shape
   slices (``B`` = the profile's batch size), fp32, NCHW;
4. ``+ bf16 autocast``: bf16 autocast of the forward pass, fp32 master weights and loss;
5. ``+ channels-last``: conv weights (hence activations) in channels-last memory format;
6. ``+ complex forward``: the engine's :class:`~mriunlearn.varnet.VarNet` (same weights, native
   complex FFTs and coil products instead of fastMRI's real-pair arithmetic); rows 1-5 run
   ``fastmri.models.VarNet`` itself;
7. ``engine (as shipped)``: exactly :func:`~mriunlearn.model.build_model`,
   :func:`~mriunlearn.train.make_optimizer` and :func:`~mriunlearn.train.train_step` with the
   profile as configured (should match the last lever row);
8. ``engine, 1 thread`` (informational): row 6 with ``torch.set_num_threads(1)``.

Every row processes one batch worth of slices (``B``) per timing unit; rates are slices per second
(wall clock), ratios are per-repetition paired ratios against the reference and against the row
above. The model size and data are the profile's (retain slices); each row trains its own copy of
the model from the same initial weights (timing does not depend on the weights).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fastmri.models
import torch
from fastmri.data import SliceDataset
from fastmri.data.transforms import VarNetDataTransform, VarNetSample, center_crop_to_smallest

from mriunlearn.dataset import SliceData, make_loader, make_mask_func, set_epoch
from mriunlearn.losses import recon_loss
from mriunlearn.manifest import Manifest
from mriunlearn.model import build_model, effective_precision
from mriunlearn.profiles import Profile
from mriunlearn.train import set_threads, make_optimizer, train_step

from .common import interleave, machine_info, md_table, paired_ratios, summarize, verdict

#: the engine must train at least this many times as many slices per second as the reference
TARGET_SPEEDUP = 4.0
COLUMNS = ["row", "lever", "batch", "precision", "memory_format", "slices_per_s", "q1", "q3",
           "ms_per_slice", "x_reference", "x_reference_min", "x_reference_max", "x_previous"]


def _endless(loader: torch.utils.data.DataLoader, engine: bool) -> Iterator[Any]:
    """Batches of ``loader`` forever; an engine loader gets the next epoch at each pass."""
    epoch = 0
    while True:
        if engine:
            set_epoch(loader, epoch)
        got = False
        for batch in loader:
            if batch is None:
                continue
            got = True
            yield batch
        if not got:
            raise ValueError("the benchmark's training loader yields no batch")
        epoch += 1


def _plain_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: VarNetSample,
                profile: Profile) -> float:
    """The authors' training step (fastMRI ``VarNetModule.training_step``) in a plain loop, fp32:
    forward, crop to the smaller of output and target, loss, backward, clip, Adam."""
    optimizer.zero_grad(set_to_none=True)
    num_low = batch.num_low_frequencies
    out = model(batch.masked_kspace, batch.mask, num_low)
    target, out = center_crop_to_smallest(batch.target, out)
    loss = recon_loss(out, target, torch.as_tensor(batch.max_value).reshape(-1), profile)
    loss.backward()
    if profile.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), profile.grad_clip)
    optimizer.step()
    return float(loss.detach())


def reference_loader(profile: Profile, files: list[Path], workdir: Path) -> torch.utils.data.DataLoader:
    """fastMRI's data path over ``files``: ``SliceDataset`` (one HDF5 read per slice) +
    ``VarNetDataTransform`` with the profile's training mask (unseeded, as in fastMRI training),
    batch 1, shuffled. The volumes are symlinked into ``workdir`` (``SliceDataset`` reads a folder)
    and the dataset cache file is pointed there, so nothing lands in the working directory."""
    folder = workdir / "reference_volumes"
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        link = folder / Path(f).name
        if not link.exists():
            link.symlink_to(Path(f).resolve())
    dataset = SliceDataset(root=folder, challenge="multicoil",
                           transform=VarNetDataTransform(mask_func=make_mask_func(profile), use_seed=False),
                           use_dataset_cache=False, dataset_cache_file=workdir / "dataset_cache.pkl")
    return torch.utils.data.DataLoader(dataset, batch_size=1, shuffle=True, num_workers=0,
                                       generator=torch.Generator().manual_seed(profile.seed))


def _model(profile: Profile, channels_last: bool, fastmri_forward: bool = True) -> torch.nn.Module:
    """The profile's VarNet with the engine's initial weights: ``fastmri.models.VarNet`` itself
    (``fastmri_forward``) or the engine's :class:`~mriunlearn.varnet.VarNet` (complex forward)."""
    model = build_model(profile)
    if fastmri_forward:
        plain = fastmri.models.VarNet(num_cascades=profile.num_cascades, sens_chans=profile.sens_chans,
                                      sens_pools=profile.sens_pools, chans=profile.chans, pools=profile.pools)
        plain.load_state_dict(model.state_dict())
        model = plain
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return model.to(memory_format=fmt).train()


def make_units(profile: Profile, manifest: Manifest, workdir: Path, *, threads: int,
               include_one_thread: bool = True) -> tuple[dict[str, Callable[[], int]], list[dict[str, Any]]]:
    """The timing units of the ablation (name -> callable returning the slices it trained) and the
    rows describing them, in table order."""
    files = manifest.files("retain")
    bs = profile.batch_size
    fp32 = profile.replace(precision="fp32")
    bf16 = profile.replace(precision="bf16")
    units: dict[str, Callable[[], int]] = {}
    rows: list[dict[str, Any]] = []

    def add(name: str, lever: str, batch: int, prec: str, fmt: str, fn: Callable[[], int]) -> None:
        units[name] = fn
        ran = effective_precision(profile.replace(precision=prec))  # bf16 runs in fp32 without native bf16
        rows.append({"row": name, "lever": lever, "batch": batch,
                     "precision": prec if ran == prec else f"{prec} (runs {ran}: no native bf16)", "memory_format": fmt})

    # 1. the authors' loop: HDF5 per slice, fp32, batch 1
    ref_model = _model(fp32, channels_last=False)
    ref_opt = torch.optim.Adam(ref_model.parameters(), lr=profile.lr)
    ref_it = _endless(reference_loader(profile, files, workdir), engine=False)

    def reference() -> int:
        for _ in range(bs):
            _plain_step(ref_model, ref_opt, next(ref_it), fp32)
        return bs

    add("reference", "fastMRI SliceDataset (HDF5 per slice), VarNet fp32, batch 1", 1, "fp32", "NCHW",
        reference)

    data = SliceData.from_manifest(manifest, "retain", profile, train=True)

    # 2. + in-memory data: same plain loop, the engine's loader with batch 1
    mem_model = _model(fp32, channels_last=False)
    mem_opt = torch.optim.Adam(mem_model.parameters(), lr=profile.lr)
    mem_it = _endless(make_loader(data, profile, train=True, batch_size=1), engine=True)

    def in_memory() -> int:
        for _ in range(bs):
            _plain_step(mem_model, mem_opt, next(mem_it), fp32)
        return bs

    add("+ in-memory data", "engine SliceData (volumes read once), same loop", 1, "fp32", "NCHW", in_memory)

    def engine_unit(prof: Profile, channels_last: bool | None, n_threads: int | None = None,
                    fastmri_forward: bool = True) -> Callable[[], int]:
        model = (build_model(prof).train() if channels_last is None
                 else _model(prof, channels_last, fastmri_forward))
        opt = make_optimizer(model, prof)
        it = _endless(make_loader(data, prof, train=True), engine=True)

        def unit() -> int:
            batch = next(it)
            if n_threads is not None:
                torch.set_num_threads(n_threads)
            try:
                train_step(model, opt, batch, prof)
            finally:
                if n_threads is not None:
                    torch.set_num_threads(threads)
            return len(batch.fname)

        return unit

    add(f"+ batch {bs}", "engine train_step, same-shape batches", bs, "fp32", "NCHW",
        engine_unit(fp32, channels_last=False))
    add("+ bf16 autocast", "bf16 autocast forward, fp32 master weights and loss", bs, "bf16", "NCHW",
        engine_unit(bf16, channels_last=False))
    add("+ channels-last", "conv weights/activations channels-last", bs, "bf16", "channels_last",
        engine_unit(bf16, channels_last=True))
    add("+ complex forward", "mriunlearn.varnet.VarNet: same weights, native complex FFTs/products",
        bs, "bf16", "channels_last", engine_unit(bf16, channels_last=True, fastmri_forward=False))
    shipped_fmt = "channels_last" if _is_channels_last(build_model(profile)) else "NCHW"
    add("engine (as shipped)", "build_model + make_optimizer + train_step, profile as is", bs,
        profile.precision, shipped_fmt, engine_unit(profile, channels_last=None))
    if include_one_thread and threads != 1:
        add("engine, 1 thread", "as shipped, torch.set_num_threads(1) (informational)", bs,
            profile.precision, shipped_fmt, engine_unit(profile, channels_last=None, n_threads=1))
    return units, rows


def _is_channels_last(model: torch.nn.Module) -> bool:
    w = next(p for p in model.parameters() if p.ndim == 4)
    return w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()


def run(profile: Profile, manifest: Manifest, *, reps: int = 12, warmup: int = 1,
        threads: int | None = None, workdir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Run the ablation and return the section for ``latest.json`` (rows, verdict, markdown).

    ``threads``: torch threads for every row (default: what the engine's training sets, i.e.
    ``profile.num_threads`` or all cores).
    """
    if threads is None:
        set_threads(profile)
    else:
        torch.set_num_threads(threads)
    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="mriunlearn-bench-") as tmp:
        units, rows = make_units(profile, manifest, Path(workdir or tmp), threads=threads)
        machine = machine_info()
        rates = interleave(units, reps, warmup=warmup)
    ref = rates["reference"]
    prev: list[float] | None = None
    for row in rows:
        r = rates[row["row"]]
        s = summarize(r)
        vs_ref = summarize(paired_ratios(r, ref))
        row.update(slices_per_s=s["median"], q1=s["q1"], q3=s["q3"], ms_per_slice=1000 / s["median"],
                   x_reference=vs_ref["median"], x_reference_min=vs_ref["min"], x_reference_max=vs_ref["max"],
                   x_previous=(summarize(paired_ratios(r, prev))["median"] if prev is not None else None))
        if not row["row"].startswith("engine, 1 thread"):
            prev = r
    shipped = next(r for r in rows if r["row"] == "engine (as shipped)")
    ok = shipped["x_reference"] >= TARGET_SPEEDUP
    check = (f"engine / reference = {shipped['x_reference']:.2f}x (median of {reps} paired repetitions, "
             f"range {shipped['x_reference_min']:.2f}-{shipped['x_reference_max']:.2f}); target >= "
             f"{TARGET_SPEEDUP:.0f}x: {verdict(ok)}")
    md = "\n".join([
        f"Training throughput, profile `{profile.name}` ({profile.num_cascades} cascades, chans {profile.chans}, "
        f"{len(manifest.files('retain'))} retain volumes), {threads} torch thread(s), {reps} interleaved "
        f"repetitions of {profile.batch_size} slices per row (median slices/s, q1-q3; x = paired ratio).",
        "", md_table(rows, COLUMNS), "", f"**{check}**"])
    return {"machine": machine, "profile": profile.name, "threads": threads, "reps": reps,
            "rows": rows, "rates": rates, "target_speedup": TARGET_SPEEDUP, "speedup": shipped["x_reference"],
            "pass": ok, "check": check, "markdown": md}
