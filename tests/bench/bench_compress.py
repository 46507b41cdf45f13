#!/usr/bin/env python3
"""What --compress does to a hop (issue 16): bytes, time and CPU of the same hop three ways in
one run: --compress never (the baseline), auto (the default) and always.

Two guests of 256 MiB on the lab's 1 Gbit/s link:
  login   the login test's guest after its session (kernel, busybox, the session's files and
          16 MiB of random data in tmpfs): the memory a small VM has after some use;
  random  the micro-benchmark's page writer after filling 128 MB with random data (nothing
          compresses: what `auto` costs when it cannot help).
Each guest hops A->B->A->B with --no-reuse, so that every hop sends every written page and the
three modes send the same content; the order of the modes rotates from one repetition to the next.
Printed per guest and mode (medians): bytes on the wire, the hop's time, the compression ratio of
the frames sent compressed and the CPU seconds it took, with bytes and time as ratios against
`never` measured in the same run.

Usage: scripts/bench-compress [--reps N] [--guests login,random] [--out FILE]
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
from mkdsys.cluster import Cluster  # noqa: E402

MODES = ("never", "auto", "always")


def boot(c: Cluster, guest: str) -> None:
    if guest == "login":
        c.start_vm(0, run="login", args=["--mb", "16"], kernel_args=["mkd.wait=1"])
        c.serial(0).wait_for(r"^MKD init waiting", timeout=180)
        c.send_line(0, "login")
        c.serial(0).wait_for(r"^MKD login done", timeout=180)
    else:
        c.start_vm(0, run="pagewriter",
                   args=["--mb", "128", "--rate", "1", "--seconds", "1", "--wait-input"])
        c.serial(0).wait_for(r"^MKD pagewriter waiting", timeout=300)
    time.sleep(2)


def one_rep(build_dir: str, guest: str, order: list) -> dict:
    out = {}
    with Cluster(build_dir, "cmp", hosts=2, memory_mib=256) as c:
        boot(c, guest)
        for (src, dst), mode in zip(((0, 1), (1, 0), (0, 1)), order):
            cp = c.migrate(src, dst, "--no-reuse", "--compress", mode, timeout=300)
            if cp.returncode != 0:
                raise RuntimeError(f"mkd-migrate h{src}->h{dst} --compress {mode}: "
                                   f"{cp.stderr[-2000:]}")
            r = c.report(cp)
            z = r["compression"]
            out[mode] = {"bytes": r["bytes"]["wire"], "seconds": r["total_seconds"],
                         "pages_sent": r["pages"]["sent"], "compression": z}
            print(f"  {guest} h{src}->h{dst} --compress {mode}: {r['bytes']['wire'] / 1e6:.1f} MB, "
                  f"{r['total_seconds']:.2f} s, {z['frames_compressed']}/{z['frames_tried']} "
                  f"frames compressed, {z['seconds']:.2f} s CPU", flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--guests", default="login,random")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", help="write the results as JSON here")
    a = ap.parse_args()
    res = {}
    for guest in a.guests.split(","):
        if guest not in ("login", "random"):
            ap.error(f"unknown guest {guest!r} (login, random)")
        res[guest] = []
        for rep in range(a.reps):
            order = list(MODES[rep % 3:] + MODES[:rep % 3])
            print(f"[{time.strftime('%H:%M:%S')}] {guest} run {rep + 1}/{a.reps}: {order}",
                  flush=True)
            res[guest].append(one_rep(a.build_dir, guest, order))
    print("\nmedians (ratios against --compress never in the same runs):")
    print(f"  {'guest':7} {'mode':7} {'MB':>8} {'x bytes':>8} {'s':>6} {'x time':>7} "
          f"{'ratio':>6} {'CPU s':>6}")
    for guest, runs in res.items():
        base_b = statistics.median(r["never"]["bytes"] for r in runs)
        base_s = statistics.median(r["never"]["seconds"] for r in runs)
        for mode in MODES:
            b = statistics.median(r[mode]["bytes"] for r in runs)
            s = statistics.median(r[mode]["seconds"] for r in runs)
            zs = [r[mode]["compression"] for r in runs]
            ratio = statistics.median(z["raw_bytes"] / z["compressed_bytes"]
                                      if z["compressed_bytes"] else 1.0 for z in zs)
            cpu = statistics.median(z["seconds"] for z in zs)
            print(f"  {guest:7} {mode:7} {b / 1e6:8.1f} {b / base_b:8.2f} {s:6.2f} "
                  f"{s / base_s:7.2f} {ratio:6.2f} {cpu:6.2f}")
    if a.out:
        with open(a.out, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
