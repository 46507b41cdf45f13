#!/usr/bin/env python3
"""libvirt beside mkd-vm: the same return hops, the same guest, the same lab.

The 256 MiB checker guest (32 MB swept every 500 ms) makes the four hops h0 -> h1 -> h0 -> h1 ->
h0 with --verify, 3 s of work before each, twice per repetition:
- as an mkd-vm VM (mkdsys.Cluster: serve starts the destination QEMU);
- as a libvirt domain moved by `mkd-migrate --libvirt` (tests/system/test_libvirt_migrate.py,
  which writes its hops' reports to $MKD_TEST_LOG_DIR/libvirt_migrate.json).
Prints every hop and, for the return hops (2-4), the medians of both side by side: bytes on the
wire, pages sent and reused, seconds, our downtime and the downtime until the destination said
the VM runs there. Takes about 2.5 minutes a repetition.

Usage: python3 tests/bench/bench_libvirt.py [--reps N] [--build-dir DIR]
Needs root and a build (MKD_BUILD_DIR, MKD_GUEST_BUILD_DIR as for the system tests).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
SYSTEM = os.path.join(os.path.dirname(HERE), "system")
sys.path.insert(0, SYSTEM)
from mkdsys.cluster import Cluster  # noqa: E402
from mkdsys.serial import SerialLog  # noqa: E402

CHECKER = ["--mb", "32", "--sweep-interval-ms", "500"]  # as test_libvirt_migrate.py
HOPS = ((0, 1), (1, 0), (0, 1), (1, 0))


def mkd_vm_hops(build: str) -> list:
    reports = []
    with Cluster(build, "bvm", hosts=2) as c:
        c.start_vm(0, run="checker", args=CHECKER)
        c.serial(0).wait_for(r"^MKD checker OK sweep=[1-9]\d*$", timeout=180)
        for src, dst in HOPS:
            time.sleep(3)
            cp = c.migrate(src, dst, "--verify")
            r = c.report(cp)
            if r["outcome"] != "ok":
                raise RuntimeError(f"mkd-vm hop h{src} -> h{dst}: {r['outcome']}")
            SerialLog(c.run_path(dst, "serial.log")).wait_for(r"^MKD checker OK", timeout=60)
            reports.append(r)
    return reports


def libvirt_hops(build: str) -> list:
    with tempfile.TemporaryDirectory() as logs:
        env = dict(os.environ, MKD_BUILD_DIR=build, MKD_TEST_LOG_DIR=logs)
        cp = subprocess.run([sys.executable, "-W", "ignore",
                             os.path.join(SYSTEM, "test_libvirt_migrate.py")],
                            env=env, capture_output=True, text=True, timeout=900)
        if cp.returncode != 0:
            raise RuntimeError(f"test_libvirt_migrate failed:\n{cp.stderr[-3000:]}")
        with open(os.path.join(logs, "libvirt_migrate.json")) as f:
            return json.load(f)


def row(r: dict) -> dict:
    return {"wire_mb": r["bytes"]["wire"] / 1e6, "sent": r["pages"]["sent"],
            "reused": r["pages"]["reused"], "seconds": r["total_seconds"],
            "downtime_ms": r["downtime_ms"]["ours"],
            "until_running_ms": r["downtime_ms"].get("until_running", 0)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--build-dir", default=os.environ.get("MKD_BUILD_DIR") or
                    os.path.join(os.path.dirname(os.path.dirname(HERE)), "build"))
    a = ap.parse_args()
    build = os.path.abspath(a.build_dir)
    runs = {"mkd-vm": [], "libvirt": []}
    for rep in range(a.reps):
        for name, fn in (("mkd-vm", mkd_vm_hops), ("libvirt", libvirt_hops)):
            hops = [row(r) for r in fn(build)]
            runs[name].append(hops)
            for n, h in enumerate(hops):
                print(f"rep {rep + 1} {name:8} hop {n + 1}: {h['wire_mb']:7.1f} MB, "
                      f"{h['sent']:6} sent, {h['reused']:6} reused, {h['seconds']:5.2f} s, "
                      f"downtime {h['downtime_ms']:4.0f} ms (until it ran there "
                      f"{h['until_running_ms']:4.0f} ms)", flush=True)
    print("\nreturn hops (2-4), medians over all repetitions:")
    print(f"{'':10}{'MB':>9}{'sent':>8}{'reused':>8}{'s':>7}{'downtime':>11}"
          f"{'until running':>15}")
    med = {}
    for name, reps in runs.items():
        hops = [h for hs in reps for h in hs[1:]]
        med[name] = {k: statistics.median(h[k] for h in hops) for k in hops[0]}
        m = med[name]
        print(f"{name:10}{m['wire_mb']:9.1f}{m['sent']:8.0f}{m['reused']:8.0f}"
              f"{m['seconds']:7.2f}{m['downtime_ms']:8.0f} ms{m['until_running_ms']:12.0f} ms")
    lv, vm = med["libvirt"], med["mkd-vm"]
    print(f"libvirt / mkd-vm: bytes {lv['wire_mb'] / vm['wire_mb']:.3f}x, time "
          f"{lv['seconds'] - vm['seconds']:+.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
