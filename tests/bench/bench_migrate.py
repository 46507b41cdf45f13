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
import uuid

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
import mkdsys  # noqa: E402
from mkdsys.cluster import Cluster  # noqa: E402

WORKLOAD = ["--mb", "128", "--rate", "1000", "--seconds", "1000000"]
STOCK_PORT = 4444


def tx_bytes(lab, i: int) -> int:
    """Bytes host i's eth0 has sent (/proc/net/dev follows the network namespace; /sys does
    not, it shows the namespace that mounted it)."""
    cp = lab.exec(i, ["cat", "/proc/net/dev"])
    for line in cp.stdout.splitlines():
        name, _, counters = line.partition(":")
        if name.strip() == "eth0":
            return int(counters.split()[8])
    raise RuntimeError(f"h{i} has no eth0:\n{cp.stdout}")


def link_bytes(lab) -> int:
    return tx_bytes(lab, 0) + tx_bytes(lab, 1)


def ours(c: Cluster, reuse: bool, work_s: float) -> list:
    c.start_vm(0, run="pagewriter", args=WORKLOAD)
    c.serial(0).wait_for(r"^MKD pagewriter filled", timeout=120)
    time.sleep(2)
    hops = []
    for src, dst in ((0, 1), (1, 0)):
        before = link_bytes(c.lab)
        cp = c.migrate(src, dst, *([] if reuse else ["--no-reuse"]))
        link = link_bytes(c.lab) - before
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
    """Stock QEMU: RAM on a tmpfs per host, QMP migrate over TCP in the lab."""
    lab = c.lab
    vm_uuid = str(uuid.uuid4())
    defs = []
    for i in (0, 1):
        mnt = lab.mount_dir(i)
        lab.exec(i, ["mount", "-t", "tmpfs", "-o", "size=1g", "mkd-bench-tmpfs", mnt])
        d = {"uuid": vm_uuid, "name": "bench-stock", "memory_mib": c.memory_mib,
             "boot": {"kernel": c.image.kernel, "initrd": c.image.initrd,
                      "append": "console=ttyS0 quiet panic=-1 mkd.run=pagewriter mkd.args=" +
                                ",".join(WORKLOAD)},
             "memory_backing": {"type": "tmpfs", "dir": mnt},
             "run_dir": os.path.join(lab.state_dir(i), "stock-run")}
        path = os.path.join(lab.state_dir(i), "stock.json")
        with open(path, "w") as f:
            json.dump(d, f)
        defs.append(path)

    def run(i):
        return os.path.join(lab.state_dir(i), "stock-run", vm_uuid)

    try:
        lab.exec(0, [c.mkd_vm, "start", "--accel", "tcg", defs[0]], timeout=120)
        mkdsys.SerialLog(os.path.join(run(0), "serial.log")).wait_for(
            r"^MKD pagewriter filled", timeout=120)
        time.sleep(2)
        hops = []
        for src, dst in ((0, 1), (1, 0)):
            lab.exec(dst, [c.mkd_vm, "stop", defs[dst]], check=False, timeout=60)
            lab.exec(dst, [c.mkd_vm, "start", "--accel", "tcg", "--incoming", defs[dst]],
                     timeout=120)
            qd = mkdsys.QmpClient.connect(os.path.join(run(dst), "qmp.sock"))
            qs = mkdsys.QmpClient.connect(os.path.join(run(src), "qmp.sock"))
            uri = f"tcp:{lab.address(dst)}:{STOCK_PORT}"
            qd.execute("migrate-incoming", {"uri": uri})
            qs.execute("migrate-set-parameters", {"max-bandwidth": 1 << 30})
            before = link_bytes(lab)
            qs.execute("migrate", {"uri": uri})
            info = {}
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                info = qs.execute("query-migrate")
                if info.get("status") in ("completed", "failed", "cancelled"):
                    break
                time.sleep(0.1)
            if info.get("status") != "completed":
                raise RuntimeError(f"stock migration h{src}->h{dst}: {info}")
            deadline = time.monotonic() + 30
            while qd.execute("query-status").get("status") != "running":
                if time.monotonic() > deadline:
                    raise RuntimeError("stock destination never ran")
                time.sleep(0.1)
            link = link_bytes(lab) - before
            qs.close()
            qd.close()
            # QEMU's total-time starts at `migrate`: the destination QEMU was started before.
            hops.append({"bytes": info["ram"]["transferred"], "link_bytes": link,
                         "seconds": info["total-time"] / 1000, "setup_seconds": 0.0,
                         "downtime_ms": info["downtime"]})
            lab.exec(src, [c.mkd_vm, "stop", defs[src]], check=False, timeout=60)
            if dst == 1:
                time.sleep(work_s)
        return hops
    finally:
        for i in (0, 1):
            lab.exec(i, [c.mkd_vm, "stop", defs[i]], check=False, timeout=60)
            lab.exec(i, ["umount", "-l", lab.mount_dir(i)], check=False)


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
