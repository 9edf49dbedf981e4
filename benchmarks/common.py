"""Shared benchmark helpers: machine description, interleaved timing, statistics, result files.

Every comparison in :mod:`benchmarks` is a ratio of two variants timed *side by side*: the
variants' timing units are interleaved (A, B, C, A, B, C, ... with the order rotated every
repetition) so that load from other processes on the shared machine hits all of them alike, and
ratios are taken per repetition (paired) before the median is reported.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mriunlearn.atomic import atomic_write_text

#: where ``python -m benchmarks`` writes ``latest.json`` / ``latest.md``
RESULTS_DIR: Path = Path(__file__).resolve().parent / "results"


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags() -> set[str]:
    """The CPU feature flags from ``/proc/cpuinfo`` (empty where unavailable)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def machine_info() -> dict[str, Any]:
    """CPU model, cores, bf16 support, torch version, date and the load average at the call."""
    import torch

    flags = cpu_flags()
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cpu_bf16": sorted(flags & {"avx512_bf16", "amx_bf16"}),
        "torch": torch.__version__,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "loadavg_1_5_15": load,
    }


def summarize(values: Sequence[float]) -> dict[str, float]:
    """``median``, quartiles ``q1``/``q3``, ``min``, ``max`` and ``n`` of ``values``."""
    xs = sorted(float(v) for v in values)
    if not xs:
        raise ValueError("summarize() needs at least one value")
    if len(xs) >= 2:
        q1, _, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    else:
        q1 = q3 = xs[0]
    return {"median": statistics.median(xs), "q1": q1, "q3": q3, "min": xs[0], "max": xs[-1],
            "n": len(xs)}


def interleave(units: Mapping[str, Callable[[], int]], reps: int, *, warmup: int = 1,
               clock: Callable[[], float] = time.perf_counter) -> dict[str, list[float]]:
    """Time the ``units`` side by side and return each one's rates (items per second) per repetition.

    A unit is a callable doing one timed piece of work and returning how many items (slices) it
    processed. Each repetition runs every unit once; the order rotates by one every repetition so
    no variant always runs right after another. ``warmup`` untimed repetitions come first.
    """
    names = list(units)
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")
    for _ in range(warmup):
        for name in names:
            units[name]()
    rates: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(reps):
        k = rep % len(names)
        for name in names[k:] + names[:k]:
            t0 = clock()
            items = units[name]()
            dt = clock() - t0
            rates[name].append(items / dt if dt > 0 else float("inf"))
    return rates


def paired_ratios(num: Sequence[float], den: Sequence[float]) -> list[float]:
    """Per-repetition ratios ``num[i] / den[i]`` of two interleaved series."""
    if len(num) != len(den):
        raise ValueError(f"series of different lengths ({len(num)} vs {len(den)})")
    return [a / b for a, b in zip(num, den)]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    return "-" if value is None else str(value)


def md_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A GitHub-markdown table of ``rows`` (dicts) restricted to ``columns``."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def load_results(out_dir: Path) -> dict[str, Any]:
    """The sections of ``out_dir/latest.json`` (empty if there is none or it is unreadable)."""
    path = Path(out_dir) / "latest.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_results(sections: Mapping[str, Any], out_dir: Path, *, merge: bool = True) -> tuple[Path, Path]:
    """Write ``latest.json`` and ``latest.md`` into ``out_dir`` (atomically).

    ``sections``: name -> a section dict holding at least ``markdown`` (its rendering) and
    ``machine``. With ``merge``, sections of an earlier ``latest.json`` that this run did not
    produce are kept (each keeps its own machine and date), so ``python -m benchmarks e2e`` adds to
    the figures of the default run instead of erasing them.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    merged: dict[str, Any] = load_results(out_dir) if merge else {}
    merged.update(sections)
    order = ["throughput", "precision", "datapath", "unlearning", "e2e", "scale"]
    names = [n for n in order if n in merged] + sorted(set(merged) - set(order))
    json_path = out_dir / "latest.json"
    atomic_write_text(json_path, json.dumps({n: merged[n] for n in names}, indent=2, sort_keys=False,
                                            default=str) + "\n")
    parts = ["# mriunlearn benchmarks (latest)", "",
             "Written by `make bench` / `python -m benchmarks`; each section states its machine and date.",
             ""]
    for name in names:
        sec = merged[name]
        m = sec.get("machine", {})
        parts += [f"## {name}", "",
                  f"Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, torch {m.get('torch', '?')}, "
                  f"{m.get('date', '?')}, load average {m.get('loadavg_1_5_15', '?')}.", "",
                  str(sec.get("markdown", "")).rstrip(), ""]
    md_path = out_dir / "latest.md"
    atomic_write_text(md_path, "\n".join(parts))
    return json_path, md_path
