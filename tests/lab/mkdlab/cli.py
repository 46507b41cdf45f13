"""The command line of the lab (tests/lab/mkd-lab): up, down, list, exec, measure, reap."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from .common import DEFAULT_DELAY, DEFAULT_RATE, LabError
from .lab import Lab
from .teardown import down, list_labs, reap
from .units import _fmt_rate


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
    a = ap.parse_args(argv)

    try:
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

