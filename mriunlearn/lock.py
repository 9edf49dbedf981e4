"""A lock per run-cache entry, safe on a shared filesystem and between hosts.

Two jobs that start the same unfinished run would otherwise write one cache entry at once (both
resume from its checkpoint, both write ``model.pt`` and ``DONE``). The job that computes an entry
holds ``<entry>/LOCK``; a second job either waits for it (bounded, then loads the finished entry) or
stops with :class:`~mriunlearn.errors.EntryLockedError` naming the holder's host, pid, start time
and the entry. A finished entry (``DONE``) is read without any lock.

- **Creation is atomic**: the holder's record (JSON: host, pid, start time, entry, command, a random
  token) is written to a unique file beside ``LOCK`` and hard-linked to ``LOCK``; ``link`` fails
  when ``LOCK`` exists, also over NFS, where a lost reply is caught by checking the unique file's
  link count, as ``open(2)`` advises. Where hard links are not supported, ``LOCK`` is created with
  ``O_CREAT | O_EXCL``. Nobody ever reads a half-written record under the final name (link path).
- **Heartbeat**: while held, a daemon thread touches ``LOCK`` every :data:`HEARTBEAT_S` seconds.
- **Stale locks** (a job killed with SIGKILL, a node that died) are taken over with a
  :class:`StaleLockWarning`:

  * holder on *this* host: its pid no longer runs (or now belongs to a process started later);
  * holder on *another* host: ``LOCK``'s modification time is older than :data:`STALE_AFTER_S`
    (hosts' clocks are assumed to agree to within a minute or two, as under NTP).

  A takeover is serialised by a short-lived ``LOCK.takeover`` file, so two waiters never both
  remove the same stale lock and one of them the other's fresh one.
- **Release** on normal exit and on exceptions (context manager); only the holder's own record is
  removed (checked by its token).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import math
import os
import secrets
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError, EntryLockedError

#: seconds between two heartbeats (touches of ``LOCK``) of the holder
HEARTBEAT_S: float = 30.0
#: a lock of another host whose heartbeat is older than this (seconds) is stale
STALE_AFTER_S: float = 300.0
#: seconds between two attempts of a waiting job
POLL_S: float = 2.0
#: a ``LOCK.takeover`` guard older than this (seconds) was left by a job killed mid-takeover
GUARD_STALE_S: float = 60.0
#: environment variable: default seconds a job waits for another job's lock (default 0: stop at once)
WAIT_ENV = "MRIUNLEARN_LOCK_WAIT"
#: errno values of ``link`` on filesystems without hard links (fall back to ``O_CREAT | O_EXCL``)
_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK}

HOST: str = socket.gethostname()


class StaleLockWarning(UserWarning):
    """A lock left by a job that is gone was taken over (or this job's own lock was)."""


@dataclass(frozen=True)
class Holder:
    """The record in a ``LOCK`` file. ``proc_start``: the pid's start time in clock ticks since
    boot (``/proc/<pid>/stat``; ``None`` where there is no ``/proc``), to tell a reused pid."""

    host: str
    pid: int
    started: str
    entry: str
    token: str
    command: str = ""
    proc_start: int | None = None

    def describe(self) -> str:
        cmd = f", command {self.command!r}" if self.command else ""
        return f"pid {self.pid} on host {self.host}, started {self.started}{cmd}"


def lock_wait_from_env() -> float:
    """Seconds to wait for another job's lock: ``$MRIUNLEARN_LOCK_WAIT`` or 0.

    Raises:
        ConfigError: the variable is not a number >= 0 (``inf`` waits without bound).
    """
    text = os.environ.get(WAIT_ENV, "").strip()
    return check_wait(text, WAIT_ENV) if text else 0.0


def check_wait(value: Any, name: str = "lock_wait") -> float:
    """``value`` as seconds >= 0 (``inf`` allowed).

    Raises:
        ConfigError: not a number, NaN or negative (names ``name``).
    """
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number of seconds >= 0, got {value!r}") from None
    if math.isnan(seconds) or seconds < 0:
        raise ConfigError(f"{name} must be a number of seconds >= 0, got {value!r}")
    return seconds


def _proc_start(pid: int) -> int | None:
    """Start time (clock ticks since boot) of ``pid`` from ``/proc``, ``None`` if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:  # the command name (field 2) may hold spaces and parentheses: split after the last ')'
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


def _pid_alive(pid: int, proc_start: int | None) -> bool:
    """Whether ``pid`` runs on this host and is the process that wrote the lock."""
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill would terminate the process; rely on the heartbeat there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    if proc_start is not None:
        now = _proc_start(pid)
        if now is not None and now != proc_start:
            return False  # the pid was reused by a later process
    return True


def _command() -> str:
    text = " ".join([Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python", *sys.argv[1:]])
    return text if len(text) <= 200 else text[:197] + "..."


def _create_exclusive(path: Path, text: str) -> bool:
    """Create ``path`` holding ``text`` unless it exists; ``True`` if this call created it."""
    unique = path.with_name(f".{path.name}.{HOST}.{os.getpid()}.{secrets.token_hex(6)}.claim")
    try:
        with open(unique, "x", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(unique, path)
            return True
        except FileExistsError:
            # NFS: a retransmitted link whose first reply was lost reports EEXIST although it worked
            return os.stat(unique).st_nlink == 2
        except OSError as exc:
            if exc.errno not in _NO_LINKS:
                raise
        try:  # no hard links on this filesystem
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        return True
    finally:
        unique.unlink(missing_ok=True)


def _age(path: Path) -> float | None:
    """Seconds since ``path`` was last modified (``None`` if it does not exist)."""
    try:
        return max(0.0, time.time() - path.stat().st_mtime)
    except FileNotFoundError:
        return None


class EntryLock:
    """The lock file ``path`` guarding the computation of one cache entry (a context manager).

    Args:
        path: the lock file (``<entry>/LOCK``); its folder is created if missing.
        entry: the guarded entry's folder, named in messages (default: ``path``'s folder).
        wait: seconds :meth:`acquire` waits for another job's lock before raising (``inf``: no bound).
        poll: seconds between two attempts while waiting.
        heartbeat: seconds between two touches of the held lock (<= 0: no heartbeat thread).
        stale_after: a lock of another host whose last touch is older than this is stale.
        sleep: the function that waits between attempts (tests replace it).
    """

    def __init__(self, path: str | os.PathLike[str], *, entry: str | os.PathLike[str] | None = None,
                 wait: float = 0.0, poll: float = POLL_S, heartbeat: float = HEARTBEAT_S,
                 stale_after: float = STALE_AFTER_S, sleep: Callable[[float], None] = time.sleep) -> None:
        self.path = Path(path)
        self.entry = Path(entry) if entry is not None else self.path.parent
        self.wait = check_wait(wait, "wait")
        self.poll = float(poll)
        self.heartbeat = float(heartbeat)
        self.stale_after = float(stale_after)
        self.sleep = sleep
        self._token: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"EntryLock({str(self.path)!r}, held={self.held})"

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._token is not None

    @property
    def guard_path(self) -> Path:
        return self.path.with_name(self.path.name + ".takeover")

    def read(self) -> tuple[Holder | None, float | None]:
        """``(holder, age_s)`` of the current lock file: ``(None, None)`` when there is none,
        ``(None, age)`` when its record is unreadable (being written without links, or damaged)."""
        age = _age(self.path)
        if age is None:
            return None, None
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
            holder = Holder(**{k: record[k] for k in Holder.__dataclass_fields__ if k in record})
        except FileNotFoundError:
            return None, None
        except (OSError, ValueError, TypeError, KeyError):
            return None, age
        if not (isinstance(holder.pid, int) and isinstance(holder.host, str) and isinstance(holder.token, str)
                and (holder.proc_start is None or isinstance(holder.proc_start, int))):
            return None, age
        return holder, age

    def stale_reason(self, holder: Holder | None, age: float) -> str | None:
        """Why a lock with this ``holder`` and heartbeat ``age`` is stale, or ``None`` if it is live.

        Same host: stale when the pid no longer runs (or was reused). Another host, or an
        unreadable record: stale when the heartbeat is older than ``stale_after``.
        """
        if holder is not None and holder.host == HOST:
            if not _pid_alive(holder.pid, holder.proc_start):
                return f"its process {holder.pid} on this host ({HOST}) is gone"
            return None
        if age > self.stale_after:
            return (f"its heartbeat is {age:.0f} s old (a live holder touches it every "
                    f"{HEARTBEAT_S:.0f} s; limit {self.stale_after:.0f} s)")
        return None

    def acquire(self) -> EntryLock:
        """Take the lock, waiting up to ``wait`` seconds for another job's; stale locks are taken
        over (with a :class:`StaleLockWarning`). Returns ``self``.

        Raises:
            EntryLockedError: another live job still holds it after ``wait`` seconds (names the
                holder's host, pid and start time, the entry and the lock file).
        """
        if self.held:
            raise EntryLockedError(f"{self.path} is already held by this lock object")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.wait
        announced = False
        while True:
            token = secrets.token_hex(16)
            record = {"host": HOST, "pid": os.getpid(), "proc_start": _proc_start(os.getpid()),
                      "started": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                      "entry": str(self.entry), "token": token, "command": _command()}
            if _create_exclusive(self.path, json.dumps(record, indent=2) + "\n"):
                self._token = token
                self._start_heartbeat()
                return self
            holder, age = self.read()
            if age is None:
                continue  # released between our attempt and the read: try again at once
            reason = self.stale_reason(holder, age)
            if reason is not None:
                outcome = self._take_over(holder)
                if outcome == "removed":
                    who = holder.describe() if holder is not None else "an unreadable record"
                    warnings.warn(f"took over the stale lock {self.path} of the run cache entry "
                                  f"{self.entry} ({who}): {reason}", StaleLockWarning, stacklevel=2)
                elif outcome == "busy":  # another job is taking it over right now (milliseconds)
                    self.sleep(min(self.poll, 0.05))
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise EntryLockedError(self._held_message(holder, age))
            if not announced:
                print(f"waiting up to {self.wait:.0f} s for the run cache entry {self.entry}: "
                      f"{self._holder_text(holder, age)}", file=sys.stderr, flush=True)
                announced = True
            self.sleep(min(self.poll, remaining))

    def release(self) -> None:
        """Stop the heartbeat and remove the lock file if it still holds this job's record (warns
        when another job took it over meanwhile). Does nothing when not held."""
        if self._token is None:
            return
        token, self._token = self._token, None
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        holder, _ = self.read()
        if holder is not None and holder.token == token:
            self.path.unlink(missing_ok=True)
        else:
            now = holder.describe() if holder is not None else "nobody"
            warnings.warn(f"the lock {self.path} of the run cache entry {self.entry} was taken over "
                          f"while this job held it (now held by {now}); was this job suspended for "
                          f"more than {self.stale_after:.0f} s?", StaleLockWarning, stacklevel=2)

    def touch(self) -> None:
        """Refresh the heartbeat (the lock file's modification time)."""
        with contextlib.suppress(OSError):
            os.utime(self.path)

    def __enter__(self) -> EntryLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _start_heartbeat(self) -> None:
        self._stop = threading.Event()
        if self.heartbeat <= 0:
            return

        def beat() -> None:
            while not self._stop.wait(self.heartbeat):
                self.touch()

        self._thread = threading.Thread(target=beat, name=f"heartbeat {self.path}", daemon=True)
        self._thread.start()

    def _take_over(self, stale: Holder | None) -> str:
        """Remove the lock file if it still is the ``stale`` one, under the ``LOCK.takeover`` guard.

        Returns ``"removed"`` (removed here), ``"changed"`` (another job released or took it over
        meanwhile: try again) or ``"busy"`` (another job holds the guard).
        """
        guard_record = json.dumps({"host": HOST, "pid": os.getpid()}) + "\n"
        if not _create_exclusive(self.guard_path, guard_record):
            guard_age = _age(self.guard_path)
            if guard_age is not None and guard_age > GUARD_STALE_S:
                self.guard_path.unlink(missing_ok=True)  # left by a job killed mid-takeover
            return "busy"
        try:
            current, age = self.read()
            if age is None:
                return "changed"
            if current is not None and stale is not None:
                same = current.token == stale.token
            else:
                same = current is None and stale is None
            if not same:
                return "changed"
            self.path.unlink(missing_ok=True)
            return "removed"
        finally:
            self.guard_path.unlink(missing_ok=True)

    def _holder_text(self, holder: Holder | None, age: float) -> str:
        who = holder.describe() if holder is not None else "a job whose lock record is unreadable"
        return f"locked by {who} (lock file {self.path}, last heartbeat {age:.0f} s ago)"

    def _held_message(self, holder: Holder | None, age: float) -> str:
        waited = f"after waiting {self.wait:.0f} s" if self.wait > 0 else "(no wait asked)"
        return (f"the run cache entry {self.entry} is being computed by another job {waited}: "
                f"{self._holder_text(holder, age)}. Wait for that job (a finished entry is then "
                f"loaded), let this one wait with {WAIT_ENV}=SECONDS or --lock-wait SECONDS, or, if "
                f"that job is gone, delete {self.path}")
