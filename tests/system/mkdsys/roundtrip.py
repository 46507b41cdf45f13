"""Round trips of a checker guest between two lab hosts with mkd-migrate (issues 5 and 6).

A 256 MiB guest runs the consistency checker over 64 MB with its RAM on mkd-memfs and migrates
A->B->A->B->A over the lab's 1 Gbit/s link with --verify on every hop, with guest work in
between: the checker rewrites and checks all its 64 MB every 6 s, and each hop starts right after
a sweep ended, so the guest writes little while a hop runs (as in the paper's micro-benchmark,
where the writer stops before the migration back) and the bytes of a return hop measure reuse,
not resends of pages rewritten meanwhile. Each hop must complete with the checker still OK on the
destination (a stale page would show as STALE/CORRUPT within one sweep), the report's accounting
must add up (sent + reused + zero = all pages; page bytes = transfers x 4 KiB; for post-copy,
pages fetched + pushed <= pages missing at the switchover), and every return hop (to a host the
VM ran on before) must put at most 1.05 x (pages the VM wrote since it left that host) x 4 KiB +
1 MiB on the wire.
"""

import json
import os
import sys
import unittest
from typing import List

from . import repo_root
from .cluster import Cluster
from . import memfs_protocol as mp
from .memfs import decode_chunks

PAGE = 4096
CHECKER_MB = 64
SWEEP_INTERVAL_MS = 6000


def build_dir() -> str:
    return os.environ.get("MKD_BUILD_DIR") or str(repo_root() / "build")


def log_dir() -> str:
    d = os.environ.get("MKD_TEST_LOG_DIR") or os.path.join(build_dir(), "meson-logs")
    os.makedirs(d, exist_ok=True)
    return d


def table_runs(mkd_genstore: str, memfs, path: str) -> list:
    """The generation table of a RAM file, as runs [first, count, gen]."""
    return decode_chunks(mkd_genstore, memfs.chunks(path, mp.TABLE))["runs"]


class RoundTripTest(unittest.TestCase):
    """Base of the round-trip tests; a subclass calls round_trips() from its test method."""

    lab_name = "rt"

    def setUp(self):
        self.cluster = Cluster(build_dir(), self.lab_name, hosts=2)
        self.addCleanup(self.cluster.close)
        self.cluster.up()
        self.mkd_genstore = os.path.join(build_dir(), "genstore", "mkd-genstore")

    def wait_checker_ok(self, host: int, sweeps: int = 2) -> int:
        """Waits for `sweeps` new OK lines of the QEMU now running on `host`."""
        serial = self.serials[host]
        sweep = 0
        for _ in range(sweeps):
            sweep = int(serial.wait_for(r"^MKD checker OK sweep=(\d+)$", timeout=90,
                                        fail_on=r"STALE|CORRUPT").group(1))
        return sweep

    def round_trips(self, modes: List[str], log_name: str) -> None:
        """Hops A->B->A->B->..., one per mode: hop n in modes[n-1] ("precopy" or "postcopy")."""
        c = self.cluster
        c.start_vm(0, run="checker",
                   args=["--mb", str(CHECKER_MB), "--sweep-interval-ms", str(SWEEP_INTERVAL_MS)])
        # One reader per QEMU (each truncates its serial log as it starts): new lines only.
        self.serials = {0: c.serial(0)}
        self.serials[0].wait_for(rf"^MKD checker ready mb={CHECKER_MB} ", timeout=90)
        self.wait_checker_ok(0)
        hops = []
        path = [n % 2 for n in range(len(modes) + 1)]
        for n, (src, dst) in enumerate(zip(path, path[1:]), start=1):
            mode = modes[n - 1]
            self.wait_checker_ok(src, sweeps=1)  # a sweep just ended: the guest is quiet now
            cp = c.migrate(src, dst, "--verify", *(["--postcopy"] if mode == "postcopy" else []))
            self.assertEqual(cp.returncode, 0, f"hop {n} h{src}->h{dst} failed:\n{cp.stderr}\n"
                                               f"serve log of h{dst}:\n{c.serve_log(dst)[-3000:]}")
            report = c.report(cp)
            self.assertEqual(report["outcome"], "ok")
            self.assertTrue(report["verified"])
            self.assertEqual(report["mode"], mode)
            pages = report["pages"]
            self.assertEqual(pages["sent"] + pages["reused"] + pages["content"] + pages["zero"],
                             pages["total"])
            b = report["bytes"]
            self.assertEqual(b["pages"], pages["transfers"] * PAGE)
            # Over TCP the kernel says how the sending went (in milliseconds): held back by
            # either side for at most as long as it was sending at all.
            link = report["pipe"]["link"]
            if b["pages"] > 10 << 20:
                self.assertGreater(link["busy"], 0, link)
            self.assertLessEqual(link["receiver_limited"] + link["sender_limited"],
                                 link["busy"] + 1e-6, link)
            z = report["compression"]
            self.assertEqual(z["mode"], "auto")
            if n == 1 and mode == "precopy":
                # A booted guest's memory (kernel, busybox) shrinks: frames went as PAGES_Z, and
                # --verify above says they arrived intact.
                self.assertGreater(z["frames_compressed"], 0, z)
                self.assertLess(z["compressed_bytes"], z["raw_bytes"], z)
            if mode == "postcopy":
                pc = report["postcopy"]
                self.assertLessEqual(pc["fetched"] + pc["pushed"], pc["missing"])
                self.assertGreaterEqual(pc["fault_p99_ms"], pc["fault_median_ms"])
            # What the destination holds now; the pages the VM wrote in its last stay have the
            # source's epoch.
            runs = table_runs(self.mkd_genstore, c.memfs[dst], c.ram_file(dst))
            written_last_stay = sum(cnt for _, cnt, gen in runs if gen == report["epochs"]["source"])
            hop = {"hop": n, "mode": mode, "from": f"h{src}", "to": f"h{dst}", "return": n >= 2,
                   "wire_bytes": b["wire"], "page_bytes": b["pages"],
                   "qemu_stream_bytes": b["qemu_stream"], "pages": pages,
                   "written_last_stay": written_last_stay,
                   "rounds": len(report["rounds"]), "total_seconds": report["total_seconds"],
                   "downtime_ms": report["downtime_ms"], "postcopy": report.get("postcopy"),
                   "compression": z}
            hops.append(hop)
            print("round trip hop: " + json.dumps(hop), file=sys.stderr)
            if n >= 2:  # every hop after the first goes to a host the VM ran on before
                bound = 1.05 * written_last_stay * PAGE + (1 << 20)
                self.assertLessEqual(b["wire"], bound,
                                     f"return hop {n} sent {b['wire']} bytes; bound {bound:.0f}")
                self.assertGreater(pages["reused"], 0)
            # The guest goes on, every page intact, on the destination.
            self.serials[dst] = c.serial(dst)
            self.wait_checker_ok(dst)
        with open(os.path.join(log_dir(), log_name), "w") as f:
            json.dump(hops, f, indent=2)
