#!/usr/bin/env python3
"""System test: a real guest with its RAM on mkd-memfs (issue 4, "done when").

A 256 MiB guest started by mkd-vm (memory_backing "memfs") runs the consistency checker over a
known set of pages (16 MB, every page rewritten each sweep, every page tagged with the checker's
magic, so the host finds them in the RAM file). After a sync, a few sweeps and another sync with
the VM paused, the checker's pages must all be in the dirty set of that sync and have the VM's
epoch in the generation table; the other dirty pages (what the guest kernel touched meanwhile)
must stay few. The daemon's page store must then hold exactly what the guest sees: QEMU's own
view of guest memory (pmemsave) equals the page-store file and the file read through the mount.
When the VM stops, its RAM file becomes a stored incarnation.

Run: meson test -C build --suite system (sets MKD_BUILD_DIR), or python3 <this file> -v.
Numbers go to stderr as a line "memfs guest:" and to $MKD_TEST_LOG_DIR/memfs_guest.json.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mkdsys  # noqa: E402
from mkdsys import memfs_protocol as mp  # noqa: E402
from mkdsys.memfs import Memfs, decode_chunks  # noqa: E402

MEMORY_MIB = 256
CHECKER_MB = 16
CHECKER_MAGIC = b"MKDCHK01"
PAGE = 4096
# Pages other than the checker's that may be dirty in one sync window (about 1.5 s of an idle
# guest kernel: timers, the checker's own stack and page tables, the serial console).
MAX_OTHER_DIRTY = 2048
# Guest-physical 640 KiB..1 MiB is VGA and BIOS ROM in QEMU's view, not the RAM block.
LEGACY_HOLE = (0xA0000, 0x100000)


def build_dir() -> str:
    return os.environ.get("MKD_BUILD_DIR") or str(mkdsys.repo_root() / "build")


def pages_of_runs(runs, gen=None) -> set:
    pages = set()
    for run in runs:
        if gen is None or run[2] == gen:
            pages.update(range(run[0], run[0] + run[1]))
    return pages


class MemfsGuestTest(unittest.TestCase):
    def setUp(self):
        self.mkd_vm = os.path.join(build_dir(), "qemu-config", "mkd-vm")
        self.mkd_genstore = os.path.join(build_dir(), "genstore", "mkd-genstore")
        self.image = mkdsys.build_guest_image()
        self.workdir = tempfile.mkdtemp(prefix="mkd-memfs-guest-")
        self.addCleanup(shutil.rmtree, self.workdir, ignore_errors=True)
        self.fs = Memfs(build_dir(), self.workdir, host_id="host-a", store_size="1g")
        self.addCleanup(self.fs.destroy)
        self.addCleanup(self.keep_log)
        self.fs.start()
        self.vm_uuid = str(uuid.uuid4())
        self.definition = os.path.join(self.workdir, "vm.json")
        with open(self.definition, "w") as f:
            json.dump({
                "uuid": self.vm_uuid,
                "name": "memfs-guest",
                "memory_mib": MEMORY_MIB,
                "boot": {
                    "kernel": self.image.kernel,
                    "initrd": self.image.initrd,
                    "append": "console=ttyS0 quiet panic=-1 mkd.run=checker "
                              f"mkd.args=--mb,{CHECKER_MB},--sweep-interval-ms,300",
                },
                "memory_backing": {"type": "memfs", "dir": self.fs.mountpoint},
                "run_dir": os.path.join(self.workdir, "vms"),
            }, f)
        self.addCleanup(self.mkd_vm_cmd, "stop", self.definition, check=False)

    def keep_log(self):
        log_dir = os.environ.get("MKD_TEST_LOG_DIR") or os.path.join(build_dir(), "meson-logs")
        os.makedirs(log_dir, exist_ok=True)
        shutil.copy(self.fs.log_path, os.path.join(log_dir, "memfs_guest.memfs.log"))
        serial = self.run_path("serial.log")
        if os.path.exists(serial):
            shutil.copy(serial, os.path.join(log_dir, "memfs_guest.serial.log"))

    def run_path(self, name: str) -> str:
        return os.path.join(self.workdir, "vms", self.vm_uuid, name)

    def mkd_vm_cmd(self, *args, check=True) -> str:
        cp = subprocess.run([self.mkd_vm, *args], capture_output=True, text=True, timeout=180)
        if check:
            self.assertEqual(cp.returncode, 0, f"mkd-vm {' '.join(args)}: {cp.stdout}{cp.stderr}")
        return cp.stdout

    def sync(self, ram: str) -> dict:
        return mp.parse_sync_reply(os.getxattr(ram, mp.SYNC).decode())

    def test_guest_writes_are_dirty_with_the_epoch_and_the_store_holds_what_the_guest_sees(self):
        started = time.monotonic()
        out = self.mkd_vm_cmd("start", self.definition)
        self.assertIn("status running", out)
        serial = mkdsys.SerialLog(self.run_path("serial.log"))
        serial.wait_for(rf"^MKD checker ready mb={CHECKER_MB} ", timeout=120)
        boot_s = time.monotonic() - started
        serial.wait_for(r"^MKD checker OK sweep=\d+$", timeout=30, fail_on=r"STALE|CORRUPT")

        ram = os.path.join(self.fs.vm_dir(self.vm_uuid), "ram")
        summary = self.fs.summary(ram)
        self.assertEqual(summary["state"], "live")
        epoch = int(summary["epoch"])
        self.assertEqual(epoch, 1, "a cold boot is epoch 1")

        # Sync, let the checker rewrite all its pages twice, pause the VM, sync again.
        self.sync(ram)
        for _ in range(2):
            serial.wait_for(r"^MKD checker OK sweep=\d+$", timeout=30, fail_on=r"STALE|CORRUPT")
        qmp = mkdsys.QmpClient.connect(self.run_path("qmp.sock"))
        self.addCleanup(qmp.close)
        qmp.execute("stop")
        second = self.sync(ram)
        dirty = pages_of_runs(decode_chunks(self.mkd_genstore,
                                            self.fs.chunks(ram, mp.SYNCED))["runs"])
        self.assertEqual(len(dirty), second["dirty_pages"])

        # The checker's pages, found by their tag in the daemon's page store.
        summary = self.fs.summary(ram)
        store_file = os.path.join(self.fs.store, self.vm_uuid, f"ram.{summary['incarnation']}")
        with open(store_file, "rb") as f:
            store = f.read()
        self.assertEqual(len(store), MEMORY_MIB << 20)
        checker = {p for p in range(len(store) // PAGE)
                   if store[p * PAGE:p * PAGE + len(CHECKER_MAGIC)] == CHECKER_MAGIC}
        self.assertEqual(len(checker), (CHECKER_MB << 20) // PAGE,
                         "every checker page is in the page store")
        self.assertEqual(checker - dirty, set(), "every page the checker rewrote is dirty")
        others = dirty - checker
        self.assertLessEqual(len(others), MAX_OTHER_DIRTY,
                             f"{len(others)} pages besides the checker's were dirty")

        table = decode_chunks(self.mkd_genstore, self.fs.chunks(ram, mp.TABLE))
        self.assertEqual(table["epoch"], epoch)
        self.assertEqual(checker - pages_of_runs(table["runs"], gen=epoch), set(),
                         "the checker's pages have the VM's epoch")

        # What the guest sees (QEMU's view of guest-physical memory) is what the store holds,
        # and what a reader of the file through the mount gets.
        dump = os.path.join(self.workdir, "guest.mem")
        qmp.execute("pmemsave", {"val": 0, "size": MEMORY_MIB << 20, "filename": dump})
        with open(dump, "rb") as f:
            guest = f.read()
        with open(ram, "rb") as f:
            through_mount = f.read()
        lo, hi = LEGACY_HOLE
        self.assertTrue(guest[:lo] == store[:lo] and guest[hi:] == store[hi:],
                        "the page store differs from the guest's memory")
        self.assertTrue(through_mount == store, "reading the file differs from the page store")

        qmp.execute("cont")
        serial.wait_for(r"^MKD checker OK sweep=\d+$", timeout=30, fail_on=r"STALE|CORRUPT")
        qmp.close()
        self.mkd_vm_cmd("stop", self.definition)
        deadline = time.monotonic() + 30
        while self.fs.summary(ram)["state"] != "stored":
            self.assertLess(time.monotonic(), deadline, "the RAM file never became stored")
            time.sleep(0.2)
        stored = self.fs.summary(ram)
        self.assertEqual(os.stat(ram).st_mode & 0o777, 0o400)

        result = {
            "memory_mib": MEMORY_MIB, "checker_mb": CHECKER_MB,
            "boot_to_checker_s": round(boot_s, 2),
            "dirty_in_window": len(dirty), "checker_pages": len(checker),
            "other_dirty_pages": len(others), "stored_resident_pages": int(stored["resident"]),
            "writes": int(stored["writes"]), "pages_written": int(stored["pages_written"]),
        }
        print("memfs guest: " + json.dumps(result), file=sys.stderr)
        log_dir = os.environ.get("MKD_TEST_LOG_DIR") or os.path.join(build_dir(), "meson-logs")
        os.makedirs(log_dir, exist_ok=True)
        with open(os.path.join(log_dir, "memfs_guest.json"), "w") as f:
            json.dump(result, f, indent=2)
        bad = [l for l in self.fs.log().splitlines() if " error: " in l or " critical: " in l]
        self.assertEqual(bad, [], "mkd-memfs logged errors")


if __name__ == "__main__":
    unittest.main()
