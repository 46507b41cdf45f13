#!/usr/bin/env python3
"""System test: mkd-memfs freeing memory: punched holes and MADV_REMOVE free pages and invalidate
their generations; the budget evicts the least recently left incarnation, never a live VM's pages.

Part of the system test of mkd-memfs on a real FUSE mount without a guest (the test_memfs_*.py
files; the shared fixture is mkdsys.memfs_case: each test its own daemon, RAM files held open by
writer processes, every call on the mount with a timeout, cleanup by pid and path, the daemon log
scanned for error lines the test did not provoke).

Run: meson test -C build --suite system (sets MKD_BUILD_DIR), or python3 <this file> -v
(MKD_BUILD_DIR defaults to <repo>/build). Needs root (FUSE mount, tmpfs).
"""

import errno
import os
import sys
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from mkdsys.memfs_case import GEN_INVALID, PAGE, MemfsCase, content  # noqa: E402


class MemfsFreeingTest(MemfsCase):
    def test_punch_hole_frees_pages_and_invalidates_their_generations(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        path = os.path.join(fs.vm_dir(vm), "ram")
        w.write_pages(0, 64, "h")
        self.assertEqual(self.stat(path).st_blocks * 512, 64 * PAGE)
        self.sync(path)
        w.punch(10 * PAGE, 20 * PAGE)  # pages 10-29
        self.assertEqual(self.stat(path).st_blocks * 512, 44 * PAGE)
        gens = self.table(fs, path)
        self.assertEqual(self.pages_with(gens, GEN_INVALID), set(range(10, 30)))
        self.assertEqual(self.pages_with(gens, 1), set(range(64)) - set(range(10, 30)))
        s = self.summary(fs, path)
        self.assertEqual((s["pages_punched"], s["resident"]), ("20", "44"))
        self.assertEqual(self.sync(path)["dirty_pages"], 20)  # freed pages changed: dirty
        self.assertEqual(self.read_pages(path, 8, 24),
                         content("h", 8 * PAGE, 2 * PAGE) + bytes(20 * PAGE) +
                         content("h", 30 * PAGE, 2 * PAGE))
        # Stored, the freed pages stay invalid: never served, never reused.
        w.close()
        self.wait_summary(fs, path, state="stored")
        self.assertEqual(self.pages_with(self.table(fs, path), GEN_INVALID), set(range(10, 30)))
        self.assertErrno(errno.EIO, self.read_pages, path, 15, 1)
        self.assertEqual(self.read_pages(path, 0, 10), content("h", 0, 10 * PAGE))

    def test_madvise_remove_frees_pages_and_invalidates_their_generations(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        path = os.path.join(fs.vm_dir(vm), "ram")
        w.mmap()
        w.mmap_write(range(64), "m")
        self.assertEqual(self.sync(path)["dirty_pages"], 64)
        self.assertEqual(self.stat(path).st_blocks * 512, 64 * PAGE)
        w.madvise_remove(32 * PAGE, 16 * PAGE)  # pages 32-47
        self.assertEqual(self.stat(path).st_blocks * 512, 48 * PAGE)
        gens = self.table(fs, path)
        self.assertEqual(self.pages_with(gens, GEN_INVALID), set(range(32, 48)))
        self.assertEqual(self.summary(fs, path)["pages_punched"], "16")
        self.assertEqual(self.read_pages(path, 31, 18),
                         content("m", 31 * PAGE, PAGE) + bytes(16 * PAGE) +
                         content("m", 48 * PAGE, PAGE))

    def test_budget_evicts_the_least_recently_left_incarnation_first(self):
        fs = self.start_memfs(extra_args=["--budget", "8M"])
        vm_a, vm_b = self.new_vm(fs), self.new_vm(fs)
        path_a = self.store_file(fs, vm_a, writes=((0, 1536, "a"),))  # 6 MiB
        self.assertEqual(self.summary(fs, path_a)["resident"], "1536")  # within the budget
        time.sleep(0.05)  # B leaves strictly later
        path_b = self.store_file(fs, vm_b, writes=((0, 1536, "b"),))  # 6 MiB: 4 MiB over
        a = self.wait_summary(fs, path_a, resident=512)
        self.assertEqual(a["pages_evicted"], "1024")
        b = self.summary(fs, path_b)
        self.assertEqual((b["resident"], b["pages_evicted"]), ("1536", "0"))
        self.assertEqual(self.summary(fs, fs.mountpoint)["stored_held"], "8MiB")
        gens = self.table(fs, path_a)
        evicted = self.pages_with(gens, GEN_INVALID)
        self.assertEqual(len(evicted), 1024)
        self.assertEqual(self.pages_with(gens, 1), set(range(1536)) - evicted)
        kept = min(set(range(1536)) - evicted)
        self.assertErrno(errno.EIO, self.read_pages, path_a, min(evicted), 1)
        self.assertEqual(self.read_pages(path_a, kept, 1), content("a", kept * PAGE, PAGE))
        self.assertEqual(self.read_pages(path_b, 0, 1536), content("b", 0, 1536 * PAGE))

    def test_budget_never_evicts_pages_of_a_live_vm(self):
        fs = self.start_memfs(extra_args=["--budget", "8M"])
        vm_live, vm_b = self.new_vm(fs), self.new_vm(fs)
        live = self.new_ram(fs, vm_live)
        live.write_pages(0, 3072, "live")  # 12 MiB, above the budget on its own
        live_path = os.path.join(fs.vm_dir(vm_live), "ram")
        path_b = self.store_file(fs, vm_b, writes=((0, 2560, "b"),))  # 10 MiB: 2 MiB over
        self.wait_summary(fs, path_b, resident=2048, pages_evicted=512)
        s = self.summary(fs, live_path)
        self.assertEqual((s["state"], s["resident"], s["pages_evicted"]), ("live", "3072", "0"))
        self.assertEqual(self.pages_with(self.table(fs, live_path), 1), set(range(3072)))
        self.assertEqual(self.read_pages(live_path, 0, 3072), content("live", 0, 3072 * PAGE))


if __name__ == "__main__":
    unittest.main()
