"""End to end: wall time and peak memory of ``make reproduce``, first run and cached re-run.

Both runs use one fresh, empty run cache (``MRIUNLEARN_RUNS`` pointing to a new temporary folder),
so the first run computes everything the published base models (``models/``) do not ship, and the
second loads it all from the cache; ``--e2e-command "make reproduce COLD=1"`` times the cold path,
where the first run trains every model. Each run is started
through a small child process of this module (``python -m benchmarks.e2e --child CMD...``) that
reports its own ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``, so each run's peak resident
memory (the largest single process of that run) is measured separately.
"""

from __future__ import annotations

import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mriunlearn import paths

from .common import machine_info, md_table

DEFAULT_COMMAND: tuple[str, ...] = ("make", "reproduce")
COLUMNS = ["run", "wall_s", "peak_rss_mib", "returncode"]
_MARK = "E2E-CHILD-RESULT "


def _child(cmd: Sequence[str]) -> int:
    """Run ``cmd``; print its wall time and peak RSS (KiB on Linux) as one JSON line on stdout."""
    t0 = time.perf_counter()
    rc = subprocess.call(list(cmd))
    wall = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(_MARK + json.dumps({"wall_s": wall, "peak_rss_kib": peak_kib, "returncode": rc}), flush=True)
    return rc


def time_command(cmd: Sequence[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Wall time, peak RSS (MiB) and return code of one run of ``cmd`` (output passes through)."""
    proc = subprocess.run([sys.executable, "-m", "benchmarks.e2e", "--child", *cmd], env=env, cwd=cwd,
                          stdout=subprocess.PIPE, text=True)
    result = None
    for line in proc.stdout.splitlines():
        if line.startswith(_MARK):
            result = json.loads(line[len(_MARK):])
        else:
            print(line, flush=True)
    if result is None:
        raise RuntimeError(f"e2e: the timing child of {shlex.join(cmd)} reported nothing (exit {proc.returncode})")
    return {"wall_s": result["wall_s"], "peak_rss_mib": result["peak_rss_kib"] / 1024,
            "returncode": result["returncode"]}


def run(command: Sequence[str] | str | None = None, *, runs_dir: str | os.PathLike[str] | None = None,
        cwd: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Time ``command`` (default ``make reproduce``) twice on one empty run cache.

    ``runs_dir``: the (empty) cache folder to use; default: a new temporary folder, removed after.
    """
    cmd = shlex.split(command) if isinstance(command, str) else list(command or DEFAULT_COMMAND)
    cwd = Path(cwd) if cwd is not None else paths.ROOT
    machine = machine_info()
    with tempfile.TemporaryDirectory(prefix="mriunlearn-e2e-runs-") as tmp:
        root = Path(runs_dir) if runs_dir is not None else Path(tmp)
        if root.exists() and any(root.iterdir()):
            raise ValueError(f"e2e: the run cache {root} is not empty (the first run must train everything)")
        env = {**os.environ, "MRIUNLEARN_RUNS": str(root)}
        first = time_command(cmd, env, cwd)
        cached = time_command(cmd, env, cwd)
    rows = [{"run": "first (empty run cache)", **first}, {"run": "re-run (cached)", **cached}]
    ok = first["returncode"] == 0 and cached["returncode"] == 0
    speedup = first["wall_s"] / cached["wall_s"] if cached["wall_s"] > 0 else float("inf")
    check = (f"`{shlex.join(cmd)}`: first run {first['wall_s']:.0f} s, cached re-run {cached['wall_s']:.0f} s "
             f"({speedup:.1f}x faster), peak RSS {max(first['peak_rss_mib'], cached['peak_rss_mib']):.0f} MiB"
             + ("" if ok else " -- a run FAILED (non-zero exit)"))
    md = "\n".join([f"End to end, `{shlex.join(cmd)}` with `MRIUNLEARN_RUNS` set to a fresh empty folder, "
                    "then re-run on the filled cache.", "", md_table(rows, COLUMNS), "", f"**{check}**"])
    return {"machine": machine, "command": cmd, "rows": rows, "cached_speedup": speedup, "ok": ok,
            "check": check, "markdown": md}


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        sys.exit(_child(sys.argv[2:]))
    sys.exit("usage: python -m benchmarks e2e [--e2e-command CMD] (this module's --child is internal)")
