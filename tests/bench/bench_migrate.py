#!/usr/bin/env python3
"""The A->B->A round trip at 1 Gbit/s, three ways in one run (issue 5): mkd-migrate with reuse,
mkd-migrate --no-reuse (the same path, reuse off), and stock QEMU pre-copy with RAM on tmpfs.

Same guest image, same workload, same lab link: a 256 MiB guest whose page writer fills 128 MB
with random data, then rewrites 1,000 pages a second (the paper's micro-benchmark shape). Each
system: boot on A, wait until filled, migrate A->B, let the guest work on B for WORK_S seconds,
migrate B->A. Bytes on the wire are counted twice: by the tool (mkd-migrate's report; QEMU's
query-migrate "transferred") and by the lab's interfaces (tx bytes of both hosts' eth0 during the
hop, so TCP/IP and TLS overhead are in). Also total time and downtime of each hop. mkd-migrate's
time includes starting the destination QEMU ("setup"); stock QEMU's total-time starts after it
(the destination QEMU is started before `migrate`), so "time after setup" is the comparable one.

Usage: scripts/bench-migrate [--reps N] [--work S] [--out FILE]
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
from mkdsys.stockvm import StockVm  # noqa: E402

WORKLOAD = ["--mb", "128", "--rate", "1000", "--seconds", "1000000"]


def ours(c: Cluster, reuse: bool, work_s: float) -> list:
    c.start_vm(0, run="pagewriter", args=WORKLOAD)
    c.serial(0).wait_for(r"^MKD pagewriter filled", timeout=120)
    time.sleep(2)
    hops = []
    for src, dst in ((0, 1), (1, 0)):
        before = c.link_bytes()
        cp = c.migrate(src, dst, *([] if reuse else ["--no-reuse"]))
        link = c.link_bytes() - before
        if cp.returncode != 0:
            raise RuntimeError(f"mkd-migrate h{src}->h{dst}: {cp.stderr[-2000:]}")
        r = c.report(cp)
        hops.append({"bytes": r["bytes"]["wire"], "link_bytes": link,
                     "seconds": r["total_seconds"], "setup_seconds": r["setup_seconds"],
                     "downtime_ms": r["downtime_ms"]["qemu"],
                     "pages_sent": r["pages"]["sent"], "pages_reused": r["pages"]["reused"]})
        if dst == 1:
            time.sleep(work_s)
    c.lab.exec(0, [c.mkd_vm, "stop", c.definition(0)], check=False, timeout=60)
    return hops


def stock(c: Cluster, work_s: float) -> list:
    """Stock QEMU: RAM on a tmpfs per host, QMP migrate over TCP in the lab (mkdsys.stockvm)."""
    with StockVm(c, tmpfs_size="1g") as vm:
        vm.start(0, "pagewriter", WORKLOAD)
        vm.serial(0).wait_for(r"^MKD pagewriter filled", timeout=120)
        time.sleep(2)
        hops = []
        for src, dst in ((0, 1), (1, 0)):
            hops.append(vm.migrate(src, dst))
            if dst == 1:
                time.sleep(work_s)
        return hops


def median(xs):
    return statistics.median(xs) if xs else 0


def spread(xs):
    return (min(xs), max(xs)) if xs else (0, 0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--work", type=float, default=5.0, help="seconds of guest work on B")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench-migrate.json"))
    args = ap.parse_args()
    results = {"reuse": [], "no-reuse": [], "stock": []}
    for rep in range(1, args.reps + 1):
        for system in results:
            print(f"bench-migrate: repetition {rep}, {system} ...", file=sys.stderr, flush=True)
            with Cluster(args.build_dir, "bench", hosts=2) as c:
                if system == "stock":
                    hops = stock(c, args.work)
                else:
                    hops = ours(c, system == "reuse", args.work)
            results[system].append(hops)
            print(f"  {json.dumps(hops)}", file=sys.stderr, flush=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)

    print(f"A->B->A at 1 Gbit/s, 256 MiB guest, page writer 128 MB + 1,000 pages/s, "
          f"{args.work:.0f} s of work on B; median of {args.reps} (min-max)\n")
    print("| system | hop | bytes (tool) | bytes on the link | vs stock | time | of which setup "
          "| time after setup | downtime |")
    print("|---|---|---|---|---|---|---|---|---|")
    for system, reps in results.items():
        for h, name in ((0, "A->B"), (1, "B->A")):
            tool = [r[h]["bytes"] for r in reps]
            link = [r[h]["link_bytes"] for r in reps]
            secs = [r[h]["seconds"] for r in reps]
            setup = [r[h].get("setup_seconds", 0.0) for r in reps]
            after = [r[h]["seconds"] - r[h].get("setup_seconds", 0.0) for r in reps]
            down = [r[h]["downtime_ms"] for r in reps]
            stock_link = median([r[h]["link_bytes"] for r in results["stock"]])
            ratio = median(link) / stock_link if stock_link else 0
            lo, hi = spread(link)
            print(f"| {system} | {name} | {median(tool) / 1e6:.1f} MB | {median(link) / 1e6:.1f} MB "
                  f"({lo / 1e6:.1f}-{hi / 1e6:.1f}) | {ratio:.2f}x | {median(secs):.2f} s | "
                  f"{median(setup):.2f} s | {median(after):.2f} s | {median(down):.0f} ms |")
    print(f"\nJSON: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
