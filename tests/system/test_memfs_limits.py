#!/usr/bin/env python3
"""System test: mkd-memfs's limits and lock-down: large empty RAM files, a second daemon on the
same store or database, a full database disk, the OOM killer, a non-empty mount point.

Part of the system test of mkd-memfs on a real FUSE mount without a guest (the test_memfs_*.py
files; the shared fixture is mkdsys.memfs_case: each test its own daemon, RAM files held open by
writer processes, every call on the mount with a timeout, cleanup by pid and path, the daemon log
scanned for error lines the test did not provoke).

Run: meson test -C build --suite system (sets MKD_BUILD_DIR), or python3 <this file> -v
(MKD_BUILD_DIR defaults to <repo>/build). Needs root (FUSE mount, tmpfs).
"""

import errno
import os
import re
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mkdsys  # noqa: E402
from mkdsys.memfs import Memfs, is_mounted  # noqa: E402
from mkdsys.memfs_case import PAGE, MemfsCase, build_dir, content  # noqa: E402
from mkdsys.ramwriter import RamWriter  # noqa: E402


class MemfsLimitsTest(MemfsCase):
    def test_a_large_empty_ram_file_costs_what_was_written_not_its_size(self):
        fs = self.start_memfs(extra_args=["--max-file-size", "64G"])
        vm = self.new_vm(fs)
        db_before = sum(os.path.getsize(os.path.join(r, f))
                        for r, _, fl in os.walk(fs.db) for f in fl)
        w = self.new_ram(fs, vm, size=64 << 30)  # 64 GiB, as QEMU sizes it, nothing written
        w.write_pages(1000, 3, "few")
        t0 = time.monotonic()
        w.close()
        path = os.path.join(fs.vm_dir(vm), "ram")
        s = self.wait_summary(fs, path, timeout=10, state="stored", record="saved")
        self.assertLess(time.monotonic() - t0, 5.0)  # was 14 s of digesting holes
        self.assertEqual((s["pages"], s["resident"]), (str(16 << 20), "3"))
        db_after = sum(os.path.getsize(os.path.join(r, f)) for r, _, fl in os.walk(fs.db)
                       for f in fl)
        self.assertLess(db_after - db_before, 1 << 20)  # was a 128 MiB digest value
        self.assertEqual(self.read_pages(path, 1000, 3), content("few", 1000 * PAGE, 3 * PAGE))
        # The digests are sparse too (docs/formats.md, version 2) and decode as before.
        doc = self.decode(self.chunks(fs, path, "user.mkd.digests"))
        self.assertEqual((doc["pages"], doc["zero_pages"]), (16 << 20, (16 << 20) - 3))
        # Above the limit: EFBIG, and the log names the limit.
        big = self.new_vm(fs)
        w2 = RamWriter(self, "too-big")
        w2.open(os.path.join(fs.vm_dir(big), "ram"), os.O_RDWR | os.O_CREAT)
        with self.assertRaises(OSError) as cm:
            w2.ftruncate((64 << 30) + PAGE)
        self.assertEqual(cm.exception.errno, errno.EFBIG)
        self.assertRegex(fs.log(), r"refused \(EFBIG\): the largest RAM file is 68719476736 "
                                   r"bytes \(--max-file-size\)")
        self.assertEqual(self.summary(fs, fs.mountpoint)["max_file_size"], str(64 << 30))
        w2.close()

    def test_a_second_daemon_on_the_same_store_or_db_is_refused_and_the_first_keeps_its_pages(self):
        fs = self.start_memfs("a")
        vm = self.new_vm(fs)
        path = self.store_file(fs, vm, writes=((0, 64, "first"),))
        files = sorted(os.listdir(os.path.join(fs.store, vm)))
        for name, shared in (("b", "store"), ("c", "db")):
            other = Memfs(build_dir(), os.path.join(self.workdir, name), host_id="host-a")
            own = (other.store, other.db)
            self.addCleanup(other.destroy)
            setattr(other, shared, getattr(fs, shared))
            try:
                with self.assertRaises(mkdsys.memfs.MemfsError):
                    other.start(timeout=10)
                self.assertNotEqual(other.proc.returncode, 0)
                self.assertRegex(other.log(), rf"--{shared} {re.escape(getattr(fs, shared))} is "
                                 rf"in use by another mkd-memfs \(pid {fs.proc.pid}, mount "
                                 rf"{re.escape(fs.mountpoint)}")
            finally:
                other.stop()
                other.store, other.db = own  # destroy() unmounts its own tmpfs only
            self.assertFalse(is_mounted(other.mountpoint))
        self.assertEqual(sorted(os.listdir(os.path.join(fs.store, vm))), files)
        self.assertEqual(self.summary(fs, path)["state"], "stored")
        self.assertEqual(self.read_pages(path, 0, 64), content("first", 0, 64 * PAGE))

    def test_a_full_db_disk_is_reported_truthfully_and_memfs_recovers_when_space_returns(self):
        # The database on its own small tmpfs, filled up and freed again (cleanup by path).
        db = os.path.join(self.workdir, "a", "db")
        os.makedirs(db)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "mkd-test-db", db], check=True,
                       timeout=30)
        self.addCleanup(subprocess.run, ["umount", "-l", db], check=False, timeout=30)
        ballast = os.path.join(db, "ballast")
        with open(ballast, "wb") as f:
            f.write(b"\xff" * (8 << 20))
        fs = self.start_memfs("a")
        self.assertEqual(fs.db, db)
        vm, vm2 = self.new_vm(fs), self.new_vm(fs)
        kept = self.store_file(fs, vm2, writes=((0, 8, "kept"),))
        w = self.new_ram(fs, vm)
        w.write_pages(0, 100, "full")
        filler = os.path.join(db, "filler")
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\xff" * (1 << 20))
                    f.flush()
            except OSError as e:
                self.assertEqual(e.errno, errno.ENOSPC)
        w.close()  # the VM leaves: its record cannot be written
        path = os.path.join(fs.vm_dir(vm), "ram")
        s = self.wait_summary(fs, path, state="stored", record="failed")
        self.assertEqual(self.summary(fs, fs.mountpoint)["unsaved"], "1")
        self.assertRegex(fs.log(), r"error: VM \S+ block ram incarnation 1: the VM left, but "
                                   r"writing its record to the database failed")
        self.assertEqual(self.read_pages(path, 0, 100), content("full", 0, 100 * PAGE))
        vm3 = self.new_vm(fs)
        self.assertErrno(errno.EIO, os.open, os.path.join(fs.vm_dir(vm3), "ram"),
                         os.O_RDWR | os.O_CREAT)
        self.assertErrno(errno.EIO, os.unlink, kept)
        os.unlink(filler)  # space returns: the record is written, create and rm work again
        os.unlink(ballast)
        self.wait_summary(fs, path, timeout=15, state="stored", record="saved")
        self.assertEqual(self.summary(fs, fs.mountpoint)["unsaved"], "0")
        w3 = self.new_ram(fs, vm3)
        w3.close()
        self.within(os.unlink, kept)
        self.assertFalse(self.within(os.path.exists, kept))
        self.assertRegex(fs.log(), r"record written to the database after all")
        # And what the summary said was stored is stored: it survives a restart.
        fs.stop()
        fs.start()
        s = self.summary(fs, path)
        self.assertEqual((s["state"], s["record"], s["resident"]), ("stored", "saved", "100"))
        self.assertEqual(self.read_pages(path, 0, 100), content("full", 0, 100 * PAGE))
        self.allowed_log += [r"error: VM \S+ block ram incarnation 1: the VM left, but writing",
                             r"error: create \S+/ram:", r"error: unlink \S+/ram:",
                             r"the --db disk \S+ is full"]

    def test_the_daemon_asks_the_oom_killer_to_spare_it_and_says_when_it_cannot(self):
        fs = self.start_memfs()
        with open(f"/proc/{fs.proc.pid}/oom_score_adj") as f:
            value = int(f.read())
        if value != -1000:
            # Lowering it needs CAP_SYS_RESOURCE (not in every container): then it says so,
            # with the value it really has, instead of claiming -1000.
            self.assertRegex(fs.log(), rf"warning: could not set oom_score_adj to -1000 \(.*; it "
                                       rf"is {value}\)")
        else:
            self.assertNotIn("could not set oom_score_adj", fs.log())

    def test_a_non_empty_mount_point_is_refused(self):
        fs = Memfs(build_dir(), os.path.join(self.workdir, "a"), host_id="host-a")
        self.addCleanup(fs.destroy)
        with open(os.path.join(fs.mountpoint, "someone's file"), "w") as f:
            f.write("still here")
        with self.assertRaises(mkdsys.memfs.MemfsError):
            fs.start(timeout=10)
        self.assertEqual(fs.proc.returncode, 2)
        self.assertRegex(fs.log(), rf"error: mount point {re.escape(fs.mountpoint)} is not empty: "
                                   r"mounting over it would hide its files")
        self.assertFalse(is_mounted(fs.mountpoint))
        with open(os.path.join(fs.mountpoint, "someone's file")) as f:
            self.assertEqual(f.read(), "still here")


if __name__ == "__main__":
    unittest.main()
