#!/usr/bin/env python3
"""Post-copy downtime against VM size (issue 6): 256 MiB and 1 GiB guests, post-copy and, as the
baseline measured in the same run, pre-copy, both with reuse, over the lab's 1 Gbit/s link.

Same workload for both sizes: the page writer fills 128 MB with random data, then rewrites 1,000
pages a second. Each run: boot on A, wait until filled, migrate A->B, WORK_S seconds of work on
B, migrate B->A. Per hop: the pause (mkd-migrate's "ours": from QEMU's pre-switchover pause to
migrate-continue; and QEMU's own downtime), the time until the VM runs at the destination, bytes,
and for post-copy the pages fetched/pushed, fault latency and the time until every page arrived.
The point: post-copy's pause does not grow with the VM's size (the ratio 1 GiB / 256 MiB).

Usage: scripts/bench-postcopy [--reps N] [--work S] [--out FILE]
       scripts/bench-postcopy --windows 1,16,64 [--reps N]   (post-copy's window, 256 MiB guest)
"""

import argparse
import json
import os
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
from mkdsys.cluster import Cluster  # noqa: E402
from bench_migrate import median  # noqa: E402

WORKLOAD = ["--mb", "128", "--rate", "1000", "--seconds", "1000000"]
SIZES = (256, 1024)
MODES = ("postcopy", "precopy")


def run(c: Cluster, mode: str, work_s: float, extra=()) -> list:
    c.start_vm(0, run="pagewriter", args=WORKLOAD)
    c.serial(0).wait_for(r"^MKD pagewriter filled", timeout=180)
    time.sleep(2)
    hops = []
    for src, dst in ((0, 1), (1, 0)):
        cp = c.migrate(src, dst, *(["--postcopy", *extra] if mode == "postcopy" else []))
        if cp.returncode != 0:
            raise RuntimeError(f"mkd-migrate {mode} h{src}->h{dst}: {cp.stderr[-2000:]}")
        r = c.report(cp)
        hop = {"bytes": r["bytes"]["wire"], "seconds": r["total_seconds"],
               "setup_seconds": r["setup_seconds"], "downtime_ours_ms": r["downtime_ms"]["ours"],
               "downtime_qemu_ms": r["downtime_ms"]["qemu"]}
        if mode == "postcopy":
            hop.update({k: r["postcopy"][k] for k in ("missing", "fetched", "pushed", "faults",
                                                      "fault_median_ms", "fault_p99_ms",
                                                      "complete_seconds")})
        hops.append(hop)
        if dst == 1:
            time.sleep(work_s)
    c.lab.exec(0, [c.mkd_vm, "stop", c.definition(0)], check=False, timeout=60)
    return hops


def windows(args, values: list) -> int:
    """Post-copy's window: fault latency and time until every page arrived, per window."""
    results = {w: [] for w in values}
    for rep in range(1, args.reps + 1):
        for w in values:
            print(f"bench-postcopy: repetition {rep}, window {w} ...", file=sys.stderr, flush=True)
            with Cluster(args.build_dir, "bpc", hosts=2) as c:
                hops = run(c, "postcopy", args.work, ["--postcopy-window", str(w)])
            results[w].append(hops)
            print(f"  {json.dumps(hops)}", file=sys.stderr, flush=True)
    print(f"post-copy A->B->A, 256 MiB guest, page writer 128 MB + 1,000 pages/s; median of "
          f"{args.reps}\n")
    print("| window | hop | faults | fault median / p99 | fetched + pushed | all pages after |")
    print("|---|---|---|---|---|---|")
    for w, reps in results.items():
        for h, name in ((0, "A->B"), (1, "B->A")):
            col = lambda k: [r[h][k] for r in reps]  # noqa: E731
            print(f"| {w} | {name} | {median(col('faults')):.0f} | "
                  f"{median(col('fault_median_ms')):.1f} / {median(col('fault_p99_ms')):.1f} ms | "
                  f"{median(col('fetched')):.0f} + {median(col('pushed')):.0f} | "
                  f"{median(col('complete_seconds')):.2f} s |")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--work", type=float, default=5.0, help="seconds of guest work on B")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench-postcopy.json"))
    ap.add_argument("--windows", help="compare these --postcopy-window values instead")
    args = ap.parse_args()
    if args.windows:
        return windows(args, [int(w) for w in args.windows.split(",")])
    results = {f"{mode}-{mib}": [] for mib in SIZES for mode in MODES}
    for rep in range(1, args.reps + 1):
        for mib in SIZES:
            for mode in MODES:
                key = f"{mode}-{mib}"
                print(f"bench-postcopy: repetition {rep}, {key} ...", file=sys.stderr, flush=True)
                with Cluster(args.build_dir, "bpc", hosts=2, memory_mib=mib,
                             store_size="2g") as c:
                    hops = run(c, mode, args.work)
                results[key].append(hops)
                print(f"  {json.dumps(hops)}", file=sys.stderr, flush=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)

    print(f"A->B->A at 1 Gbit/s, page writer 128 MB + 1,000 pages/s, {args.work:.0f} s of work "
          f"on B; median of {args.reps} (min-max)\n")
    print("| mode | guest | hop | pause (ours) | QEMU downtime | until running | bytes | "
          "fetched + pushed | fault median / p99 | all pages after |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for key, reps in results.items():
        mode, mib = key.split("-")
        for h, name in ((0, "A->B"), (1, "B->A")):
            col = lambda k: [r[h][k] for r in reps]  # noqa: E731
            ours = col("downtime_ours_ms")
            pc = mode == "postcopy"
            print(f"| {mode} | {mib} MiB | {name} | {median(ours):.0f} ms "
                  f"({min(ours):.0f}-{max(ours):.0f}) | {median(col('downtime_qemu_ms')):.0f} ms | "
                  f"{median(col('seconds')):.2f} s | {median(col('bytes')) / 1e6:.1f} MB | "
                  + (f"{median(col('fetched')):.0f} + {median(col('pushed')):.0f} | "
                     f"{median(col('fault_median_ms')):.1f} / {median(col('fault_p99_ms')):.1f} ms | "
                     f"{median(col('complete_seconds')):.2f} s |" if pc else "- | - | - |"))
    print()
    for mode in MODES:
        for h, name in ((0, "A->B"), (1, "B->A")):
            small = median([r[h]["downtime_ours_ms"] for r in results[f"{mode}-{SIZES[0]}"]])
            big = median([r[h]["downtime_ours_ms"] for r in results[f"{mode}-{SIZES[1]}"]])
            print(f"{mode} {name}: pause 1 GiB / 256 MiB = {big / small if small else 0:.2f}x")
    print(f"\nJSON: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
