"""Removing labs: every process in a lab's namespaces killed by pid (SIGTERM, then SIGKILL),
mounts under its directory detached, then the resources its state file records removed newest
first; reap() of labs whose creator died, down(NAME), list_labs(). Touches only what a state
file records (and the processes inside the namespaces it records).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from .common import (LabError, _alive, _global_lock, _in_ns, _log, _netns_list, _netns_pids,
                     _proc_start, _run)
from .state import _all_states, _check_name, _creator_alive, _load_state, _state_path

# Delay daemons this process started (create.py): polled while killing, so none stays a zombie.
_DELAYD_POPENS: list[subprocess.Popen] = []


def _kill_pids(pids: dict[int, int | None], grace: float = 3.0) -> list[int]:
    """SIGTERM, then SIGKILL after grace, every (pid, start) still alive. Returns survivors."""
    me = os.getpid()
    pids = {p: s for p, s in pids.items() if p != me and p > 1 and _alive(p, s)}
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 3.0)):
        for p, s in pids.items():
            if _alive(p, s):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(p, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _reap_children()
            if not any(_alive(p, s) for p, s in pids.items()):
                return []
            time.sleep(0.02)
    return [p for p, s in pids.items() if _alive(p, s)]


def _reap_children() -> None:
    for p in list(_DELAYD_POPENS):
        if p.poll() is not None:
            _DELAYD_POPENS.remove(p)


def _mounts_under(path: str) -> list[str]:
    out = []
    prefix = path.rstrip("/") + "/"
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mp = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])
                if mp == path or mp.startswith(prefix):
                    out.append(mp)
    except OSError:
        pass
    return sorted(set(out), key=len, reverse=True)


def _teardown(state: dict) -> list[str]:
    """Removes what the state file records, in reverse order, tolerating parts already gone.
    Returns warnings (things that could not be removed)."""
    warnings: list[str] = []
    with _global_lock():
        res = state.get("resources", [])
        # 1. every process inside the lab's namespaces (ip netns pids), plus recorded daemons.
        victims: dict[int, int | None] = {}
        for r in res:
            if r["kind"] == "netns":
                for p in _netns_pids(r["name"]):
                    victims.setdefault(p, _proc_start(p))
            elif r["kind"] == "proc" and r.get("pid"):
                victims[int(r["pid"])] = r.get("start")
        survivors = _kill_pids(victims)
        if survivors:
            warnings.append(f"processes survived SIGKILL: {survivors}")
        # 2. file systems mounted under the lab's directory (memfs of dead daemons): lazy unmount.
        for r in res:
            if r["kind"] == "dir":
                for mp in _mounts_under(r["path"]):
                    if _run(["umount", "-l", mp], check=False).returncode != 0:
                        warnings.append(f"could not unmount {mp}")
        # 3. the recorded resources, newest first.
        for r in reversed(res):
            try:
                _remove(r, warnings)
            except LabError as e:
                warnings.append(str(e))
        path = _state_path(state["name"])
        current = _load_state(state["name"]) if os.path.exists(path) else None
        if current is None or current.get("token") == state.get("token"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
    for w in warnings:
        print(f"mkd-lab: warning: {state['name']}: {w}", file=sys.stderr)
    return warnings


def _remove(r: dict, warnings: list[str]) -> None:
    kind, nss = r["kind"], _netns_list()
    if kind == "iptables":
        if r["netns"] in nss:
            rule = ["-D" if a == "-I" else a for a in r["rule"]]
            _run(_in_ns(r["netns"], ["iptables", "-w", "5", *rule]), check=False)
    elif kind == "proc":
        pass  # killed above
    elif kind == "qdisc":
        if r["netns"] in nss:
            _run(["tc", "-n", r["netns"], "qdisc", "del", "dev", r["dev"], "root"], check=False)
    elif kind == "link":
        if r["netns"] in nss:
            cp = _run(["ip", "-n", r["netns"], "link", "del", r["name"]], check=False)
            if cp.returncode != 0 and "Cannot find" not in cp.stderr:
                warnings.append(f"link {r['name']} in {r['netns']}: {cp.stderr.strip()}")
        if r.get("peer_netns") in nss:
            _run(["ip", "-n", r["peer_netns"], "link", "del", r["peer"]], check=False)
    elif kind == "netns":
        if r["name"] in nss:
            left = _netns_pids(r["name"])
            if left:
                warnings.append(f"processes {left} still in {r['name']}")
            cp = _run(["ip", "netns", "del", r["name"]], check=False)
            if cp.returncode != 0:
                warnings.append(f"netns {r['name']}: {cp.stderr.strip()}")
    elif kind == "dir":
        path = r["path"]
        if not os.path.exists(path):
            return
        if _mounts_under(path):
            warnings.append(f"not removing {path}: still mounted {_mounts_under(path)}")
            return
        shutil.rmtree(path, onerror=lambda f, p, e: warnings.append(f"rm {p}: {e[1]}"))
    else:
        warnings.append(f"unknown resource {r}")


def reap() -> list[str]:
    """Tears down every lab whose creator process is dead. Returns their names."""
    done = []
    with _global_lock():
        for st in _all_states():
            if not _creator_alive(st):
                _log(f"reaping {st['name']} (creator pid {st.get('creator', {}).get('pid')} dead)")
                _teardown(st)
                done.append(st["name"])
    return done


def down(name: str) -> list[str]:
    """Tears down lab NAME whoever created it. Returns warnings; LabError if there is no such lab."""
    with _global_lock():
        st = _load_state(_check_name(name))
        if st is None:
            raise LabError(f"no lab {name!r} ({_state_path(name)} missing)")
        return _teardown(st)


def list_labs() -> list[dict]:
    """State of every lab, each with an extra "alive" key (creator process running)."""
    out = []
    for st in _all_states():
        st = dict(st)
        st["alive"] = _creator_alive(st)
        out.append(st)
    return out
