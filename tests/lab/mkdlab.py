#!/usr/bin/env python3
"""mkdlab: a lab of emulated hosts on one machine, for miyakodori's system tests and benchmarks.

A lab NAME with N hosts is:
  * one network namespace per host, ``mkd-NAME-h<i>``, holding ``lo`` and ``eth0`` (address
    10.X.Y.<i+1>/24, the /24 derived from NAME and checked against the other labs);
  * a switch namespace ``mkd-NAME-sw`` holding the bridge ``br0`` and the far end ``h<i>`` of every
    host's veth pair (nothing is created in the root namespace except the /run/netns entries);
  * tc on every host's ``eth0``: tbf at the lab's rate (default 1 Gbit/s, the paper's cluster); with a
    delay, a small queue daemon in every host holds each packet received on ``eth0`` for the delay
    (this kernel has no sch_netem; see README.md);
  * directories /run/mkd-lab/NAME/h<i>/{mnt,state} (memory file system mount point and host state);
  * the state file /run/mkd-lab/NAME.json recording all of the above plus the creator process, so
    ``down`` removes exactly that and ``reap`` removes labs whose creator died.

Python 3 standard library only. Needs root. Use as a context manager:

    with mkdlab.Lab("mig", hosts=2) as lab:
        lab.popen(0, ["qemu-system-x86_64", ...])
        print(lab.measure())          # MB/s from h0 to h1

or from the shell: tests/lab/mkd-lab up|down|list|exec|measure|reap (``mkd-lab --help``).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import errno
import fcntl
import hashlib
import ipaddress
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from typing import Iterable, Sequence

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


# ---------------------------------------------------------------------------------------------
# small helpers


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


def _parse_quantity(text: str, units: dict, what: str, hint: str) -> float:
    """A tc-style "<number><unit>" in the unit table's base unit (LabError when malformed)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(text))
    if not m:
        raise LabError(f"bad {what}: {text!r}")
    value, unit = float(m.group(1)), m.group(2).lower()
    if unit not in units:
        raise LabError(f"bad {what} unit in {text!r} (use {hint})")
    return value * units[unit]


def parse_rate(text: str | int) -> int:
    """tc-style rate ("1gbit", "100mbit", "12.5mbps", bare number = bit/s) to bit/s."""
    if isinstance(text, int):
        return text
    bits = {"": 1, "bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "tbit": 1e12,
            "kibit": 1024, "mibit": 1024**2, "gibit": 1024**3,
            "bps": 8, "kbps": 8e3, "mbps": 8e6, "gbps": 8e9}
    rate = int(_parse_quantity(text, bits, "rate", "bit, kbit, mbit, gbit, bps, mbps, ..."))
    if rate < 8000:
        raise LabError(f"rate too small: {text!r}")
    return rate


def parse_time(text: str | int) -> int:
    """tc-style time ("5ms", "200us", "1s", bare number = us) to microseconds."""
    if isinstance(text, int):
        return text
    scale = {"": 1, "us": 1, "usec": 1, "ms": 1e3, "msec": 1e3, "s": 1e6, "sec": 1e6}
    return int(_parse_quantity(text, scale, "time", "us, ms, s"))


def _fmt_rate(bps: int) -> str:
    for unit, div in (("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3)):
        if bps >= div and bps % div == 0:
            return f"{bps // int(div)}{unit}"
    return f"{bps}bit"


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


# ---------------------------------------------------------------------------------------------
# state files


def _state_path(name: str) -> str:
    return os.path.join(RUN_DIR, f"{name}.json")


def _load_state(name: str) -> dict | None:
    try:
        with open(_state_path(name)) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise LabError(f"unreadable state file {_state_path(name)}: {e}") from e


def _save_state(state: dict) -> None:
    path = _state_path(state["name"])
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(state, f, indent=1)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _all_states() -> list[dict]:
    out = []
    try:
        names = sorted(os.listdir(RUN_DIR))
    except FileNotFoundError:
        return out
    for fn in names:
        if fn.endswith(".json") and NAME_RE.match(fn[:-5]):
            try:
                st = _load_state(fn[:-5])
            except LabError as e:
                print(f"mkd-lab: warning: {e}", file=sys.stderr)
                continue
            if st:
                out.append(st)
    return out


def _creator_alive(state: dict) -> bool:
    c = state.get("creator", {})
    return _alive(int(c.get("pid", 0)), c.get("start")) if c.get("pid") else False


def _check_name(name: str) -> str:
    if not NAME_RE.match(name or ""):
        raise LabError(f"bad lab name {name!r}: 1-32 of [A-Za-z0-9_-], starting alphanumeric")
    return name


# ---------------------------------------------------------------------------------------------
# addressing


def _root_subnets() -> list[ipaddress.IPv4Network]:
    nets = []
    cp = _run(["ip", "-j", "-4", "route", "show", "table", "all"], check=False)
    with contextlib.suppress(ValueError):
        for r in json.loads(cp.stdout or "[]"):
            dst = r.get("dst", "")
            if dst and dst != "default":
                with contextlib.suppress(ValueError):
                    nets.append(ipaddress.ip_network(dst, strict=False))
    cp = _run(["ip", "-j", "-4", "addr"], check=False)
    with contextlib.suppress(ValueError):
        for link in json.loads(cp.stdout or "[]"):
            for a in link.get("addr_info", []):
                with contextlib.suppress(ValueError, KeyError):
                    nets.append(ipaddress.ip_network(f"{a['local']}/{a['prefixlen']}", strict=False))
    return nets


def _pick_subnet(name: str, taken: Iterable[str]) -> ipaddress.IPv4Network:
    """10.X.Y.0/24 from a hash of the name; the next one if another lab already uses it. Subnets
    the root namespace routes are avoided too when possible (harmless, the namespaces are not
    connected to it, but confusing when reading addresses)."""
    used = [ipaddress.ip_network(t) for t in taken]
    root = [r for r in _root_subnets() if r.prefixlen >= 16]
    start = int.from_bytes(hashlib.sha256(name.encode()).digest()[:2], "big")
    fallback = None
    for k in range(65536):
        x, y = divmod((start + k) % 65536, 256)
        net = ipaddress.ip_network(f"10.{x}.{y}.0/24")
        if x == 0 or any(net.overlaps(u) for u in used):
            continue
        if not any(net.overlaps(r) for r in root):
            return net
        fallback = fallback or net
    if fallback is None:
        raise LabError("no free 10.X.Y.0/24 subnet")
    return fallback


# ---------------------------------------------------------------------------------------------
# creation and teardown (module level, driven by the state file)


def _tbf_args(rate_bps: int) -> list[str]:
    rate_bytes = rate_bps / 8
    # burst: 2 ms worth of the rate, at least 32 KiB (at 1gbit a 32 KiB burst measured 112 MB/s,
    # 256 KiB 119.6 MB/s); latency bounds the queue at 20 ms of traffic.
    burst = max(32 * 1024, int(rate_bytes * 0.002))
    return ["tbf", "rate", f"{rate_bps}bit", "burst", str(burst), "latency", "20ms"]


def _create(name: str, hosts: int, rate_bps: int, delay_us: int, owner_pid: int,
            token: str) -> dict:
    """Creates the lab, recording every resource in the state file *before* creating it."""
    with _global_lock():
        old = _load_state(name)
        if old is not None:
            if _creator_alive(old):
                raise LabError(f"lab {name!r} exists and its creator (pid "
                               f"{old['creator']['pid']}) is alive; `mkd-lab down {name}` first")
            _log(f"reaping stale lab {name}")
            _teardown(old)
        reap()  # every other stale lab too: a test killed by SIGKILL is cleaned by the next up
        prefix = f"mkd-{name}-"
        existing = [n for n in _netns_list() if n.startswith(prefix)
                    and re.fullmatch(r"(sw|h\d+)", n[len(prefix):])]
        if existing:
            raise LabError(f"namespaces {existing} exist but no lab state records them; remove "
                           f"them by hand (ip netns del ...)")
        subnet = _pick_subnet(name, [s.get("subnet", "0.0.0.0/32") for s in _all_states()
                                     if s["name"] != name])
        owner_start = _proc_start(owner_pid)
        if owner_start is None:
            raise LabError(f"owner pid {owner_pid} is not running")
        top = os.path.join(RUN_DIR, name)
        state = {
            "version": 1, "name": name, "token": token,
            "creator": {"pid": owner_pid, "start": owner_start, "by_pid": os.getpid()},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "subnet": str(subnet), "rate_bps": rate_bps, "delay_us": delay_us,
            "switch_netns": f"mkd-{name}-sw", "bridge": BRIDGE, "dir": top,
            "hosts": [], "resources": [], "complete": False,
        }
        for i in range(hosts):
            hdir = os.path.join(top, f"h{i}")
            state["hosts"].append({
                "index": i, "netns": f"mkd-{name}-h{i}", "host_id": f"{name}-h{i}",
                "address": str(subnet.network_address + i + 1), "prefixlen": subnet.prefixlen,
                "interface": HOST_IF, "switch_port": f"h{i}",
                "mount_dir": os.path.join(hdir, "mnt"), "state_dir": os.path.join(hdir, "state"),
            })

        def record(res: dict) -> None:
            state["resources"].append(res)
            _save_state(state)

        try:
            _build(state, record)
        except BaseException:
            _teardown(state)
            raise
        state["complete"] = True
        _save_state(state)
        return state


def _build(state: dict, record) -> None:
    sw = state["switch_netns"]
    record({"kind": "dir", "path": state["dir"]})
    for h in state["hosts"]:
        os.makedirs(h["mount_dir"], exist_ok=True)
        os.makedirs(h["state_dir"], exist_ok=True)
    os.makedirs(os.path.join(state["dir"], "log"), exist_ok=True)

    def quiet_ns(ns: str) -> None:
        _run(["ip", "-n", ns, "link", "set", "lo", "up"])
        # No IPv6: no router solicitations / MLD chatter on the emulated wire.
        _run(_in_ns(ns, ["sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1",
                         "net.ipv6.conf.default.disable_ipv6=1"]), check=False)

    record({"kind": "netns", "name": sw})
    _run(["ip", "netns", "add", sw])
    quiet_ns(sw)
    record({"kind": "link", "netns": sw, "name": BRIDGE})
    _run(["ip", "-n", sw, "link", "add", BRIDGE, "type", "bridge", "forward_delay", "0",
          "stp_state", "0"])
    _run(["ip", "-n", sw, "link", "set", BRIDGE, "up"])
    for h in state["hosts"]:
        ns = h["netns"]
        record({"kind": "netns", "name": ns})
        _run(["ip", "netns", "add", ns])
        quiet_ns(ns)
        record({"kind": "link", "netns": sw, "name": h["switch_port"], "peer_netns": ns,
                "peer": HOST_IF})
        # Both ends are created directly inside their namespaces: nothing appears in the root one.
        _run(["ip", "link", "add", HOST_IF, "netns", ns, "type", "veth", "peer", "name",
              h["switch_port"], "netns", sw])
        _run(["ip", "-n", sw, "link", "set", h["switch_port"], "master", BRIDGE])
        _run(["ip", "-n", sw, "link", "set", h["switch_port"], "up"])
        _run(["ip", "-n", ns, "addr", "add", f"{h['address']}/{h['prefixlen']}", "dev", HOST_IF])
        _run(["ip", "-n", ns, "link", "set", HOST_IF, "up"])
        record({"kind": "qdisc", "netns": ns, "dev": HOST_IF})
        _run(["tc", "-n", ns, "qdisc", "add", "dev", HOST_IF, "root", "handle", "1:",
              *_tbf_args(state["rate_bps"])])
    # bridged IPv4 goes through the switch's iptables only when there is a delay to apply
    _run(_in_ns(sw, ["sysctl", "-q", "-w",
                     f"net.bridge.bridge-nf-call-iptables={1 if state['delay_us'] > 0 else 0}",
                     "net.bridge.bridge-nf-call-ip6tables=0",
                     "net.bridge.bridge-nf-call-arptables=0"]), check=state["delay_us"] > 0)
    if state["delay_us"] > 0:
        _start_delayd(state, record)


def _start_delayd(state: dict, record) -> None:
    """The --delay emulation (the kernel has no sch_netem): in the switch namespace, every bridged
    IPv4 packet goes to NFQUEUE 0, where a daemon holds it for the delay before accepting it. Each
    direction of every host pair gets the delay once, after the sender's tbf, like a wire; the
    receiver's timestamps (ping's RTT) see it."""
    ns = state["switch_netns"]
    log = os.path.join(state["dir"], "log", "delayd.log")
    with open(log, "ab") as logf:
        p = subprocess.Popen(
            _in_ns(ns, [sys.executable, os.path.abspath(__file__), "_delayd",
                        "--queue", "0", "--delay-us", str(state["delay_us"])]),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=logf,
            start_new_session=True, close_fds=True)
    start = None
    for _ in range(50):
        start = _proc_start(p.pid)
        if start is not None:
            break
        time.sleep(0.01)
    record({"kind": "proc", "pid": p.pid, "start": start, "netns": ns, "what": "delayd"})
    _DELAYD_POPENS.append(p)
    ready, _, _ = select.select([p.stdout], [], [], 10)
    line = p.stdout.readline().decode(errors="replace").strip() if ready else ""
    p.stdout.close()
    if line != "ready":
        raise LabError(f"delay daemon in {ns} did not start (see {log})")
    rule = ["-t", "raw", "-I", "PREROUTING", "-j", "NFQUEUE", "--queue-num", "0"]
    record({"kind": "iptables", "netns": ns, "rule": rule})
    _run(_in_ns(ns, ["iptables", "-w", "5", *rule]))


_DELAYD_POPENS: list[subprocess.Popen] = []


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


# ---------------------------------------------------------------------------------------------
# module-level operations


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


# Labs owned by this process, torn down at exit and on SIGTERM/SIGINT.
_OWNED: list["Lab"] = []
_HANDLERS_PID: int | None = None
_PREV_HANDLERS: dict[int, object] = {}


def _cleanup_owned() -> None:
    if os.getpid() != _HANDLERS_PID:
        return  # a fork()ed child exiting: the labs are its parent's
    for lab in list(reversed(_OWNED)):
        with contextlib.suppress(Exception):
            lab.down()


def _on_signal(signum, frame) -> None:
    _cleanup_owned()
    prev = _PREV_HANDLERS.get(signum)
    if callable(prev):
        prev(signum, frame)  # e.g. SIGINT's default: KeyboardInterrupt
        return
    if prev == signal.SIG_IGN:
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_handlers() -> None:
    global _HANDLERS_PID
    if _HANDLERS_PID == os.getpid():
        return
    _HANDLERS_PID = os.getpid()
    atexit.register(_cleanup_owned)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            prev = signal.getsignal(sig)
            if prev is not _on_signal and prev != signal.SIG_IGN:  # respect an ignored signal
                _PREV_HANDLERS[sig] = prev
                signal.signal(sig, _on_signal)


# ---------------------------------------------------------------------------------------------
# the Lab class


class Lab:
    """A lab of ``hosts`` emulated hosts. ``up()`` (or ``with``) creates it; ``down()`` removes it.

    Owned labs (the default) are torn down on context exit, at interpreter exit and on
    SIGTERM/SIGINT; a lab whose creator was SIGKILLed is removed by the next ``up`` or ``reap``.
    """

    def __init__(self, name: str, hosts: int = 2, rate: str | int = DEFAULT_RATE,
                 delay: str | int = DEFAULT_DELAY, *, owner_pid: int | None = None,
                 cleanup: bool = True):
        self.name = _check_name(name)
        if not 1 <= hosts <= MAX_HOSTS:
            raise LabError(f"hosts must be 1..{MAX_HOSTS}")
        self.hosts = hosts
        self.rate_bps = parse_rate(rate)
        self.delay_us = parse_time(delay)
        self._owner_pid = owner_pid
        self._cleanup = cleanup
        self._token = uuid.uuid4().hex
        self._state: dict | None = None
        self._procs: list[subprocess.Popen] = []
        self._is_down = False

    # -- lifecycle
    @classmethod
    def attach(cls, name: str) -> "Lab":
        """The existing lab NAME, not owned: nothing is torn down unless down() is called."""
        st = _load_state(_check_name(name))
        if st is None:
            raise LabError(f"no lab {name!r}")
        lab = cls(name, len(st["hosts"]), st["rate_bps"], st["delay_us"], cleanup=False)
        lab._state, lab._token = st, st["token"]
        return lab

    def up(self) -> "Lab":
        if self._state is not None:
            return self
        if os.geteuid() != 0:
            raise LabError("the lab needs root (network namespaces, tc)")
        if self._cleanup:
            _install_handlers()
            _OWNED.append(self)
        self._is_down = False
        try:
            self._state = _create(self.name, self.hosts, self.rate_bps, self.delay_us,
                                  self._owner_pid or os.getpid(), self._token)
        except BaseException:
            self.down()
            raise
        return self

    def down(self) -> list[str]:
        """Stops tracked processes, then everything in the namespaces, then removes the lab.
        Idempotent; never removes a same-named lab created by someone else since."""
        if self._is_down:
            return []
        self._is_down = True
        if self in _OWNED:
            _OWNED.remove(self)
        for p in self._procs:
            if p.poll() is None:
                with contextlib.suppress(OSError):
                    p.terminate()
        deadline = time.monotonic() + 3
        for p in self._procs:
            try:
                p.wait(timeout=max(0.05, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    p.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=3)
        warnings: list[str] = []
        with _global_lock():
            st = _load_state(self.name)
            if st is not None and st.get("token") == self._token:
                warnings = _teardown(st)
        self._state = None
        return warnings

    def __enter__(self) -> "Lab":
        return self.up()

    def __exit__(self, *exc) -> None:
        if self._cleanup:
            self.down()

    # -- facts
    def _host(self, i: int) -> dict:
        if self._state is None:
            raise LabError(f"lab {self.name} is not up")
        if not 0 <= i < len(self._state["hosts"]):
            raise LabError(f"lab {self.name} has no host {i}")
        return self._state["hosts"][i]

    @property
    def state(self) -> dict:
        if self._state is None:
            raise LabError(f"lab {self.name} is not up")
        return self._state

    @property
    def subnet(self) -> str:
        return self.state["subnet"]

    @property
    def switch_netns(self) -> str:
        return self.state["switch_netns"]

    def netns(self, i: int) -> str:
        return self._host(i)["netns"]

    def address(self, i: int) -> str:
        return self._host(i)["address"]

    def host_id(self, i: int) -> str:
        return self._host(i)["host_id"]

    def mount_dir(self, i: int) -> str:
        return self._host(i)["mount_dir"]

    def state_dir(self, i: int) -> str:
        return self._host(i)["state_dir"]

    def env(self, i: int, base: dict | None = None) -> dict:
        """Environment for commands in host i: base (default os.environ) plus MKD_* variables."""
        h = self._host(i)
        env = dict(os.environ if base is None else base)
        env.update(MKD_LAB=self.name, MKD_HOST_INDEX=str(i), MKD_HOST_ID=h["host_id"],
                   MKD_HOST_ADDR=h["address"], MKD_MOUNT_DIR=h["mount_dir"],
                   MKD_STATE_DIR=h["state_dir"])
        return env

    def command(self, i: int, cmd: Sequence[str] | str) -> list[str]:
        """argv running cmd (a list, or a string for sh -c) inside host i's network namespace."""
        if isinstance(cmd, str):
            cmd = ["sh", "-c", cmd]
        return _in_ns(self.netns(i), list(cmd))

    # -- running things in a host
    def exec(self, i: int, cmd: Sequence[str] | str, *, timeout: float = 60, check: bool = True,
             capture_output: bool = True, text: bool = True, env: dict | None = None,
             **kw) -> subprocess.CompletedProcess:
        """subprocess.run of cmd inside host i (with a timeout; output captured by default)."""
        try:
            return subprocess.run(self.command(i, cmd), timeout=timeout, check=check,
                                  capture_output=capture_output, text=text,
                                  env=self.env(i, env), **kw)
        except subprocess.CalledProcessError as e:
            raise LabError(f"h{i}: {cmd} failed ({e.returncode}): "
                           f"{(e.stderr or '').strip()}") from e

    def popen(self, i: int, cmd: Sequence[str] | str, *, env: dict | None = None,
              **kw) -> subprocess.Popen:
        """subprocess.Popen of cmd inside host i; terminated (then killed) by down()."""
        p = subprocess.Popen(self.command(i, cmd), env=self.env(i, env), **kw)
        self._procs.append(p)
        return p

    def pids(self, i: int) -> list[int]:
        """Every process in host i's network namespace."""
        return _netns_pids(self.netns(i))

    # -- checks
    def ping(self, i: int, j: int, count: int = 3, timeout: float = 10) -> float:
        """Pings host j from host i; returns the average round-trip time in ms (LabError if lost)."""
        cp = self.exec(i, ["ping", "-n", "-q", "-c", str(count), "-i", "0.2", "-W", "2",
                           self.address(j)], check=False, timeout=timeout)
        m = re.search(r"= ([\d.]+)/([\d.]+)/([\d.]+)/", cp.stdout)
        if cp.returncode != 0 or not m:
            raise LabError(f"ping h{i} -> h{j} ({self.address(j)}) failed: "
                           f"{cp.stdout.strip()} {cp.stderr.strip()}")
        self.last_ping = {"min": float(m.group(1)), "avg": float(m.group(2)),
                          "max": float(m.group(3))}
        return self.last_ping["avg"]

    def measure(self, src: int = 0, dst: int = 1, seconds: int = 3, port: int = 5201) -> float:
        """TCP throughput src -> dst with iperf3 for `seconds`; returns MB/s (10^6 bytes/s)."""
        server = self.popen(dst, ["iperf3", "-s", "-1", "-B", self.address(dst), "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                cp = self.exec(src, ["iperf3", "-c", self.address(dst), "-p", str(port),
                                     "-t", str(seconds), "-J"],
                               check=False, timeout=seconds + 30)
                try:
                    data = json.loads(cp.stdout)
                except ValueError:
                    data = {"error": cp.stdout + cp.stderr}
                err = data.get("error")
                if not err:
                    break
                if "refused" in err and time.monotonic() < deadline and server.poll() is None:
                    time.sleep(0.1)
                    continue
                raise LabError(f"iperf3 h{src} -> h{dst}: {err}")
            bps = data["end"]["sum_received"]["bits_per_second"]
            self.last_measure = data["end"]
            return bps / 8e6
        finally:
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=5)
            if server in self._procs:
                self._procs.remove(server)


# ---------------------------------------------------------------------------------------------
# the delay daemon: holds every packet received on eth0 for a fixed time (NFQUEUE, batch verdicts)

_NETLINK_NETFILTER = 12
_NFNL_SUBSYS_QUEUE = 3
_NFQNL_MSG_PACKET, _NFQNL_MSG_CONFIG, _NFQNL_MSG_VERDICT_BATCH = 0, 2, 3
_NLM_F_REQUEST, _NLM_F_ACK = 1, 4
_NLMSG_ERROR = 2


def _nl_attr(atype: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, atype) + payload + b"\0" * ((4 - length % 4) % 4)


def _nfq_msg(msg: int, queue: int, attrs: bytes, flags: int = _NLM_F_REQUEST, seq: int = 0,
             family: int = socket.AF_UNSPEC) -> bytes:
    body = struct.pack("=BBH", family, 0, socket.htons(queue)) + attrs
    return struct.pack("=IHHII", 16 + len(body), (_NFNL_SUBSYS_QUEUE << 8) | msg,
                       flags, seq, 0) + body


def _delayd_main(queue: int, delay_us: int, maxlen: int) -> int:
    delay = delay_us / 1e6
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_NETFILTER)
    with contextlib.suppress(OSError):
        s.setsockopt(socket.SOL_SOCKET, 33, 32 << 20)  # SO_RCVBUFFORCE
    with contextlib.suppress(OSError):
        s.setsockopt(270, 5, 1)  # SOL_NETLINK, NETLINK_NO_ENOBUFS
    s.bind((0, 0))

    def request(msg: bytes) -> None:
        s.send(msg)
        data = s.recv(65536)
        mtype = struct.unpack_from("=H", data, 4)[0]
        if mtype == _NLMSG_ERROR:
            err = struct.unpack_from("=i", data, 16)[0]
            if err != 0:
                raise OSError(-err, os.strerror(-err))

    # bind the queue; copy metadata only; a long queue; GSO packets whole
    request(_nfq_msg(_NFQNL_MSG_CONFIG, queue, _nl_attr(1, struct.pack("!BxH", 1, 0)),
                     _NLM_F_REQUEST | _NLM_F_ACK, 1))
    request(_nfq_msg(_NFQNL_MSG_CONFIG, queue,
                     _nl_attr(2, struct.pack("!IB", 0, 1)) + _nl_attr(3, struct.pack("!I", maxlen))
                     + _nl_attr(4, struct.pack("!I", 4)) + _nl_attr(5, struct.pack("!I", 4)),
                     _NLM_F_REQUEST | _NLM_F_ACK, 2))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    with contextlib.suppress(OSError):
        os.close(1)
        os.open(os.devnull, os.O_WRONLY)
    print(f"delayd: queue {queue}, delay {delay_us} us", file=sys.stderr, flush=True)

    pending: deque = deque()
    buf = bytearray(1 << 20)
    pkt_type = (_NFNL_SUBSYS_QUEUE << 8) | _NFQNL_MSG_PACKET
    total = 0
    while True:
        timeout = None if not pending else max(0.0, pending[0][0] - time.monotonic())
        r, _, _ = select.select([s], [], [], timeout)
        if r:
            now = time.monotonic()
            while True:
                try:
                    n = s.recv_into(buf, 0, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                except OSError as e:
                    if e.errno != errno.ENOBUFS:
                        raise
                    # the kernel dropped messages (and so their packets): TCP retransmits
                    print(f"delayd: recv: {e}", file=sys.stderr, flush=True)
                    continue
                off = 0
                while off + 16 <= n:
                    mlen, mtype = struct.unpack_from("=IH", buf, off)
                    if mlen < 16:
                        break
                    if mtype == pkt_type:
                        a = off + 20  # nlmsghdr + nfgenmsg
                        end = off + mlen
                        while a + 4 <= end:
                            alen, atype = struct.unpack_from("=HH", buf, a)
                            if alen < 4:
                                break
                            if (atype & 0x7FFF) == 1:  # NFQA_PACKET_HDR: be32 id
                                pending.append((now + delay, struct.unpack_from("!I", buf, a + 4)[0]))
                                total += 1
                                break
                            a += (alen + 3) & ~3
                    off += (mlen + 3) & ~3
        now = time.monotonic()
        last = None
        while pending and pending[0][0] <= now:
            last = pending.popleft()[1]
        if last is not None:
            # NF_ACCEPT every packet up to `last` (ids are increasing; the delay is constant).
            s.send(_nfq_msg(_NFQNL_MSG_VERDICT_BATCH, queue,
                            _nl_attr(2, struct.pack("!II", 1, last))))


# ---------------------------------------------------------------------------------------------
# command line


def _print_lab(st: dict) -> None:
    print(f"lab {st['name']}: {len(st['hosts'])} hosts, subnet {st['subnet']}, "
          f"rate {_fmt_rate(st['rate_bps'])}, delay {st['delay_us'] / 1000:g} ms, "
          f"switch {st['switch_netns']}, creator pid {st['creator']['pid']}")
    for h in st["hosts"]:
        print(f"  h{h['index']}: netns {h['netns']}  {h['address']}/{h['prefixlen']}  "
              f"id {h['host_id']}  mnt {h['mount_dir']}  state {h['state_dir']}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="mkd-lab", description="Emulated hosts (network namespaces) "
                                 "joined by a shaped bridge, for miyakodori's tests.")
    sub = ap.add_subparsers(dest="cmd", required=True,
                           metavar="{up,down,list,exec,measure,reap}")
    p = sub.add_parser("up", help="create a lab")
    p.add_argument("name")
    p.add_argument("--hosts", type=int, default=2)
    p.add_argument("--rate", default=DEFAULT_RATE, help="egress rate of every host (tc units)")
    p.add_argument("--delay", default=DEFAULT_DELAY, help="one-way delay (tc units)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--owner", type=int, help="pid whose death makes the lab reapable "
                   "(default: the parent of this command, i.e. your shell)")
    g.add_argument("--persist", action="store_true", help="owner pid 1: only `down` removes it")
    p = sub.add_parser("down", help="remove a lab and kill what runs in it")
    p.add_argument("name")
    sub.add_parser("list", help="list labs")
    p = sub.add_parser("exec", help="run a command inside a host (default: $SHELL)")
    p.add_argument("name")
    p.add_argument("host", type=int)
    p.add_argument("command", nargs=argparse.REMAINDER)
    p = sub.add_parser("measure", help="iperf3 throughput h0 -> h1 in MB/s")
    p.add_argument("name")
    p.add_argument("--seconds", type=int, default=3)
    p.add_argument("--src", type=int, default=0)
    p.add_argument("--dst", type=int, default=1)
    sub.add_parser("reap", help="remove every lab whose creator process is dead")
    p = sub.add_parser("_delayd")  # internal: the --delay daemon, run by up
    p.add_argument("--queue", type=int, default=0)
    p.add_argument("--delay-us", type=int, required=True)
    p.add_argument("--maxlen", type=int, default=65536)
    a = ap.parse_args(argv)

    try:
        if a.cmd == "_delayd":
            return _delayd_main(a.queue, a.delay_us, a.maxlen)
        if a.cmd == "up":
            owner = 1 if a.persist else (a.owner or os.getppid())
            lab = Lab(a.name, a.hosts, a.rate, a.delay, owner_pid=owner, cleanup=False).up()
            _print_lab(lab.state)
        elif a.cmd == "down":
            return 1 if down(a.name) else 0
        elif a.cmd == "list":
            labs = list_labs()
            if not labs:
                print("no labs")
            for st in labs:
                print(("" if st["alive"] else "[stale: creator dead] "), end="")
                _print_lab(st)
        elif a.cmd == "exec":
            lab = Lab.attach(a.name)
            cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
            cmd = cmd or [os.environ.get("SHELL", "/bin/sh")]
            argv2 = lab.command(a.host, cmd)
            sys.stdout.flush()
            os.execvpe(argv2[0], argv2, lab.env(a.host))
        elif a.cmd == "measure":
            mbs = Lab.attach(a.name).measure(a.src, a.dst, a.seconds)
            print(f"{mbs:.1f} MB/s ({mbs * 8:.0f} Mbit/s) h{a.src} -> h{a.dst}")
        elif a.cmd == "reap":
            for n in reap():
                print(f"reaped {n}")
    except LabError as e:
        print(f"mkd-lab: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
