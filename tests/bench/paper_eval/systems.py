"""The three systems of the evaluation, one interface (used by experiments.py):

  reuse      miyakodori: RAM on mkd-memfs, mkd-migrate with reuse (the default)
  no-reuse   miyakodori with `mkd-migrate --no-reuse`: the same path, every page sent
  stock      QEMU's own migration, RAM on tmpfs (mkdsys.stockvm), the baseline

Each runs in its own two-host lab (mkdsys.Cluster: 1 Gbit/s link) with the same guest image and
the same VM size. A hop returns one dict with the same keys for every system:
  bytes           what the tool counted (mkd-migrate's wire bytes; QEMU's ram.transferred)
  link_bytes      what both hosts' interfaces sent during the hop (TCP/IP, TLS included)
  seconds         from the start of the migration (for mkd-migrate: after the destination's
                  table arrived, its QEMU starting meanwhile; stock: after its destination QEMU
                  was started) until
                  it finished: pre-copy until the VM runs at the destination, post-copy until the
                  last page arrived
  running_seconds from the same start until the VM runs at the destination
  setup_seconds   until the destination can take pages (mkd-migrate: its table arrived; it starts
                  QEMU while pages go, a wait for it at the switchover is in `seconds`; stock
                  starts its destination QEMU before, 0)
  downtime_ms     QEMU's downtime; pause_ms: mkd-migrate's own pause (pre-switchover to continue)
  metadata_bytes  mkd-migrate's bytes that are neither pages nor QEMU's stream (tables, bitmaps,
                  framing)
  dirtied_pages   pages the VM wrote since it last left the destination: those of the source's
                  epoch in the source's table after the hop; None for stock
  changed_pages   with migrate(changed=True), of ours: pages whose content differs between the
                  destination's stored incarnation before the hop (the VM as it left there) and
                  the source's after it (the VM at the switchover), compared page by page;
                  bytes_per_changed_page = bytes / changed_pages
  converged       mkd-migrate's `converged`; stock: completed
"""

import hashlib
import os
import subprocess
import sys
import time
from typing import List, Optional, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
from mkdsys.cluster import Cluster  # noqa: E402
from mkdsys.roundtrip import table_runs  # noqa: E402
from mkdsys.serial import SerialLog  # noqa: E402
from mkdsys.stockvm import StockVm  # noqa: E402

SYSTEMS = ("reuse", "no-reuse", "stock")


class HopFailed(RuntimeError):
    """A migration did not complete."""


class WrongPages(RuntimeError):
    """A stock QEMU pre-copy hop completed, but the destination's memory differs from the
    source's (compared page by page with both ends paused): the run is counted apart and
    repeated, never averaged in (stock QEMU 7.2 under TCG on these machines). `hop` is the
    broken hop's record, for reports that show such runs apart."""

    def __init__(self, message: str, hop: Optional[dict] = None):
        super().__init__(message)
        self.hop = hop or {}


class Ours:
    """miyakodori on a Cluster (reuse on or off)."""

    def __init__(self, cluster: Cluster, reuse: bool):
        self.c = cluster
        self.reuse = reuse
        self.mkd_genstore = os.path.join(cluster.build_dir, "genstore", "mkd-genstore")

    def start(self, i: int, run: str, args: List[str], kernel_args: Sequence[str] = ()) -> None:
        self.c.start_vm(i, run=run, args=args, kernel_args=kernel_args)

    def serial(self, i: int) -> SerialLog:
        return self.c.serial(i)

    def send_line(self, i: int, text: str) -> None:
        self.c.send_line(i, text)

    def migrate(self, src: int, dst: int, postcopy: bool = False, timeout: float = 300,
                extra: Sequence[str] = (), changed: bool = False) -> dict:
        """One hop; `extra`: more mkd-migrate arguments; `changed`: count the pages whose content
        changed since the VM left dst (a return hop; reads both RAM files, a few seconds per
        GiB). The hop's record keeps mkd-migrate's whole report under "report"."""
        self.c.wait_serve_idle(dst)
        left = page_digests(self.c.ram_file(dst)) if changed else None
        before = self.c.link_bytes()
        args = [*([] if self.reuse else ["--no-reuse"]), *(["--postcopy"] if postcopy else []),
                *extra]
        try:
            cp = self.c.migrate(src, dst, *args, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise HopFailed(f"mkd-migrate h{src}->h{dst} {' '.join(args)} did not finish within "
                            f"{timeout:.0f} s (killed)") from None
        link = self.c.link_bytes() - before
        if cp.returncode != 0:
            raise HopFailed(f"mkd-migrate h{src}->h{dst} {' '.join(args)}: {cp.stderr[-3000:]}")
        r = self.c.report(cp)
        dirtied = self.written_on(src, r["epochs"]["source"])
        b = r["bytes"]
        running = r["total_seconds"] - r["setup_seconds"]
        hop = {"bytes": b["wire"], "link_bytes": link, "running_seconds": running,
               "seconds": running, "setup_seconds": r["setup_seconds"],
               "downtime_ms": r["downtime_ms"]["qemu"], "pause_ms": r["downtime_ms"]["ours"],
               "metadata_bytes": b["wire"] - b["pages"] - b["qemu_stream"],
               "page_bytes": b["pages"], "qemu_stream_bytes": b["qemu_stream"],
               "pages_sent": r["pages"]["sent"], "pages_reused": r["pages"]["reused"],
               "pages_total": r["pages"]["total"], "dirtied_pages": dirtied,
               "rounds": len(r["rounds"]), "converged": r["converged"], "mode": r["mode"],
               "throttle_percent": r["throttle"]["max_percent"],
               "report": r}
        if left is not None:
            # written_on waited for the source's file to be stored: it holds the VM as it was at
            # the switchover.
            now = page_digests(self.c.ram_file(src))
            hop["changed_pages"] = sum(1 for a, b in zip(left, now) if a != b)
            hop["bytes_per_changed_page"] = (b["wire"] / hop["changed_pages"]
                                             if hop["changed_pages"] else None)
        if postcopy:
            pc = r["postcopy"]
            hop["seconds"] = running + pc["complete_seconds"]
            hop.update({k: pc[k] for k in ("missing", "fetched", "pushed", "faults",
                                           "fault_median_ms", "fault_p99_ms")})
        return hop

    def written_on(self, src: int, epoch: int) -> int:
        """Pages the VM wrote during its stay on host src: those of the stay's epoch in src's
        table once the source QEMU is gone and the file stored (the destination's table would
        undercount: the VM runs there again and retags the pages it rewrites)."""
        path = self.c.ram_file(src)
        deadline = time.monotonic() + 30
        while self.c.memfs[src].summary(path).get("state") != "stored":
            if time.monotonic() > deadline:
                raise HopFailed(f"the RAM file on h{src} is not stored 30 s after the hop")
            time.sleep(0.1)
        runs = table_runs(self.mkd_genstore, self.c.memfs[src], path)
        return sum(cnt for _, cnt, gen in runs if gen == epoch)


def page_digests(path: str) -> List[bytes]:
    """A 16-byte BLAKE2b digest of every 4 KiB page of a file (read through its mount)."""
    out = []
    with open(path, "rb", buffering=0) as f:
        while True:
            chunk = f.read(256 * 4096)
            if not chunk:
                return out
            out += [hashlib.blake2b(chunk[i:i + 4096], digest_size=16).digest()
                    for i in range(0, len(chunk), 4096)]


class Stock:
    """Stock QEMU on tmpfs in a Cluster's lab."""

    def __init__(self, cluster: Cluster, vm: StockVm):
        self.c = cluster
        self.vm = vm

    def start(self, i: int, run: str, args: List[str], kernel_args: Sequence[str] = ()) -> None:
        self.vm.start(i, run, args, kernel_args)

    def serial(self, i: int) -> SerialLog:
        return self.vm.serial(i)

    def send_line(self, i: int, text: str) -> None:
        self.vm.send_line(i, text)

    def migrate(self, src: int, dst: int, postcopy: bool = False, timeout: float = 300,
                verify: Optional[bool] = None) -> dict:
        """One hop of QEMU's own migration. Pre-copy hops are verified page by page unless
        verify=False (StockVm.migrate: "differing_pages"); WrongPages when pages differ."""
        if verify is None:
            verify = not postcopy
        try:
            hop = self.vm.migrate(src, dst, postcopy=postcopy, timeout=timeout, verify=verify)
        except RuntimeError as e:
            raise HopFailed(str(e)) from e
        if hop.get("differing_pages"):
            raise WrongPages(f"stock QEMU h{src}->h{dst}: {hop['differing_pages']} pages of the "
                             f"destination differ from the source's (hop: {hop})", hop)
        hop.update({"pause_ms": None, "metadata_bytes": None, "dirtied_pages": None,
                    "converged": True})
        return hop


class Lab:
    """Context manager: a fresh two-host lab with `system` ready in it."""

    def __init__(self, build_dir: str, system: str, memory_mib: int, name: str = "eval",
                 serve_args: Sequence[str] = ()):
        if system not in SYSTEMS:
            raise ValueError(f"unknown system {system!r}; one of {SYSTEMS}")
        self.system = system
        self.cluster = Cluster(build_dir, name, hosts=2, memory_mib=memory_mib,
                               store_size=f"{max(2, memory_mib * 2 // 1024 + 1)}g",
                               serve_args=serve_args)
        self.stock: Optional[StockVm] = None

    def __enter__(self):
        self.cluster.__enter__()
        try:
            if self.system == "stock":
                self.stock = StockVm(self.cluster, tmpfs_size=f"{self.cluster.memory_mib + 256}m")
                self.stock.__enter__()
                return Stock(self.cluster, self.stock)
            return Ours(self.cluster, reuse=self.system == "reuse")
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def __exit__(self, *exc) -> None:
        if self.stock is not None:
            self.stock.close()
        self.cluster.close()
