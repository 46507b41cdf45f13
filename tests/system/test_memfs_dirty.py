#!/usr/bin/env python3
"""System test: mkd-memfs's dirty log: user.mkd.sync reports exactly the pages written since the
last sync, through a shared mmap and with write(2).

Part of the system test of mkd-memfs on a real FUSE mount without a guest (the test_memfs_*.py
files; the shared fixture is mkdsys.memfs_case: each test its own daemon, RAM files held open by
writer processes, every call on the mount with a timeout, cleanup by pid and path, the daemon log
scanned for error lines the test did not provoke).

Run: meson test -C build --suite system (sets MKD_BUILD_DIR), or python3 <this file> -v
(MKD_BUILD_DIR defaults to <repo>/build). Needs root (FUSE mount, tmpfs).
"""

import ctypes
import os
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True
libc = ctypes.CDLL(None, use_errno=True)
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from mkdsys import memfs_protocol as mp  # noqa: E402
from mkdsys.memfs_case import FUSE_TIMEOUT, PAGE, MemfsCase, content  # noqa: E402


class MemfsDirtyLogTest(MemfsCase):
    def mapped_ram(self):
        """A new RAM file, mapped and read whole by its writer (a guest that touched all of its
        memory): (memfs, writer, path)."""
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        w.mmap()
        w.mmap_read_all()
        return fs, w, os.path.join(fs.vm_dir(vm), "ram")

    def take(self, path: str, consumer: str) -> dict:
        """One take (a sync without the write-back) for `consumer`: its counts."""
        return mp.parse_sync_reply(self.within(os.getxattr, path, mp.take_name(consumer)))

    def test_sync_reports_exactly_the_pages_written_through_mmap_since_the_last_sync(self):
        fs, w, path = self.mapped_ram()
        self.assertEqual(self.sync(path)["dirty_pages"], 0)
        rounds = [{0, 1, 2, 17, 511, 512, 2048, 4095}, {1, 3, 1000}, set(range(300, 364))]
        for i, pages in enumerate(rounds):
            w.mmap_write(pages, f"r{i}")
            result = self.sync(path)
            self.assertEqual(result["dirty_pages"], len(pages), f"round {i}")
            self.assertEqual(result["epoch"], 1)
            self.assertEqual(self.bitmap(fs, path, "user.mkd.synced"), pages, f"round {i}")
        self.assertEqual(self.sync(path)["dirty_pages"], 0)
        self.assertEqual(self.bitmap(fs, path, "user.mkd.synced"), set())
        everything = set().union(*rounds)
        self.assertEqual(self.bitmap(fs, path, "user.mkd.dirty"), everything)
        gens = self.table(fs, path)
        self.assertEqual(self.pages_with(gens, 1), everything)
        self.assertEqual(self.pages_with(gens, 0), set(range(4096)) - everything)
        # getfattr runs exactly one sync too (it asks for the size first, which must not sync).
        w.mmap_write({5, 6}, "cli")
        cp = subprocess.run(["getfattr", "--only-values", "-n", "user.mkd.sync", path],
                            capture_output=True, text=True, timeout=FUSE_TIMEOUT)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertRegex(cp.stdout, r"^dirty_pages=2 epoch=1 syncs=\d+")
        self.assertEqual(self.read_pages(path, 5, 2), content("cli", 5 * PAGE, 2 * PAGE))

    def test_sync_reports_exactly_the_pages_written_with_write2(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        path = os.path.join(fs.vm_dir(vm), "ram")
        self.assertEqual(w.pwrite(10 * PAGE + 100, 10, "p"), 10)            # inside page 10
        self.assertEqual(w.pwrite(20 * PAGE + 4000, 2 * PAGE, "q"), 2 * PAGE)  # pages 20-22
        w.write_pages(30, 4, "r")                                            # pages 30-33
        expected = {10, 20, 21, 22, 30, 31, 32, 33}
        self.assertEqual(self.sync(path)["dirty_pages"], len(expected))
        self.assertEqual(self.bitmap(fs, path, "user.mkd.synced"), expected)
        self.assertEqual(self.pages_with(self.table(fs, path), 1), expected)
        self.assertEqual(self.sync(path)["dirty_pages"], 0)
        page10 = bytearray(PAGE)
        page10[100:110] = content("p", 10 * PAGE + 100, 10)
        self.assertEqual(self.read_pages(path, 10, 1), bytes(page10))
        self.assertEqual(self.read(path, 20 * PAGE + 4000, 2 * PAGE),
                         content("q", 20 * PAGE + 4000, 2 * PAGE))
        self.assertEqual(self.read_pages(path, 30, 4), content("r", 30 * PAGE, 4 * PAGE))
        self.assertEqual(self.stat(path).st_blocks * 512, len(expected) * PAGE)

    def test_a_take_delivers_what_was_written_back_and_leaves_dirty_pages_for_a_later_sync(self):
        """user.mkd.take.C: a sync without the write-back. mkd-migrate starts its view with one
        before it reads the table; every page written back after it must reach C later."""
        fs, w, path = self.mapped_ram()

        def take(consumer):
            return self.take(path, consumer)

        first = take("mig-a")
        self.assertEqual((first["dirty_pages"], first["new"]), (0, 1))
        written = {3, 4, 5, 900, 4000}
        w.mmap_write(written, "t1")
        # The kernel writes dirty pages back on its own only once they are older than
        # dirty_expire_centisecs (30 s here) or above the dirty limits: these are still dirty.
        with open("/proc/sys/vm/dirty_expire_centisecs") as f:
            expire_s = int(f.read()) / 100
        taken = take("mig-a")
        self.assertEqual(taken["new"], 0)
        if expire_s >= 10:
            self.assertEqual(taken["dirty_pages"], 0, "a take must not write back")
            self.assertEqual(str(self.summary(fs, path)["dirty_since_sync"]), "0")
        # Another consumer's sync writes them back; mig-a's next take has every one of them.
        self.assertEqual(self.sync(path)["dirty_pages"], len(written))
        later = take("mig-a")
        self.assertEqual(later["dirty_pages"] + taken["dirty_pages"], len(written))
        if taken["dirty_pages"] == 0:
            self.assertEqual(self.bitmap(fs, path, mp.synced_name("mig-a")), written)
        self.assertEqual(take("mig-a")["dirty_pages"], 0)
        # Its size query answers the sync bound and takes nothing (getfattr asks it first).
        cp = subprocess.run(["getfattr", "--only-values", "-n", mp.take_name("mig-b"), path],
                            capture_output=True, text=True, timeout=FUSE_TIMEOUT)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertRegex(cp.stdout, r"^dirty_pages=0 epoch=1 syncs=\d+ new=1$")

    def test_writing_back_a_range_then_a_take_delivers_the_dirty_pages_of_that_range(self):
        """mkd-migrate writes the guest's dirty pages back a range at a time with
        sync_file_range(2) on its read-only descriptor and takes each range's pages at once."""
        fs, w, path = self.mapped_ram()
        take = lambda: self.take(path, "mig-r")  # noqa: E731
        take()
        written = {1, 2, 700, 1023, 1024, 1500, 3000, 4095}
        w.mmap_write(written, "r1")
        fd = os.open(path, os.O_RDONLY)
        try:
            flags = 1 | 2 | 4  # SYNC_FILE_RANGE_WAIT_BEFORE | _WRITE | _WAIT_AFTER (linux/fs.h)
            delivered = set()
            for first, count in ((0, 1024), (1024, 1024), (2048, 2048)):
                self.within(libc.sync_file_range, fd, ctypes.c_int64(first * PAGE),
                            ctypes.c_int64(count * PAGE), ctypes.c_uint(flags))
                got = take()["dirty_pages"]
                pages = self.bitmap(fs, path, mp.synced_name("mig-r"))
                self.assertEqual(len(pages), got)
                delivered |= pages
                # Every dirty page of the ranges written back so far was delivered (the kernel
                # may write back more than the range: those come early, never twice).
                done = {p for p in written if p < first + count}
                self.assertLessEqual(done, delivered, f"after pages {first}+{count}")
                self.assertLessEqual(delivered, written)
            self.assertEqual(take()["dirty_pages"], 0)
        finally:
            os.close(fd)


if __name__ == "__main__":
    unittest.main()
