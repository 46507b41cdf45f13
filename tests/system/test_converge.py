#!/usr/bin/env python3
"""System test: auto-converge (issue 14). A guest that dirties memory faster than the link carries
it is slowed down (its vCPU threads' cgroup cpu quota) until pre-copy converges, and never stays
slowed down: not after the migration, not after mkd-migrate is killed while it throttles.

A 256 MiB guest whose page writer rewrites every byte of 16 MB, pass after pass, as fast as it
can; the link is capped at 32 MB/s with --bandwidth, so the guest outruns it by far. (Rewriting
whole pages makes the guest's dirtying cost CPU, so that taking CPU away slows it down: a writer
that touches 8 bytes a page still dirtied all 4,096 pages every round at 99 %.) The throttle starts at 50 % and rises by 20
(--max-throttle 99).
  (1) mkd-migrate h0 -> h1 is SIGKILLed once the throttle group (cpu cgroup
      mkd-throttle-<uuid>) holds the vCPU threads: the guest runs on at h0, still throttled, and
      `mkd-migrate recover` moves the threads out and removes the group;
  (2) mkd-migrate h0 -> h1 --verify: it converges (downtime within the budget), the report says
      how much it slowed the guest, every page matches, the group is gone and the page writer
      goes on at h1.
The reports go to stderr ("converge:") and to $MKD_TEST_LOG_DIR/converge.json.

Run: meson test -C build converge, or python3 <this file> -v. Needs root and the cgroup v1 cpu
controller (/sys/fs/cgroup/cpu); skipped without it.
"""

import json
import os
import signal
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkdsys.cluster import Cluster  # noqa: E402
from mkdsys.roundtrip import build_dir, log_dir  # noqa: E402

CPU_HIERARCHY = "/sys/fs/cgroup/cpu"
PASS = r"^MKD pagewriter rewrite pass="  # one line per pass over the 16 MB
THROTTLE = ["--bandwidth", "32M", "--throttle-initial", "50", "--throttle-step", "20",
            "--max-throttle", "99", "--max-rounds", "60"]


def throttle_groups(vm_uuid: str) -> list:
    """Directories of the VM's throttle group anywhere in the cpu hierarchy."""
    name = f"mkd-throttle-{vm_uuid}"
    return [root for root, _, _ in os.walk(CPU_HIERARCHY) if os.path.basename(root) == name]


def thread_cgroups(pid: int) -> dict:
    """tid -> cpu cgroup path of every thread of process pid."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/cgroup") as f:
                for line in f:
                    _, controllers, path = line.rstrip("\n").split(":", 2)
                    if "cpu" in controllers.split(","):
                        out[int(tid)] = path
        except FileNotFoundError:
            pass
    return out


class ConvergeTest(unittest.TestCase):
    def test_throttle_converges_and_is_always_lifted(self):
        if os.geteuid() != 0 or not os.path.exists(f"{CPU_HIERARCHY}/cpu.cfs_quota_us"):
            self.skipTest("needs root and the cgroup v1 cpu controller")
        reports = {}
        with Cluster(build_dir(), "cvg", hosts=2, memory_mib=256) as c:
            c.start_vm(0, run="pagewriter",
                       args=["--mb", "16", "--rewrite-passes", "1000000",
                             "--rewrite-seconds", "1000000"])
            c.serial(0).wait_for(PASS, timeout=180)
            with open(c.run_path(0, "qemu.pid")) as f:
                qemu = int(f.read().strip())
            before = thread_cgroups(qemu)

            # (1) killed while throttling: the leftover group is released by `recover`.
            argv = [c.mkd_migrate, c.definition(0), "--to", c.lab.host_id(1), "--address",
                    f"{c.lab.address(1)}:7420", "--tls-dir", c.ca_dir, "--host-id",
                    c.lab.host_id(0), "--json", *THROTTLE]
            p = c.lab.popen(0, argv, stdout=open(os.devnull, "w"), stderr=open(os.devnull, "w"))
            deadline = time.monotonic() + 120
            groups = []
            while time.monotonic() < deadline and p.poll() is None:
                groups = [g for g in throttle_groups(c.vm_uuid)
                          if open(os.path.join(g, "tasks")).read().strip()]
                if groups:
                    break
                time.sleep(0.2)
            self.assertTrue(groups, "the throttle never engaged (or mkd-migrate ended first)")
            with open(os.path.join(groups[0], "cpu.cfs_quota_us")) as f:
                self.assertGreater(int(f.read()), 0, "the group has no quota")
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=30)
            self.assertTrue(throttle_groups(c.vm_uuid), "the killed run left no group?")
            c.wait_no_qemu(1, timeout=60)
            c.wait_serve_idle(1)
            out = c.lab.exec(0, [c.mkd_migrate, "recover", c.definition(0)], check=False)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            self.assertIn("leftover throttle", out.stdout + out.stderr)
            self.assertEqual(throttle_groups(c.vm_uuid), [])
            after = thread_cgroups(qemu)
            for tid, path in after.items():
                self.assertNotIn("mkd-throttle", path, f"thread {tid} still throttled")
                if tid in before:
                    self.assertEqual(path, before[tid], f"thread {tid} not back where it was")
            self.assertEqual(c.qemu_status(0), "running")
            serial = c.serial(0)
            serial.cursor = len(serial.text())
            serial.wait_for(PASS, timeout=60)  # it goes on

            # (2) the whole migration with the throttle: converged, verified, lifted.
            cp = c.migrate(0, 1, "--verify", *THROTTLE, timeout=600)
            self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])
            r = c.report(cp)
            reports["migration"] = r
            print(f"converge: {json.dumps(r['throttle'])} rounds={len(r['rounds'])} "
                  f"downtime_ms={r['downtime_ms']} total={r['total_seconds']:.2f}",
                  file=sys.stderr)
            self.assertTrue(r["verified"])
            self.assertTrue(r["converged"], json.dumps(r["rounds"]))
            self.assertGreater(r["throttle"]["max_percent"], 0)
            self.assertGreaterEqual(r["throttle"]["steps"], 1)
            self.assertEqual(r["throttle"]["error"], "")
            self.assertTrue(any(x["throttle_percent"] > 0 for x in r["rounds"]))
            self.assertEqual(throttle_groups(c.vm_uuid), [])
            c.serial(1).wait_for(PASS, timeout=60)
        with open(os.path.join(log_dir(), "converge.json"), "w") as f:
            json.dump(reports, f, indent=1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
