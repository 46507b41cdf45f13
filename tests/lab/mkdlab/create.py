"""Creating a lab: namespaces, bridge, veth pairs, tbf shaping and, with a delay, the delay
daemon (delayd.py) behind an NFQUEUE rule; each resource recorded in the state file before it is
created, everything torn down again if a step fails. Creates only the lab's own namespaces,
links, qdiscs, rule and directories under RUN_DIR/NAME.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time

from .addressing import _pick_subnet
from .common import (BRIDGE, HOST_IF, RUN_DIR, LabError, _global_lock, _in_ns, _log, _netns_list,
                     _proc_start, _run)
from .state import _all_states, _creator_alive, _load_state, _save_state
from .teardown import _DELAYD_POPENS, _teardown, reap

DELAYD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "delayd.py")


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
            _in_ns(ns, [sys.executable, DELAYD,
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
