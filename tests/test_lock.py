"""The run cache's per-entry lock (``mriunlearn.lock``): a second job stops naming the holder or waits
for it, stale locks (SIGKILLed holder, dead host) are taken over, release on exceptions.

Holders are real child processes where the pid matters; no assertion depends on timing (waits are
bounded by generous limits and replaced by hooks where a test needs a wait to happen).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mriunlearn import lock as lock_mod
from mriunlearn.cache import RunCache
from mriunlearn.errors import ConfigError, EntryLockedError
from mriunlearn.lock import HOST, EntryLock, StaleLockWarning

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
       "OMP_NUM_THREADS": "1"}

#: a child that takes the lock ``argv[1]``, says "held", and keeps it until its stdin closes
HOLDER = textwrap.dedent("""
    import sys
    from mriunlearn.lock import EntryLock
    lock = EntryLock(sys.argv[1]).acquire()
    print("held", flush=True)
    sys.stdin.read()
    lock.release()
""")

#: a child that computes a cache entry with RunCache.run, pausing inside build until stdin closes
BUILDER = textwrap.dedent("""
    import sys
    from mriunlearn.cache import RunCache
    def build(entry):
        print("building", flush=True)
        sys.stdin.read()
        entry.write_json("result.json", {"by": "child"})
    cache = RunCache(sys.argv[1])
    cache.run(cache.entry("unlearn", {"method": "ft"}, "m", 0), build, lambda entry: None)
""")


def _start(script: str, *args: str) -> subprocess.Popen:
    """Start ``script`` and return once it printed its first line (it then holds the lock)."""
    proc = subprocess.Popen([sys.executable, "-c", script, *args], env=ENV, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=60)
        pytest.fail(f"child failed (rc {proc.returncode}): {proc.stderr.read()[-2000:]}")
    return proc


def _finish(proc: subprocess.Popen) -> None:
    """Close the child's stdin (it releases its lock) and wait for it to exit cleanly."""
    proc.stdin.close()
    assert proc.wait(timeout=120) == 0, proc.stderr.read()[-2000:]
    proc.stdout.close()
    proc.stderr.close()


def _write_record(path: Path, **fields) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"host": HOST, "pid": os.getpid(), "started": "2024-01-01T00:00:00+00:00",
              "entry": str(path.parent), "token": "t" * 32, **fields}
    path.write_text(json.dumps(record))


def test_second_job_stops_naming_the_holder(tmp_path):
    path = tmp_path / "runs" / "train" / "abc" / "LOCK"
    holder = _start(HOLDER, str(path))
    try:
        record = json.loads(path.read_text())
        assert record["pid"] == holder.pid and record["host"] == HOST
        with pytest.raises(EntryLockedError) as exc:
            EntryLock(path, wait=0).acquire()
        msg = str(exc.value)
        assert f"pid {holder.pid} on host {HOST}" in msg and f"started {record['started']}" in msg
        assert str(path.parent) in msg and f"delete {path}" in msg and "MRIUNLEARN_LOCK_WAIT" in msg
        assert json.loads(path.read_text())["token"] == record["token"]  # the holder's lock is untouched
    finally:
        _finish(holder)
    assert not path.exists()  # released by the holder
    with EntryLock(path, wait=0) as mine:
        assert json.loads(path.read_text())["pid"] == os.getpid() and mine.held
    assert not path.exists()


def test_second_job_waits_then_loads_the_entry_the_first_finished(tmp_path, monkeypatch, capsys):
    cache = RunCache(tmp_path / "runs", lock_wait=120)  # a bound: the holder finishes at the first wait
    entry = cache.entry("unlearn", {"method": "ft"}, "m", 0)
    builder = _start(BUILDER, str(cache.root))
    waits: list[float] = []

    def let_the_holder_finish(seconds: float) -> None:  # instead of sleeping between attempts
        waits.append(seconds)
        if len(waits) == 1:
            _finish(builder)
        else:  # only if the finished holder's lock were not released: wait for real until the bound
            time.sleep(seconds)

    real_lock = RunCache.lock

    def lock(self, e):
        out = real_lock(self, e)
        out.sleep = let_the_holder_finish
        return out

    monkeypatch.setattr(RunCache, "lock", lock)
    try:
        built = []
        got, hit = cache.run(entry, built.append, lambda e: e)
    finally:
        if builder.poll() is None:
            builder.kill()
            builder.wait()
    assert waits and hit and built == []  # waited, then found the other job's finished entry
    assert got.path == entry.path and entry.read_json("result.json") == {"by": "child"}
    assert f"pid {builder.pid} on host {HOST}" in capsys.readouterr().err  # said whom it waits for
    assert not entry.lock_path.exists()


def test_sigkilled_holder_leaves_a_stale_lock_that_is_taken_over(tmp_path):
    path = tmp_path / "entry" / "LOCK"
    holder = _start(HOLDER, str(path))
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=60)  # reaped: the pid no longer runs
    for stream in (holder.stdin, holder.stdout, holder.stderr):
        stream.close()
    assert json.loads(path.read_text())["pid"] == holder.pid  # the killed job's lock is still there
    with pytest.warns(StaleLockWarning, match=rf"pid {holder.pid} on host .*process {holder.pid} .* is gone"):
        lock = EntryLock(path, wait=0).acquire()
    assert json.loads(path.read_text())["pid"] == os.getpid()
    lock.release()
    assert not path.exists()


def test_lock_of_another_host_is_stale_only_after_the_heartbeat_limit(tmp_path):
    path = tmp_path / "entry" / "LOCK"
    _write_record(path, host="node-elsewhere", pid=1)  # pid 1 runs here: only the heartbeat may count
    with pytest.raises(EntryLockedError, match="pid 1 on host node-elsewhere"):
        EntryLock(path, wait=0, stale_after=300).acquire()
    old = time.time() - 301
    os.utime(path, (old, old))
    with pytest.warns(StaleLockWarning, match=r"node-elsewhere.*heartbeat is 30\d s old .*limit 300 s"):
        lock = EntryLock(path, wait=0, stale_after=300).acquire()
    assert json.loads(path.read_text())["host"] == HOST
    lock.release()


def test_unreadable_lock_is_judged_by_its_age(tmp_path):
    path = tmp_path / "entry" / "LOCK"
    path.parent.mkdir(parents=True)
    path.write_text("")  # e.g. created with O_EXCL, record not yet written
    with pytest.raises(EntryLockedError, match="lock record is unreadable"):
        EntryLock(path, wait=0).acquire()
    old = time.time() - 1000
    os.utime(path, (old, old))
    with pytest.warns(StaleLockWarning, match="unreadable record"):
        EntryLock(path, wait=0, stale_after=300).acquire().release()


@pytest.mark.skipif(not Path(f"/proc/{os.getpid()}/stat").exists(), reason="needs /proc")
def test_reused_pid_is_not_taken_for_the_holder(tmp_path):
    path = tmp_path / "entry" / "LOCK"
    start = lock_mod._proc_start(os.getpid())
    assert start is not None
    _write_record(path, proc_start=start)  # this very process: live
    with pytest.raises(EntryLockedError):
        EntryLock(path, wait=0).acquire()
    _write_record(path, proc_start=start + 1)  # same pid, but a process started at another time
    with pytest.warns(StaleLockWarning, match="is gone"):
        EntryLock(path, wait=0).acquire().release()


def test_heartbeat_refreshes_the_lock_and_stops_on_release(tmp_path):
    path = tmp_path / "entry" / "LOCK"
    lock = EntryLock(path, heartbeat=0.01).acquire()
    old = time.time() - 1000
    os.utime(path, (old, old))
    deadline = time.monotonic() + 60  # a bound, not a measurement
    while path.stat().st_mtime < old + 500 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert path.stat().st_mtime > old + 500
    thread = lock._thread
    lock.release()
    assert thread is not None and not thread.is_alive() and not path.exists()


def test_lock_is_released_on_exception(tmp_path):
    path = tmp_path / "entry" / "LOCK"
    with pytest.raises(RuntimeError, match="boom"):
        with EntryLock(path):
            assert path.exists()
            raise RuntimeError("boom")
    assert not path.exists()
    cache = RunCache(tmp_path / "runs")

    def broken(entry):
        assert entry.lock_path.exists()
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        cache.run(cache.entry("unlearn", {"method": "ga"}, "m", 0), broken, lambda e: pytest.fail("loaded"))
    entry = cache.entry("unlearn", {"method": "ga"}, "m", 0)
    assert entry.path.is_dir() and not entry.lock_path.exists() and not entry.is_done()


def test_release_leaves_a_lock_that_another_job_took_over(tmp_path):
    path = tmp_path / "entry" / "LOCK"
    lock = EntryLock(path, heartbeat=0).acquire()
    _write_record(path, host="node-elsewhere", pid=7, token="x" * 32)  # taken over meanwhile
    with pytest.warns(StaleLockWarning, match="taken over .*pid 7 on host node-elsewhere"):
        lock.release()
    assert json.loads(path.read_text())["token"] == "x" * 32 and not lock.held


def test_finished_entry_is_read_without_the_lock(tmp_path):
    cache = RunCache(tmp_path / "runs", lock_wait=0)
    entry = cache.entry("unlearn", {"method": "ft"}, "m", 0)
    _, hit = cache.run(entry, lambda e: e.write_json("r.json", 1), lambda e: pytest.fail("loaded"))
    assert not hit
    with cache.lock(entry):  # a live job holds the lock of the finished entry
        again, hit = cache.run(entry, lambda e: pytest.fail("rebuilt"), lambda e: e.read_json("r.json"))
        assert hit and again == 1


def test_takeover_waits_for_a_concurrent_takeover_and_removes_an_abandoned_guard(tmp_path):
    path = tmp_path / "entry" / "LOCK"
    _write_record(path, pid=-1)  # this host, no such process: stale
    lock = EntryLock(path, wait=0)
    lock.guard_path.write_text("{}")  # another job is taking it over right now
    calls = []
    lock.sleep = lambda s: calls.append(s) or lock.guard_path.unlink()  # ... and finishes
    with pytest.warns(StaleLockWarning):
        lock.acquire()
    assert calls and lock.held and not lock.guard_path.exists()
    lock.release()
    _write_record(path, pid=-1)
    lock.guard_path.write_text("{}")
    old = time.time() - 2 * lock_mod.GUARD_STALE_S
    os.utime(lock.guard_path, (old, old))  # left by a job killed mid-takeover
    calls.clear()
    lock.sleep = calls.append
    with pytest.warns(StaleLockWarning):
        lock.acquire()
    assert lock.held and not lock.guard_path.exists()
    lock.release()


def test_filesystem_without_hard_links_uses_exclusive_create(tmp_path, monkeypatch):
    import errno

    def no_link(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted", str(dst))

    monkeypatch.setattr(lock_mod.os, "link", no_link)
    path = tmp_path / "entry" / "LOCK"
    lock = EntryLock(path).acquire()
    assert json.loads(path.read_text())["pid"] == os.getpid()
    assert [p.name for p in path.parent.iterdir()] == ["LOCK"]  # no temporary file left
    with pytest.raises(EntryLockedError, match=f"pid {os.getpid()}"):
        EntryLock(path, wait=0).acquire()
    lock.release()
    assert not path.exists()


def test_wait_settings_are_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("MRIUNLEARN_LOCK_WAIT", "soon")
    with pytest.raises(ConfigError, match="MRIUNLEARN_LOCK_WAIT must be a number of seconds >= 0, got 'soon'"):
        RunCache(tmp_path)
    monkeypatch.setenv("MRIUNLEARN_LOCK_WAIT", "90")
    assert RunCache(tmp_path).lock_wait == 90.0 and RunCache(tmp_path, lock_wait=5).lock_wait == 5.0
    monkeypatch.delenv("MRIUNLEARN_LOCK_WAIT")
    assert RunCache(tmp_path).lock_wait == 0.0
    with pytest.raises(ConfigError, match="lock_wait must be a number of seconds >= 0, got -1"):
        RunCache(tmp_path, lock_wait=-1)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=f"run cache folder {tmp_path / 'file'} exists and is not a folder"):
        RunCache(tmp_path / "file")
