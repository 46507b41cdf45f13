#!/usr/bin/env python3
"""What a large, empty RAM file costs mkd-memfs (issue 13): a file created, sized with ftruncate
(as QEMU does) and closed with nothing written, while another VM's file is being stat'ed.

Measured on one daemon started for the run (its own tmpfs page store, database and mount):
  seconds       from close(2) until the file's summary says state=stored
  cpu_s         the daemon's user+system CPU time spent from before the create to stored
  peak_rss      the daemon's VmHWM (peak resident memory) after the run, and its VmRSS before
  db_growth     how much the --db directory grew (WAL + tables): the record of the file
  stat_max_ms   the slowest stat(2) of another VM's RAM file during the run (and the median);
                stat reaches the daemon every time (attribute timeout 0)
  summary_max_ms  the same for getxattr user.mkd.summary of that file

Usage (root; FUSE and tmpfs mounts):
  python3 tests/bench/bench_empty_file.py --build-dir build [--size 64G] [--binary PATH] [--json]
The daemon, its mount and the page-store tmpfs are stopped/unmounted by pid and path at the end,
also on failure.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "system"))
from mkdsys import memfs_protocol as mp  # noqa: E402
from mkdsys.memfs import Memfs  # noqa: E402

UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    text = text.upper().rstrip("B").rstrip("I")
    return int(float(text[:-1]) * UNITS[text[-1]]) if text[-1] in UNITS else int(text)


def proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def dir_bytes(path: str) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                pass
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--binary", help="mkd-memfs to run (default: BUILD/memfs/mkd-memfs)")
    ap.add_argument("--size", default="64G")
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--extra-arg", action="append", default=[], help="passed to mkd-memfs")
    args = ap.parse_args()
    size = parse_size(args.size)

    workdir = tempfile.mkdtemp(prefix="mkd-bench-empty-")
    fs = Memfs(args.build_dir, workdir, host_id="bench", store_size="1g",
               extra_args=args.extra_arg)
    if args.binary:
        fs.binary = os.path.abspath(args.binary)
    fds = []
    try:
        fs.start()
        pid = fs.proc.pid
        other_vm, big_vm = str(uuid.uuid4()), str(uuid.uuid4())
        for vm in (other_vm, big_vm):
            os.mkdir(fs.vm_dir(vm))
        other = os.path.join(fs.vm_dir(other_vm), "ram")
        fd = os.open(other, os.O_RDWR | os.O_CREAT, 0o600)
        fds.append(fd)
        os.ftruncate(fd, 16 << 20)
        os.pwrite(fd, b"x" * (1 << 20), 0)  # a live VM with a few pages

        samples = {"stat": [], "summary": []}
        stop = threading.Event()

        def sampler():
            while not stop.is_set():
                t = time.monotonic()
                os.stat(other)
                samples["stat"].append(time.monotonic() - t)
                samples.setdefault("stat_at", []).append(t)
                t = time.monotonic()
                os.getxattr(other, mp.SUMMARY)
                samples["summary"].append(time.monotonic() - t)
                time.sleep(0.01)

        rss_before = proc_status_kib(pid, "VmRSS")
        db_before = dir_bytes(fs.db)
        cpu0 = proc_cpu_s(pid)
        th = threading.Thread(target=sampler, daemon=True)
        th.start()
        time.sleep(0.5)
        big = os.path.join(fs.vm_dir(big_vm), "ram")
        t0 = time.monotonic()
        bfd = os.open(big, os.O_RDWR | os.O_CREAT, 0o600)
        os.ftruncate(bfd, size)
        t_sized = time.monotonic()
        os.close(bfd)
        t_closed = time.monotonic()
        deadline = t_closed + args.timeout
        while True:
            s = fs.summary(big)
            if s.get("state") == "stored":
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"not stored within {args.timeout} s: {s}")
            time.sleep(0.05)
        t_stored = time.monotonic()
        time.sleep(0.5)
        stop.set()
        th.join(60)
        cpu1 = proc_cpu_s(pid)
        result = {
            "size": size,
            "create_and_ftruncate_s": round(t_sized - t0, 3),
            "close_to_stored_s": round(t_stored - t_closed, 3),
            "cpu_s": round(cpu1 - cpu0, 2),
            "rss_before_mib": round(rss_before / 1024, 1),
            "peak_rss_mib": round(proc_status_kib(pid, "VmHWM") / 1024, 1),
            "db_growth_bytes": dir_bytes(fs.db) - db_before,
            "stat_max_ms": round(max(samples["stat"]) * 1000, 1),
            "stat_median_ms": round(statistics.median(samples["stat"]) * 1000, 2),
            # When the slowest stat began, in seconds after the create began (negative: before).
            "stat_max_at_s": round(samples["stat_at"][samples["stat"].index(
                max(samples["stat"]))] - t0, 2),
            "summary_max_ms": round(max(samples["summary"]) * 1000, 1),
            "stat_samples": len(samples["stat"]),
        }
        if args.json:
            print(json.dumps(result))
        else:
            for k, v in result.items():
                print(f"{k:24} {v}")
        return 0
    finally:
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass
        fs.destroy()
        if not os.path.ismount(fs.mountpoint):
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
