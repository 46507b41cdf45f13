#!/usr/bin/env python3
"""The memfs overhead benchmark (issue 4; docs/memfs-benchmark.md). Run it as scripts/bench-memfs.

In one run, on the same guest image, the same QEMU and the same host, guest RAM on a plain tmpfs is
compared with guest RAM on an mkd-memfs mount (whose page store is a tmpfs):

  guest      a 512 MiB TCG guest boots (time to "MKD init ready"), mkd-pagewriter fills 200 MB
             (first touch: the "filled" seconds; "mapped" is the faulting-in part alone), then
             rewrites every byte of the 200 MB again and again for --rewrite-seconds (45 s: longer
             than the kernel's 30 s write-back period, so the steady state includes write-back).
             Variants: tmpfs; memfs with its default BDI limits (max_ratio 100, strict_limit 0);
             memfs with the kernel's FUSE defaults (max_ratio 1, strict_limit 1): the measurement
             behind the default (docs/memfs.md).
  host I/O   memfs_iobench on a 1 GiB file, no guest: first touch through a shared mapping, fsync
             (the write-back through the daemon), read(2) and page faults after the file's page
             cache was dropped. Variants: tmpfs (reference), memfs (defaults), memfs --threads 2.

Every variant runs --reps times (3; 1 with --quick), the variants of one repetition in a rotating
order. Results: medians with min/max and ratios to tmpfs as a Markdown table on stdout, everything
(every run, every pass) as JSON in --out (default <build>/bench-memfs.json). Progress on stderr.
The binaries are copied into the work directory first, so a rebuild meanwhile changes nothing.

Cleanup, also on failure, Ctrl-C and SIGTERM: QEMU and mkd-memfs are stopped by process id (mkdsys),
the memfs mount and its page-store tmpfs by the Memfs helper, the baseline tmpfs is unmounted, the
work directory removed (kept with all logs, and its path printed, when the run failed or --keep).
Exit status: 0 when every measurement ran (missed targets are reported, not fatal), 1 otherwise.
"""

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from typing import Dict, List, Optional, Sequence

sys.dont_write_bytecode = True
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "system"))
import mkdsys  # noqa: E402  (after the path tweak)
from mkdsys.memfs import Memfs, is_mounted  # noqa: E402

GUEST_MB = 200        # the pagewriter's area
GUEST_RAM_MB = 512    # guest size: 200 MB + kernel, initramfs and page tables, with room
TARGET_REWRITE = 0.95  # issue 4: steady rewrite >= 0.95x tmpfs
TARGET_FIRST_TOUCH = 0.80  # first touch >= 0.8x tmpfs

FUSE_BDI = ["--bdi-max-ratio", "1", "--bdi-strict-limit", "1"]
# name -> (RAM on memfs?, extra mkd-memfs arguments)
GUEST_VARIANTS = {
    "tmpfs": (False, []),
    "memfs": (True, []),
    "memfs-fuse-bdi": (True, FUSE_BDI),
}
IO_VARIANTS = {
    "tmpfs": (False, []),
    "memfs": (True, []),
    "memfs-threads2": (True, ["--threads", "2"]),
}


def log(message: str) -> None:
    print(f"bench-memfs: {message}", file=sys.stderr, flush=True)


def cpu_seconds(pid: int) -> Optional[float]:
    """utime + stime of a process (None when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busy_cpu_seconds() -> float:
    """CPU seconds all processes of the host spent busy so far (/proc/stat, all CPUs)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def loadavg() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def bdi_limits(mountpoint: str) -> Dict[str, str]:
    """max_ratio and strict_limit in effect for the mount's backing device."""
    real = os.path.realpath(mountpoint)
    with open("/proc/self/mountinfo") as f:
        devs = [line.split()[2] for line in f if line.split()[4] == real]
    out = {}
    for name in ("max_ratio", "strict_limit", "read_ahead_kb"):
        try:
            with open(f"/sys/class/bdi/{devs[-1]}/{name}") as f:
                out[name] = f.read().strip()
        except (OSError, IndexError):
            out[name] = "?"
    return out


class Tmpfs:
    """A tmpfs mounted for the baseline; unmounted (lazily, never by name) on exit."""

    def __init__(self, path: str, size: str):
        self.path = path
        os.makedirs(path, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "mkd-bench-tmpfs", path],
                       check=True)

    def __enter__(self) -> "Tmpfs":
        return self

    def __exit__(self, *exc) -> None:
        if is_mounted(self.path):
            subprocess.run(["umount", "-l", self.path], check=False)


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.workdir = tempfile.mkdtemp(prefix="mkd-bench-memfs-", dir="/tmp")
        self.logdir = os.path.join(self.workdir, "logs")
        os.makedirs(self.logdir)
        self.bindir = os.path.join(self.workdir, "bin")  # a build dir layout for Memfs
        self.runs_guest: List[dict] = []
        self.runs_io: List[dict] = []
        self.image: Optional[mkdsys.GuestImage] = None

    # ---- setup
    def snapshot_binaries(self) -> None:
        build = self.args.build_dir
        for rel in ("memfs/mkd-memfs", "tests/bench/memfs_iobench"):
            os.makedirs(os.path.join(self.bindir, os.path.dirname(rel)), exist_ok=True)
            shutil.copy2(os.path.join(build, rel), os.path.join(self.bindir, rel))
        with open(os.path.join(self.bindir, "memfs", "mkd-memfs"), "rb") as f:
            self.memfs_sha256 = hashlib.sha256(f.read()).hexdigest()
        self.image = mkdsys.build_guest_image(os.path.join(build, "tests", "guest"))
        log(f"guest image {self.image.key} (kernel {self.image.kernel_release})")

    @contextlib.contextmanager
    def memfs(self, name: str, extra: Sequence[str], store_size: str):
        """A running mkd-memfs; stopped and its page-store tmpfs unmounted afterwards, also when
        it fails to start (Memfs's own `with` would leave the tmpfs mounted then)."""
        fs = Memfs(self.bindir, os.path.join(self.workdir, name), host_id="bench",
                   store_size=store_size, extra_args=list(extra), log_name="memfs.log")
        try:
            fs.start()
            yield fs
        finally:
            fs.destroy()

    # ---- one guest run
    def guest_run(self, variant: str, rep: int) -> dict:
        on_memfs, extra = GUEST_VARIANTS[variant]
        name = f"guest-{variant}-{rep}"
        args = ["--mb", str(GUEST_MB), "--rewrite-passes", "1000000",
                "--rewrite-seconds", str(self.args.rewrite_seconds), "--seconds", "0", "--exit"]
        result = {"variant": variant, "rep": rep, "loadavg_before": loadavg()}
        if on_memfs:
            with self.memfs(name, extra, "1g") as fs:
                vm = str(uuid.uuid4())
                os.mkdir(fs.vm_dir(vm))
                ram = os.path.join(fs.vm_dir(vm), "ram")
                result["bdi"] = bdi_limits(fs.mountpoint)
                self._guest(name, ram, args, result, fs)
        else:
            with Tmpfs(os.path.join(self.workdir, name), "1g") as tmp:
                self._guest(name, os.path.join(tmp.path, "ram"), args, result, None)
        result["loadavg_after"] = loadavg()
        return result

    def _guest(self, name: str, ram: str, args: List[str], result: dict,
               fs: Optional[Memfs]) -> None:
        config = mkdsys.GuestConfig(name=name, run="pagewriter", args=args,
                                    memory_mb=GUEST_RAM_MB, mem_path=ram, log_dir=self.logdir)
        daemon_cpu0 = cpu_seconds(fs.proc.pid) if fs else None
        busy0 = busy_cpu_seconds()
        with mkdsys.Guest(config, self.image) as guest:
            result["boot_s"] = guest.wait_ready(timeout=120)
            mapped = guest.wait_for(r"^MKD pagewriter mapped mb=\d+ seconds=([\d.]+)$", 300)
            filled = guest.wait_for(r"^MKD pagewriter filled mb=\d+ pages=\d+ seconds=([\d.]+)$",
                                    300)
            done = guest.wait_for(r"^MKD pagewriter rewritten passes=(\d+) seconds=([\d.]+) ",
                                  self.args.rewrite_seconds + 300)
            result["qemu_cpu_s"] = cpu_seconds(guest.process.pid)
            result["daemon_cpu_s"] = cpu_seconds(fs.proc.pid) - daemon_cpu0 if fs else 0.0
            # CPU the rest of the host took meanwhile (other work on the machine; kernel
            # write-back threads): the noise to read the numbers against.
            result["other_cpu_s"] = (busy_cpu_seconds() - busy0 - result["qemu_cpu_s"] -
                                     result["daemon_cpu_s"])
            result["wall_s"] = time.monotonic() - guest.started_at
            if fs:
                result["memfs_summary"] = fs.summary(ram)
            errors = guest.errors()
        if errors:
            raise RuntimeError(f"{name}: error lines on the guest console: {errors}")
        passes = [float(m.group(1)) for m in guest.serial.find_all(
            r"^MKD pagewriter rewrite pass=\d+ seconds=([\d.]+) mb=\d+$")]
        if len(passes) != int(done.group(1)) or not passes:
            raise RuntimeError(f"{name}: {len(passes)} pass lines, 'rewritten' says "
                               f"{done.group(1)}")
        result.update(mapped_s=float(mapped.group(1)), fill_s=float(filled.group(1)),
                      rewrite_total_s=float(done.group(2)), passes_s=passes)
        m = self.guest_metrics(result)
        log(f"{name}: boot {result['boot_s']:.2f} s, fill {m['fill_mbps']:.0f} MB/s, rewrite "
            f"median pass {m['rewrite_median_mbps']:.0f} MB/s, all passes "
            f"{m['rewrite_all_mbps']:.0f} MB/s ({len(passes)} passes), other CPU "
            f"{result['other_cpu_s'] / result['wall_s']:.2f} cores")

    @staticmethod
    def guest_metrics(r: dict) -> dict:
        passes = r["passes_s"]
        out = {
            "boot_s": r["boot_s"],
            "fill_mbps": GUEST_MB / r["fill_s"],
            "mapped_mbps": GUEST_MB / r["mapped_s"],
            "rewrite_median_mbps": GUEST_MB / statistics.median(passes),
            "rewrite_all_mbps": GUEST_MB * len(passes) / sum(passes),
            "rewrite_slowest_s": max(passes),
            "other_cores": r["other_cpu_s"] / r["wall_s"],
        }
        s = r.get("memfs_summary")
        if s:
            writes, pages = int(s["writes"]), int(s["pages_written"]) + int(
                s["zero_pages_written"])
            out["write_requests"] = writes
            out["pages_written_back"] = pages
            out["kib_per_write"] = pages * 4 / writes if writes else 0.0
            out["daemon_cpu_s"] = r["daemon_cpu_s"]
        return out

    # ---- one host I/O run
    def io_run(self, variant: str, rep: int) -> dict:
        on_memfs, extra = IO_VARIANTS[variant]
        name = f"io-{variant}-{rep}"
        mb = self.args.io_mb
        store = f"{mb * 2}m"
        result = {"variant": variant, "rep": rep, "mb": mb, "loadavg_before": loadavg()}
        tool = os.path.join(self.bindir, "tests", "bench", "memfs_iobench")
        if on_memfs:
            with self.memfs(name, extra, store) as fs:
                vm = str(uuid.uuid4())
                os.mkdir(fs.vm_dir(vm))
                path = os.path.join(fs.vm_dir(vm), "ram")
                result["bdi"] = bdi_limits(fs.mountpoint)
                result["phases"] = self._iobench(tool, path, mb, fs.proc.pid)
                result["memfs_summary"] = fs.summary(path)
        else:
            with Tmpfs(os.path.join(self.workdir, name), store) as tmp:
                result["phases"] = self._iobench(tool, os.path.join(tmp.path, "ram"), mb, 0)
        result["loadavg_after"] = loadavg()
        p = result["phases"]
        log(f"{name}: touch {p['touch']['gbps']:.2f} GB/s, write-back "
            f"{p['writeback']['seconds']:.2f} s, read {p['read']['gbps']:.2f} GB/s, faults "
            f"{p['fault']['gbps']:.2f} GB/s, load {loadavg():.1f}")
        return result

    @staticmethod
    def _iobench(tool: str, path: str, mb: int, pid: int) -> dict:
        argv = [tool, "--file", path, "--mb", str(mb)]
        if pid:
            argv += ["--daemon-pid", str(pid)]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {r.returncode}: {r.stderr.strip()}")
        return json.loads(r.stdout)

    # ---- the whole run
    def run(self) -> None:
        reps = self.args.reps
        guest_order = list(GUEST_VARIANTS)
        io_order = list(IO_VARIANTS)
        for rep in range(reps):
            for i in range(len(io_order)):
                v = io_order[(i + rep) % len(io_order)]
                self.runs_io.append(self.io_run(v, rep))
            for i in range(len(guest_order)):
                v = guest_order[(i + rep) % len(guest_order)]
                self.runs_guest.append(self.guest_run(v, rep))


# ---------------------------------------------------------------- summary and report

def stats(values: List[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def summarize(bench: Bench) -> dict:
    guest: Dict[str, Dict[str, dict]] = {}
    for variant in GUEST_VARIANTS:
        metrics = [Bench.guest_metrics(r) for r in bench.runs_guest if r["variant"] == variant]
        if metrics:
            guest[variant] = {k: stats([m[k] for m in metrics]) for k in metrics[0]}
    io: Dict[str, Dict[str, dict]] = {}
    for variant in IO_VARIANTS:
        runs = [r for r in bench.runs_io if r["variant"] == variant]
        if runs:
            io[variant] = {}
            for phase in ("touch", "writeback", "read", "fault"):
                if variant == "tmpfs" and phase == "writeback":
                    continue  # fsync on tmpfs has nothing to write: no throughput to speak of
                io[variant][f"{phase}_gbps"] = stats([r["phases"][phase]["gbps"] for r in runs])
                if variant != "tmpfs":
                    io[variant][f"{phase}_daemon_cpu_s"] = stats(
                        [r["phases"][phase]["daemon_cpu_s"] for r in runs])
            # Writing the file and having it stored: first touch plus write-back.
            io[variant]["write_total_gbps"] = stats(
                [r["mb"] * 2**20 / 1e9 / (r["phases"]["touch"]["seconds"] +
                                          r["phases"]["writeback"]["seconds"]) for r in runs])
    return {"guest": guest, "io": io}


def ratio(summary: dict, section: str, variant: str, metric: str,
          base: str = "tmpfs") -> Optional[float]:
    try:
        return summary[section][variant][metric]["median"] / summary[section][base][metric][
            "median"]
    except (KeyError, ZeroDivisionError):
        return None


def fmt_stat(s: Optional[dict], digits: int = 0, scale: float = 1.0) -> str:
    if not s:
        return "-"
    f = f"{{:.{digits}f}}"
    if s["n"] == 1:
        return f.format(s["median"] * scale)
    return (f"{f.format(s['median'] * scale)} ({f.format(s['min'] * scale)}–"
            f"{f.format(s['max'] * scale)})")


def fmt_ratio(r: Optional[float]) -> str:
    return "-" if r is None else f"{r:.2f}x"


def verdict(r: Optional[float], target: float) -> str:
    if r is None:
        return "-"
    return f">= {target:.2f}x: {'PASS' if r >= target else 'MISS'}"


def report(summary: dict, doc: dict) -> str:
    g, io = summary["guest"], summary["io"]
    lines = []
    cfg = doc["config"]
    lines.append(f"memfs overhead, {cfg['reps']} repetition(s): median (min–max); ratio = "
                 f"memfs median / tmpfs median (for rows in seconds a time ratio: lower is "
                 f"better). On tmpfs, fsync has nothing to write back (-).")
    lines.append("")
    lines.append("| measurement | tmpfs | memfs | memfs/tmpfs | target |")
    lines.append("|---|---|---|---|---|")

    def row(label, metric, digits=0, target=None, section="guest", variant="memfs", scale=1.0,
            show_ratio=True):
        sec = summary[section]
        r = ratio(summary, section, variant, metric) if show_ratio else None
        lines.append(f"| {label} | {fmt_stat(sec.get('tmpfs', {}).get(metric), digits, scale)} | "
                     f"{fmt_stat(sec.get(variant, {}).get(metric), digits, scale)} | "
                     f"{fmt_ratio(r)} | {verdict(r, target) if target else ''} |")

    row(f"guest first touch: fill {GUEST_MB} MB, MB/s", "fill_mbps", 0, TARGET_FIRST_TOUCH)
    row("guest first touch: faulting in alone (mapped), MB/s", "mapped_mbps", 0)
    row("guest steady rewrite: median pass, MB/s", "rewrite_median_mbps", 0, TARGET_REWRITE)
    row("guest steady rewrite: all passes (incl. write-back), MB/s", "rewrite_all_mbps", 0,
        TARGET_REWRITE)
    row("guest steady rewrite: slowest pass, s", "rewrite_slowest_s", 3)
    row("boot to `MKD init ready`, s", "boot_s", 2)
    row("(noise) CPU used by the rest of the host during a guest run, cores", "other_cores", 2,
        show_ratio=False)
    mb = cfg["io_mb"]
    row(f"host: first touch of {mb} MiB (mmap write), GB/s", "touch_gbps", 2, section="io")
    row(f"host: write-back of {mb} MiB (fsync), GB/s: the daemon's write throughput",
        "writeback_gbps", 2, section="io")
    row("host: first touch + write-back, GB/s", "write_total_gbps", 2, section="io")
    row(f"host: read(2) after dropping the cache, GB/s", "read_gbps", 2, section="io")
    row(f"host: mmap read faults after dropping the cache, GB/s", "fault_gbps", 2, section="io")
    lines.append("")
    lines.append("BDI limits, guest rewrite (the measurement behind memfs's default):")
    lines.append("")
    lines.append("| BDI limits | fill MB/s | rewrite median pass MB/s | all passes MB/s | "
                 "all passes / tmpfs | FUSE WRITEs | pages written back | KiB/WRITE | "
                 "daemon CPU s |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for variant, label in (("memfs-fuse-bdi", "kernel FUSE default: max_ratio 1, strict_limit 1"),
                           ("memfs", "memfs default: max_ratio 100, strict_limit 0")):
        s = g.get(variant)
        if not s:
            continue
        lines.append(
            f"| {label} | {fmt_stat(s['fill_mbps'])} | {fmt_stat(s['rewrite_median_mbps'])} | "
            f"{fmt_stat(s['rewrite_all_mbps'])} | "
            f"{fmt_ratio(ratio(summary, 'guest', variant, 'rewrite_all_mbps'))} | "
            f"{fmt_stat(s.get('write_requests'))} | {fmt_stat(s.get('pages_written_back'))} | "
            f"{fmt_stat(s.get('kib_per_write'))} | {fmt_stat(s.get('daemon_cpu_s'), 1)} |")
    if "memfs-threads2" in io:
        lines.append("")
        lines.append("Host I/O by daemon worker threads (GB/s; daemon CPU seconds for the phase):")
        lines.append("")
        lines.append("| variant | touch | write-back | read(2) | faults | "
                     "write-back daemon CPU s |")
        lines.append("|---|---|---|---|---|---|")
        for variant, label in (("tmpfs", "tmpfs"), ("memfs", "memfs --threads 16 (default)"),
                               ("memfs-threads2", "memfs --threads 2")):
            s = io.get(variant)
            if not s:
                continue
            lines.append(f"| {label} | {fmt_stat(s['touch_gbps'], 2)} | "
                         f"{fmt_stat(s.get('writeback_gbps'), 2)} | "
                         f"{fmt_stat(s['read_gbps'], 2)} | "
                         f"{fmt_stat(s['fault_gbps'], 2)} | "
                         f"{fmt_stat(s.get('writeback_daemon_cpu_s'), 2)} |")
    lines.append("")
    m = doc["machine"]
    lines.append(f"machine: {m['cpus']} CPUs, kernel {m['kernel']}, {m['qemu']}, TCG; guest "
                 f"kernel {m['guest_kernel']}; load average {m['loadavg_start']:.1f} at start, "
                 f"{m['loadavg_end']:.1f} at end; {m['seconds']:.0f} s.")
    return "\n".join(lines)


def git_state() -> str:
    try:
        rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "?"


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/bench-memfs", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 1 repetition, 8 s of rewriting, 256 MiB host I/O")
    parser.add_argument("--reps", type=int, help="repetitions of every variant (default 3)")
    parser.add_argument("--rewrite-seconds", type=int,
                        help="seconds of rewriting per guest run (default 45)")
    parser.add_argument("--io-mb", type=int, help="host I/O file size in MiB (default 1024)")
    parser.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    parser.add_argument("--out", help="JSON results (default <build-dir>/bench-memfs.json)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args()
    args.reps = args.reps or (1 if args.quick else 3)
    args.rewrite_seconds = args.rewrite_seconds or (8 if args.quick else 45)
    args.io_mb = args.io_mb or (256 if args.quick else 1024)
    args.out = args.out or os.path.join(args.build_dir, "bench-memfs.json")
    if os.geteuid() != 0:
        log("needs root (FUSE and tmpfs mounts)")
        return 1

    # Ctrl-C must unwind (and clean up) even when started from a shell that ignores SIGINT for
    # background jobs; SIGTERM and SIGHUP become SystemExit through mkdsys.procs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.monotonic()
    bench = Bench(args)
    doc = {
        "config": {"reps": args.reps, "quick": args.quick, "guest_mb": GUEST_MB,
                   "guest_ram_mb": GUEST_RAM_MB, "rewrite_seconds": args.rewrite_seconds,
                   "io_mb": args.io_mb, "guest_variants": {k: v[1] for k, v in
                                                           GUEST_VARIANTS.items()},
                   "io_variants": {k: v[1] for k, v in IO_VARIANTS.items()}},
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release(),
                    "loadavg_start": loadavg(), "git": git_state(),
                    "qemu": subprocess.run([mkdsys.guest.QEMU, "--version"], capture_output=True,
                                           text=True).stdout.splitlines()[0]},
    }
    ok = False
    try:
        log(f"work directory {bench.workdir}")
        bench.snapshot_binaries()
        doc["machine"].update(guest_kernel=bench.image.kernel_release,
                              guest_image=bench.image.key, memfs_sha256=bench.memfs_sha256)
        bench.run()
        ok = True
    except BaseException as error:  # noqa: B036  (report, clean up, then exit non-zero)
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            log(f"interrupted ({type(error).__name__})")
        else:
            log(f"failed: {error}\n{traceback.format_exc()}")
    finally:
        mkdsys.stop_all()
    doc["machine"].update(loadavg_end=loadavg(), seconds=time.monotonic() - started)
    doc["runs"] = {"guest": bench.runs_guest, "io": bench.runs_io}
    doc["complete"] = ok
    if bench.runs_guest or bench.runs_io:
        doc["summary"] = summarize(bench)
        doc.setdefault("machine", {}).setdefault("guest_kernel", "?")
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(doc, f, indent=1)
        print(report(doc["summary"], doc))
        log(f"results in {args.out}" + ("" if ok else " (incomplete)"))
    if ok and not args.keep:
        shutil.rmtree(bench.workdir, ignore_errors=True)
    else:
        log(f"work directory kept: {bench.workdir} (guest logs in logs/, daemon logs in "
            f"<run>/memfs.log)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
