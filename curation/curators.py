"""Who is curating: the identity a log record carries, and whether the process behind one is still alive.

A curator is the App's logged-in user when there is one (FiftyOne Teams passes it to operators),
else the name in ``DRAWNET_CURATOR`` (a notebook or script that wants its actions to be one
person's), else this process: ``user@host pid N``. Undo takes back the caller's own last
action (``curation.actions.undo``), so two people, or two App servers with no login, never
undo each other's work by accident.
"""
from __future__ import annotations

import getpass
import os
import socket

ENV = "DRAWNET_CURATOR"


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the command name (Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[-1].split()  # the command name before ")" may hold spaces
    except OSError:
        return None


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), which tells a reused pid from the old one."""
    fields = _stat(pid)
    return fields[19] if fields else None  # field 22


def this_process() -> dict:
    """host, pid and start time of this process (read each time: a forked child is a new process)."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "start": process_start(pid)}


def alive(owner: dict) -> bool | None:
    """Whether the process ``owner`` names still runs: None when it ran on another machine (unknowable here)."""
    if owner.get("host") != socket.gethostname():
        return None
    pid = int(owner.get("pid") or 0)
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    fields = _stat(pid)
    if fields is None:
        return True  # no /proc here: the pid exists, take it as the holder
    if fields[0] in ("Z", "X"):  # killed, not yet reaped by its parent
        return False
    return owner.get("start") in (None, fields[19])


def curator(app_user: str | None = None) -> dict:
    """The identity of whoever acts now: ``{"user", "curator", "host", "pid", "start"}``.

    ``curator`` is the key undo matches on: ``user:<name>`` for an App user or ``DRAWNET_CURATOR``,
    ``process:<host>:<pid>:<start>`` otherwise.
    """
    proc = this_process()
    name = app_user or os.environ.get(ENV)
    if name:
        return {"user": name, "curator": f"user:{name}", **proc}
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return {"user": user, "curator": f"process:{proc['host']}:{proc['pid']}:{proc['start']}", **proc}


def describe(record: dict) -> str:
    """Who made a record, for messages: ``alice`` or ``bob@host pid 12``."""
    key = record.get("curator") or ""
    if key.startswith("user:"):
        return key[5:]
    if record.get("host"):
        return f"{record.get('user', '?')}@{record['host']} pid {record.get('pid')}"
    return record.get("user") or "an earlier version of drawnet"
