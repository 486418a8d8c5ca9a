"""The ``<project>.lock`` file: one writer per project, everyone else read-only.

Two app instances saving the same project would silently undo each other's
corrections (each save replaces the whole file). The first writer creates the
lock with ``O_CREAT | O_EXCL`` (atomic on local disks and NFSv3+), writes who
it is (user, host, pid, since) and removes it on close. A later opener that
finds the lock opens read-only and can tell the person who is editing.

A lock whose process is gone (same host, pid no longer running: the app
crashed or was killed) is stale and is taken over. A lock from another host
cannot be checked and is always respected. Known gap: a stale lock whose pid
has since been reused by an unrelated process looks live; the project then
opens read-only until the lock file is deleted by hand (the message names it).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from core.project.records import utc_now

__all__ = ["LockResult", "ProjectLock", "describe_holder", "lock_path", "pid_alive", "public_holder", "read_lock"]

#: An unreadable lock younger than this is probably being written right now.
_FRESH_SECONDS = 2.0
_ATTEMPTS = 40
_RETRY_SLEEP = 0.05


def lock_path(project_path: Path) -> Path:
    """``<project>.lock`` beside the project file (``study.anatomark`` → ``study.anatomark.lock``)."""
    return project_path.with_name(project_path.name + ".lock")


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (unknown → assume it does)."""
    if pid <= 0:
        return False
    if sys.platform == "win32":  # os.kill would *terminate* the process on Windows
        return _pid_alive_windows(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, owned by someone else
        return True
    return True


def _pid_alive_windows(pid: int) -> bool:  # pragma: no cover - exercised on Windows only
    import ctypes

    kernel32 = ctypes.windll.kernel32
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return ctypes.GetLastError() == 5  # access denied: exists
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def read_lock(path: Path) -> tuple[dict | None, bytes | None]:
    """``(holder, raw bytes)``; holder None when the file is unreadable or not a lock; raw None when absent."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, None
    except OSError:
        return None, b""
    try:
        holder = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None, raw
    if not isinstance(holder, dict) or not isinstance(holder.get("pid"), int):
        return None, raw
    return holder, raw


def public_holder(holder: dict) -> dict:
    """A lock holder as shown to people: user, host, pid, since (not the lock's private token)."""
    return {k: holder.get(k) for k in ("user", "host", "pid", "since")}


def describe_holder(holder: dict) -> str:
    """``alice on ws-12 (pid 4242) since 2025-03-01T09:30:12.345+00:00``."""
    return (f"{holder.get('user', '?')} on {holder.get('host', '?')} "
            f"(pid {holder.get('pid', '?')}) since {holder.get('since', '?')}")


def _is_stale(holder: dict, host: str) -> bool:
    if holder.get("host") != host:
        return False  # cannot see processes on other machines
    pid = holder["pid"]
    if pid == os.getpid():
        return False  # another Project object of this very process holds it
    return not pid_alive(pid)


@dataclass
class LockResult:
    """What :meth:`ProjectLock.acquire` found.

    Exactly one of ``lock`` (we hold it now) and ``holder`` (someone else
    does) is set. ``stale`` is the holder of a dead lock we took over.
    """

    lock: ProjectLock | None
    holder: dict | None = None
    stale: dict | None = None


class ProjectLock:
    """A held lock; :meth:`release` removes the file if it is still ours."""

    def __init__(self, path: Path, info: dict) -> None:
        self.path = path
        self.info = info

    @classmethod
    def acquire(cls, project_path: Path, user: str) -> LockResult:
        """Create the lock, or report its live holder, taking over a stale one.

        Raises OSError when the lock cannot be created for another reason
        (read-only disk, no permission): the caller opens read-only then.
        """
        path = lock_path(project_path)
        host = socket.gethostname()
        stale: dict | None = None
        for _ in range(_ATTEMPTS):
            info = {"user": user, "host": host, "pid": os.getpid(), "since": utc_now(),
                    "token": uuid.uuid4().hex}
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder, raw = read_lock(path)
                if raw is None:
                    continue  # removed between our open and read: try again
                if holder is None:
                    if _age_seconds(path) < _FRESH_SECONDS:
                        time.sleep(_RETRY_SLEEP)  # its writer may be mid-write
                        continue
                    holder = {"user": "?", "host": "?", "pid": 0, "since": "?", "unreadable": True}
                elif not _is_stale(holder, host):
                    return LockResult(None, holder=holder)
                if _remove_if_unchanged(path, raw):
                    stale = holder
                continue
            try:
                os.write(fd, json.dumps(info).encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
            return LockResult(cls(path, info), stale=stale)
        holder, _ = read_lock(path)
        return LockResult(None, holder=holder or {"user": "?", "host": "?", "pid": 0, "since": "?"})

    def release(self) -> None:
        """Remove the lock file if it still holds our token (never someone else's)."""
        release_lock(self.path, self.info["token"])


def release_lock(path: Path, token: str) -> None:
    """Module-level so a ``weakref.finalize`` can call it without keeping the project alive."""
    holder, _ = read_lock(path)
    if holder is not None and holder.get("token") == token:
        try:
            os.unlink(path)
        except OSError:
            pass


def _age_seconds(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


def _remove_if_unchanged(path: Path, raw: bytes) -> bool:
    """Delete a stale lock unless it changed since we read it (another opener took it over first).

    The check and the unlink are two steps; the window between them is
    microseconds and needs two openers recovering the same dead lock at once.
    """
    try:
        if path.read_bytes() != raw:
            return False
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True
