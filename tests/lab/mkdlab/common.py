"""mkdlab's ground: the lab's constants and its error, running a command (in a host's network
namespace), the identity of a process (pid plus start time) and the namespaces that exist, and the
lock that serialises up/down/reap between processes. Touches nothing but what it is asked to run
and RUN_DIR/.lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import subprocess
import sys
import threading
import time
from typing import Sequence

RUN_DIR = os.environ.get("MKD_LAB_RUN_DIR", "/run/mkd-lab")
NETNS_DIR = "/run/netns"
DEFAULT_RATE = "1gbit"
DEFAULT_DELAY = "0ms"
MAX_HOSTS = 250
BRIDGE = "br0"
HOST_IF = "eth0"
CMD_TIMEOUT = 20.0  # seconds, for every ip/tc/iptables/... call
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")


class LabError(RuntimeError):
    """A lab operation failed."""


def _log(msg: str) -> None:
    if os.environ.get("MKD_LAB_VERBOSE"):
        print(f"mkd-lab: {msg}", file=sys.stderr, flush=True)


def _run(args: Sequence[str], *, timeout: float = CMD_TIMEOUT, check: bool = True,
         input: str | None = None) -> subprocess.CompletedProcess:
    """Runs an external command with a timeout; raises LabError on failure when check."""
    _log("run " + " ".join(args))
    try:
        cp = subprocess.run(list(args), input=input, capture_output=True, text=True,
                            timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        raise LabError(f"timed out after {timeout:g}s: {' '.join(args)}") from e
    except FileNotFoundError as e:
        raise LabError(f"command not found: {args[0]} (run scripts/install-deps)") from e
    if check and cp.returncode != 0:
        raise LabError(f"failed ({cp.returncode}): {' '.join(args)}: {cp.stderr.strip()}")
    return cp


def _in_ns(ns: str, cmd: Sequence[str]) -> list[str]:
    # nsenter --net joins only the network namespace. `ip netns exec` would also unshare the mount
    # namespace, so a FUSE mount made by a daemon in a host would be invisible to QEMU started by
    # another command in that host and to the test. The hosts therefore share one file system;
    # each keeps to its own directories (mount_dir, state_dir).
    return ["nsenter", f"--net={NETNS_DIR}/{ns}", "--", *cmd]

def _proc_start(pid: int) -> int | None:
    """Start time (clock ticks since boot) of pid, or None if it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def _alive(pid: int, start: int | None) -> bool:
    now = _proc_start(pid)
    return now is not None and (start is None or now == start)


@contextlib.contextmanager
def _global_lock():
    """Serialises up/down/reap between processes (flock on RUN_DIR/.lock); re-entrant in-process."""
    if getattr(_LOCAL, "depth", 0) > 0:
        _LOCAL.depth += 1
        try:
            yield
        finally:
            _LOCAL.depth -= 1
        return
    os.makedirs(RUN_DIR, mode=0o755, exist_ok=True)
    fd = os.open(os.path.join(RUN_DIR, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LabError(f"could not lock {RUN_DIR}/.lock within 120 s")
                time.sleep(0.05)
        _LOCAL.depth = 1
        try:
            yield
        finally:
            _LOCAL.depth = 0
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


_LOCAL = threading.local()


def _netns_list() -> list[str]:
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def _netns_pids(ns: str) -> list[int]:
    if ns not in _netns_list():
        return []
    cp = _run(["ip", "netns", "pids", ns], check=False)
    return [int(x) for x in cp.stdout.split() if x.isdigit()]
