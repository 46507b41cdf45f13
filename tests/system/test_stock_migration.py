#!/usr/bin/env python3
"""System test: stock QEMU pre-copy migration between two lab hosts, RAM on tmpfs, VMs started
with mkd-vm from definition files, the consistency checker running in the guest throughout.

This is the baseline every later comparison is made against (docs/evaluation.md): plain QEMU
migration over the lab's 1 Gbit/s link. The test prints its numbers as a line starting with
"stock migration:" and writes them to $MKD_TEST_LOG_DIR/stock_migration.json (default: the
meson log directory, or /tmp).

Run: meson test -C build --suite system (sets MKD_BUILD_DIR), or python3 <this file> -v.
MKD_DEBUG_APPEND replaces "quiet" on the guest kernel command line (e.g. "loglevel=7" to get the
guest's soft-lockup backtrace on its serial log).
"""

import json
import os
import sys
import time
import unittest
import uuid

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lab"))
import mkdlab  # noqa: E402
import mkdsys  # noqa: E402

MIGRATION_PORT = 4444
MAX_ATTEMPTS = 6


class DestinationBroken(Exception):
    """The destination guest hung or its checker saw a wrong page after a completed stock
    migration: QEMU's own TCG migration misbehaving (docs/qemu-config.md, "Known issue")."""
CHECKER_MB = 64
MEMORY_MIB = 256


def build_dir() -> str:
    return os.environ.get("MKD_BUILD_DIR") or str(mkdsys.repo_root() / "build")


class StockMigrationTest(unittest.TestCase):
    def setUp(self):
        self.mkd_vm = os.path.join(build_dir(), "qemu-config", "mkd-vm")
        self.assertTrue(os.access(self.mkd_vm, os.X_OK), f"{self.mkd_vm} is not built")
        self.image = mkdsys.build_guest_image()
        self.lab = mkdlab.Lab("stock", hosts=2).up()
        self.addCleanup(self.lab.down)  # kills whatever still runs in the hosts, by pid
        self.addCleanup(self.keep_logs)  # runs before the lab goes away
        # For plain QEMU a host's memory file system is a tmpfs on its mount point (memfs later).
        for host in (0, 1):
            mount_dir = self.lab.mount_dir(host)
            self.lab.exec(host, ["mount", "-t", "tmpfs", "-o", "size=1g", "mkd-tmpfs", mount_dir])
            self.addCleanup(self.lab.exec, host, ["umount", "-l", mount_dir], check=False)

    def keep_logs(self, suffix: str = ""):
        """Copies both serial logs next to the test's results (they vanish with the lab)."""
        log_dir = os.environ.get("MKD_TEST_LOG_DIR") or os.path.join(build_dir(), "meson-logs")
        os.makedirs(log_dir, exist_ok=True)
        for host in (0, 1):
            src = self.run_path(host, "serial.log")
            if os.path.exists(src):
                with open(src, "rb") as f, open(
                        os.path.join(log_dir, f"stock_migration.h{host}{suffix}.serial.log"),
                        "wb") as out:
                    out.write(f.read())

    def definition(self, host: int) -> str:
        """Writes host's VM definition (same VM, host's own directories) and returns its path."""
        vm = {
            "uuid": self.vm_uuid,
            "name": "stock",
            "memory_mib": MEMORY_MIB,
            "boot": {
                "kernel": self.image.kernel,
                "initrd": self.image.initrd,
                # The checker rewrites its pages every 500 ms: a dirty rate pre-copy can converge on.
                "append": f"console=ttyS0 {os.environ.get('MKD_DEBUG_APPEND', 'quiet')} panic=-1 mkd.run=checker "
                          f"mkd.args=--mb,{CHECKER_MB},--sweep-interval-ms,500",
            },
            "memory_backing": {"type": "tmpfs", "dir": self.lab.mount_dir(host)},
            "run_dir": os.path.join(self.lab.state_dir(host), "vms"),
        }
        path = os.path.join(self.lab.state_dir(host), f"vm-{self.vm_uuid}.json")
        with open(path, "w") as f:
            json.dump(vm, f, indent=2)
        return path

    def mkd_vm_cmd(self, host: int, *args, timeout: float = 120) -> str:
        cp = self.lab.exec(host, [self.mkd_vm, *args], timeout=timeout, check=False)
        self.assertEqual(cp.returncode, 0, f"mkd-vm {' '.join(args)} on h{host}: "
                                           f"{cp.stdout}{cp.stderr}")
        return cp.stdout

    def run_path(self, host: int, name: str) -> str:
        """A file of the current VM's QEMU on host (QMP socket, serial log, pid file)."""
        return os.path.join(self.lab.state_dir(host), "vms", self.vm_uuid, name)

    def test_checker_stays_ok_across_stock_precopy_at_1gbit(self):
        link_mb_s = self.lab.measure(0, 1)
        # QEMU 7.2 under TCG sometimes delivers a broken destination guest after a completed
        # migration: hung (soft lockup, or silent), or, rarer, with the checker reporting pages
        # from the wrong sweep -- QEMU lost pages the guest dirtied (most likely TCG's dirty
        # tracking race, see docs/qemu-config.md). This test measures QEMU's baseline, not our
        # code: each broken attempt is reported, its logs kept, and the migration tried again
        # with fresh VMs, at most MAX_ATTEMPTS times. The count goes into the results.
        broken = []
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                result = self.migrate_once(attempt)
                break
            except DestinationBroken as e:
                broken.append(str(e))
                print(f"stock migration attempt {attempt}: {e}", file=sys.stderr)
        else:
            self.fail(f"the destination guest was broken after all {MAX_ATTEMPTS} migrations: "
                      f"{broken}")
        result.update(link_mb_s=round(link_mb_s, 1), attempts=attempt, broken_attempts=len(broken),
                      broken=broken)
        print("stock migration: " + json.dumps(result), file=sys.stderr)
        log_dir = os.environ.get("MKD_TEST_LOG_DIR") or os.path.join(build_dir(), "meson-logs")
        os.makedirs(log_dir, exist_ok=True)
        with open(os.path.join(log_dir, "stock_migration.json"), "w") as f:
            json.dump(result, f, indent=2)

    def migrate_once(self, attempt: int) -> dict:
        """Boots the VM on h0, migrates it to h1 with stock pre-copy, checks the guest on h1."""
        self.vm_uuid = str(uuid.uuid4())
        def_a, def_b = self.definition(0), self.definition(1)
        stop_a = lambda: self.lab.exec(0, [self.mkd_vm, "stop", def_a], check=False)  # noqa: E731
        stop_b = lambda: self.lab.exec(1, [self.mkd_vm, "stop", def_b], check=False)  # noqa: E731
        self.addCleanup(stop_a)
        self.addCleanup(stop_b)

        out = self.mkd_vm_cmd(0, "start", def_a)
        self.assertIn("status running", out)
        serial_a = mkdsys.SerialLog(self.run_path(0, "serial.log"))
        serial_a.wait_for(rf"^MKD checker ready mb={CHECKER_MB} ", timeout=90)
        for _ in range(2):
            serial_a.wait_for(r"^MKD checker OK sweep=\d+$", timeout=30, fail_on=r"STALE|CORRUPT")

        out = self.mkd_vm_cmd(1, "start", "--incoming", def_b)
        self.assertIn("status inmigrate", out)

        qmp_b = mkdsys.QmpClient.connect(self.run_path(1, "qmp.sock"))
        self.addCleanup(qmp_b.close)
        uri = f"tcp:{self.lab.address(1)}:{MIGRATION_PORT}"
        qmp_b.execute("migrate-incoming", {"uri": uri})

        qmp_a = mkdsys.QmpClient.connect(self.run_path(0, "qmp.sock"))
        self.addCleanup(qmp_a.close)
        # Let the link, not QEMU's default 128 MiB/s cap, limit the stream.
        qmp_a.execute("migrate-set-parameters", {"max-bandwidth": 1 << 30})
        last_sweep_on_a = int(serial_a.find_all(r"^MKD checker OK sweep=(\d+)$")[-1].group(1))
        started = time.monotonic()
        qmp_a.execute("migrate", {"uri": uri})
        info = {}
        while time.monotonic() - started < 180:
            info = qmp_a.execute("query-migrate")
            if info.get("status") in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.2)
        wall = time.monotonic() - started
        self.assertEqual(info.get("status"), "completed", f"migration did not complete: {info}")

        deadline = time.monotonic() + 30
        while qmp_b.execute("query-status").get("status") != "running":
            self.assertLess(time.monotonic(), deadline, "destination never ran")
            time.sleep(0.2)
        self.assertEqual(qmp_a.execute("query-status").get("status"), "postmigrate")

        # The guest goes on sweeping on B, every page intact: several more full sweeps, no STALE.
        serial_b = mkdsys.SerialLog(self.run_path(1, "serial.log"))
        sweep = 0
        for _ in range(3):
            try:
                sweep = int(serial_b.wait_for(r"^MKD checker OK sweep=(\d+)$", timeout=60,
                                              fail_on=r"STALE|CORRUPT|soft lockup").group(1))
            except mkdsys.SerialTimeout:
                # A hang shows as a soft lockup on the console, or (seen once in a CI run) as no
                # console output at all after the migration; lost pages as a checker verdict.
                verdicts = serial_b.find_all(r"^MKD checker (STALE|CORRUPT).*$")
                how = (f"checker: {verdicts[0].group(0)}" if verdicts
                       else "soft lockup on its console" if serial_b.find_all(r"soft lockup")
                       else "no console output for 60 s")
                self.keep_logs(suffix=f".attempt{attempt}")
                qmp_a.close()
                qmp_b.close()
                stop_a()
                stop_b()
                raise DestinationBroken(f"the destination guest is broken after a completed "
                                        f"migration ({how})")
        self.assertGreater(sweep, last_sweep_on_a)
        self.assertEqual(serial_b.find_all(r"STALE|CORRUPT"), [])

        ram = info.get("ram", {})
        return {
            "vm_memory_mib": MEMORY_MIB,
            "checker_mb": CHECKER_MB,
            "ram_transferred_bytes": ram.get("transferred"),
            "ram_total_bytes": ram.get("total"),
            "ram_duplicate_pages": ram.get("duplicate"),
            "ram_normal_pages": ram.get("normal"),
            "dirty_sync_count": ram.get("dirty-sync-count"),
            "total_time_ms": info.get("total-time"),
            "downtime_ms": info.get("downtime"),
            "setup_time_ms": info.get("setup-time"),
            "wall_s": round(wall, 2),
        }


if __name__ == "__main__":
    unittest.main(verbosity=2)
