#!/usr/bin/env python3
"""System test: mkd-memfs against bad input: writes past the end, odd sizes, resizing, a second
writer, malformed arrivals and receive frames, a full page store.

Part of the system test of mkd-memfs on a real FUSE mount without a guest (the test_memfs_*.py
files; the shared fixture is mkdsys.memfs_case: each test its own daemon, RAM files held open by
writer processes, every call on the mount with a timeout, cleanup by pid and path, the daemon log
scanned for error lines the test did not provoke).

Run: meson test -C build --suite system (sets MKD_BUILD_DIR), or python3 <this file> -v
(MKD_BUILD_DIR defaults to <repo>/build). Needs root (FUSE mount, tmpfs).
"""

import errno
import json
import os
import sys
import unittest
import uuid

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from mkdsys.memfs_case import (  # noqa: E402
    GEN_INVALID, PAGE, RECEIVE_PAGES, RECEIVE_ZERO, MemfsCase, MiB, content, receive_frame)
from mkdsys.ramwriter import RamWriter  # noqa: E402


class MemfsBadInputTest(MemfsCase):
    def test_write_past_the_end_is_efbig(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        path = os.path.join(fs.vm_dir(vm), "ram")
        for offset, length in ((16 * MiB, PAGE), (16 * MiB - PAGE, 2 * PAGE), (32 * MiB, 1)):
            with self.assertRaises(OSError) as cm:
                w.pwrite(offset, length, "far")
            self.assertEqual(cm.exception.errno, errno.EFBIG, (offset, length))
        self.assertEqual(self.stat(path).st_size, 16 * MiB)
        self.assertEqual(self.stat(path).st_blocks, 0)
        self.assertEqual(w.pwrite(16 * MiB - PAGE, PAGE, "last"), PAGE)  # the last page is fine
        self.allowed_log.append(r"warning: write \d+\+\d+ to ram: File too large")

    def test_truncate_to_a_size_not_multiple_of_4096_is_einval(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = RamWriter(self, "t")
        path = os.path.join(fs.vm_dir(vm), "ram")
        w.open(path, os.O_RDWR | os.O_CREAT)
        for size in (5000, 4095, PAGE + 1):
            with self.assertRaises(OSError) as cm:
                w.ftruncate(size)
            self.assertEqual(cm.exception.errno, errno.EINVAL, size)
        # Over 1 TiB is over any --max-file-size (default: the host's memory): EFBIG.
        with self.assertRaises(OSError) as cm:
            w.ftruncate((1 << 40) + PAGE)
        self.assertEqual(cm.exception.errno, errno.EFBIG)
        self.assertEqual(self.stat(path).st_size, 0)
        w.ftruncate(16 * MiB)
        self.assertEqual(self.stat(path).st_size, 16 * MiB)
        self.allowed_log.append(r"warning: truncate (\S+/)?ram to \d+ bytes: refused")

    def test_changing_the_size_of_a_sized_file_is_eperm(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        path = os.path.join(fs.vm_dir(vm), "ram")
        for size in (32 * MiB, 8 * MiB, 0):
            with self.assertRaises(OSError) as cm:
                w.ftruncate(size)
            self.assertEqual(cm.exception.errno, errno.EPERM, size)
        self.assertErrno(errno.EPERM, os.truncate, path, 8 * MiB)
        w.ftruncate(16 * MiB)  # the same size: nothing changes, nothing refused
        self.assertEqual(self.stat(path).st_size, 16 * MiB)
        w.write_pages(0, 10, "keep")
        w.close()
        self.wait_summary(fs, path, state="stored")
        # O_TRUNC is a size change too; it must not cold-boot (and so wipe) the stored memory.
        self.assertErrno(errno.EPERM, os.open, path, os.O_RDWR | os.O_TRUNC)
        s = self.summary(fs, path)
        self.assertEqual((s["state"], s["incarnation"], s["resident"]), ("stored", "1", "10"))
        self.assertEqual(self.read_pages(path, 0, 10), content("keep", 0, 10 * PAGE))
        self.allowed_log.append(r"warning: (truncate ram to \d+ bytes|open \S+: O_TRUNC): refused")

    def test_second_writer_open_of_a_live_file_is_ebusy(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        w.write_pages(0, 4, "first")
        path = os.path.join(fs.vm_dir(vm), "ram")
        second = RamWriter(self, "second")
        for flags in (os.O_RDWR, os.O_WRONLY, os.O_RDWR | os.O_CREAT):
            with self.assertRaises(OSError) as cm:
                second.open(path, flags)
            self.assertEqual(cm.exception.errno, errno.EBUSY, flags)
        self.assertErrno(errno.EEXIST, os.open, path, os.O_RDWR | os.O_CREAT | os.O_EXCL)
        self.assertEqual(self.read_pages(path, 0, 4), content("first", 0, 4 * PAGE))  # readers ok
        s = self.summary(fs, path)
        self.assertEqual((s["state"], s["incarnation"]), ("live", "1"))
        self.allowed_log.append(r"warning: open \S+ for writing: refused")

    def test_malformed_arrival_is_einval(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        lineage = str(uuid.uuid4())
        for value in (b"", b"not json", b"[1, 2]", b'{"epoch": 2}',
                      json.dumps({"lineage": lineage}).encode(),
                      json.dumps({"epoch": 0, "lineage": lineage}).encode(),
                      json.dumps({"epoch": 0xFFFFFFFF, "lineage": lineage}).encode(),
                      json.dumps({"epoch": -1, "lineage": lineage}).encode(),
                      json.dumps({"epoch": "2", "lineage": lineage}).encode(),
                      json.dumps({"epoch": 2, "lineage": "not-a-uuid"}).encode(),
                      json.dumps({"epoch": 2, "lineage": str(uuid.UUID(int=0))}).encode(),
                      json.dumps({"epoch": 2, "lineage": lineage, "extra": 1}).encode(),
                      b'{"epoch": 2, "lineage": "' + b"x" * 2000 + b'"}'):
            self.assertErrno(errno.EINVAL, os.setxattr, fs.vm_dir(vm), "user.mkd.arrive", value)
        self.assertErrno(errno.ENODATA, os.getxattr, fs.vm_dir(vm), "user.mkd.arrive")
        # Well-formed but impossible: the VM runs here (EBUSY); commit with nothing pending.
        w = self.new_ram(fs, vm)
        self.assertErrno(errno.EBUSY, os.setxattr, fs.vm_dir(vm), "user.mkd.arrive",
                         json.dumps({"epoch": 2, "lineage": lineage}).encode())
        self.assertErrno(errno.EBUSY, os.setxattr, fs.vm_dir(vm), "user.mkd.commit", b"1")
        self.assertEqual(self.summary(fs, os.path.join(fs.vm_dir(vm), "ram"))["state"], "live")
        w.close()
        self.allowed_log.append(r"warning: setxattr user\.mkd\.(arrive|commit)")

    def test_malformed_receive_frame_is_einval_and_the_mount_keeps_working(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        path = self.store_file(fs, vm, writes=((0, 20, "base"),))  # 4,096 pages
        w = self.arrive(fs, vm, path, epoch=2)
        good = receive_frame(RECEIVE_PAGES, 5, 15, 1, content("good", 5 * PAGE, 15 * PAGE))
        for what, frame in (
                ("bad magic", receive_frame(RECEIVE_PAGES, 5, 1, 1, bytes(PAGE), magic=b"MKDX")),
                ("empty", b""),
                ("truncated header", good[:20]),
                ("truncated data", good[:-1]),
                ("trailing byte", good + b"x"),
                ("16 pages", receive_frame(RECEIVE_PAGES, 5, 16, 1, good[24:])),
                ("kind 2", receive_frame(2, 5, 1, 1, bytes(PAGE))),
                ("invalid generation", receive_frame(RECEIVE_ZERO, 5, 1, GEN_INVALID)),
                ("content with generation 0", receive_frame(RECEIVE_PAGES, 5, 1, 0, bytes(PAGE))),
                ("past the end", receive_frame(RECEIVE_PAGES, 4095, 2, 1, bytes(2 * PAGE))),
                ("zero pages past the end", receive_frame(RECEIVE_ZERO, 4096, 1, 1)),
                ("overflow", receive_frame(RECEIVE_ZERO, 2**64 - 1, 1, 1))):
            with self.subTest(what):
                self.assertErrno(errno.EINVAL, os.setxattr, path, "user.mkd.receive", frame)
        # 16 whole pages do not fit one xattr value: the kernel refuses them before the daemon.
        self.assertErrno(errno.E2BIG, os.setxattr, path, "user.mkd.receive",
                         receive_frame(RECEIVE_PAGES, 5, 16, 1, bytes(16 * PAGE)))
        self.assertIsNone(fs.proc.poll(), "mkd-memfs died")
        self.assertEqual(self.summary(fs, path)["pages_received"], "0")
        self.assertRegex(fs.log(), rf"warning: setxattr user\.mkd\.receive: {vm}/ram: "
                         r"user\.mkd\.receive: bad magic")
        self.assertRegex(fs.log(), rf"warning: setxattr user\.mkd\.receive: {vm}/ram: "
                         r"user\.mkd\.receive: pages 4095\+2 are outside the block of 4096")
        # The same file still takes a good frame, commits and serves it.
        self.setx(path, "user.mkd.receive", good)
        self.setx(fs.vm_dir(vm), "user.mkd.commit", b"1")
        self.assertEqual(self.read_pages(path, 0, 21), content("base", 0, 5 * PAGE) +
                         content("good", 5 * PAGE, 15 * PAGE) + bytes(PAGE))
        w.close()
        self.allowed_log.append(r"warning: setxattr user\.mkd\.receive")

    def test_full_page_store_fails_the_write_and_lost_pages_read_as_eio(self):
        fs = self.start_memfs(store_size="4m")
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        path = os.path.join(fs.vm_dir(vm), "ram")
        written, failed = [], []
        for chunk in range(8):  # 1 MiB each: the 4 MiB store fills up on the way
            try:
                self.assertEqual(w.pwrite(chunk * MiB, MiB, "full"), MiB)
                written.append(chunk)
            except OSError as e:
                self.assertIn(e.errno, (errno.ENOSPC, errno.EIO), e)
                failed.append(chunk)
        self.assertGreaterEqual(len(written), 3, (written, failed))
        self.assertTrue(failed, "the 4 MiB page store took 8 MiB")
        self.assertEqual(written, list(range(len(written))))  # once full, full
        self.assertIsNone(fs.proc.poll(), "mkd-memfs died")
        self.assertRegex(fs.log(), r"error: write \d+\+\d+ to ram: the page store is full")
        s = self.summary(fs, path)
        self.assertEqual((s["state"], s["lost"], s["failed_writes"]),
                         ("live", str(256 * len(failed)), str(len(failed))))
        for chunk in written:
            self.assertEqual(self.read(path, chunk * MiB, MiB), content("full", chunk * MiB, MiB))
        for chunk in failed:
            for page in (0, 100, 255):  # never wrong data, never zeros: an error
                self.assertErrno(errno.EIO, self.read, path, chunk * MiB + page * PAGE, PAGE)
        # Free 1 MiB of the page store; the first lost chunk can then be written again.
        w.punch(0, MiB)
        lost_chunk = failed[0]
        self.assertEqual(w.pwrite(lost_chunk * MiB, MiB, "again"), MiB)
        self.assertEqual(self.read(path, lost_chunk * MiB, MiB),
                         content("again", lost_chunk * MiB, MiB))
        self.assertEqual(self.summary(fs, path)["lost"], str(256 * (len(failed) - 1)))
        for chunk in failed[1:]:
            self.assertErrno(errno.EIO, self.read, path, chunk * MiB, PAGE)
        self.assertEqual(self.sync(path)["epoch"], 1)  # still serving requests
        self.allowed_log.append(r"error: write \d+\+\d+ to ram: the page store is full")

    def test_full_page_store_evicts_stored_memory_to_make_room(self):
        fs = self.start_memfs(store_size="4m")
        vm_old, vm_new = self.new_vm(fs), self.new_vm(fs)
        old = self.store_file(fs, vm_old, writes=((0, 512, "old"),))  # 2 of the 4 MiB
        w = self.new_ram(fs, vm_new)
        w.write_pages(0, 768, "new")  # 3 MiB: fits only if stored memory goes
        path = os.path.join(fs.vm_dir(vm_new), "ram")
        s = self.summary(fs, path)
        # The request that made room succeeded on its retry: it is not a failed write.
        self.assertEqual((s["resident"], s["lost"], s["failed_writes"]), ("768", "0", "0"))
        self.assertEqual(self.read_pages(path, 0, 768), content("new", 0, 768 * PAGE))
        o = self.summary(fs, old)
        self.assertGreaterEqual(int(o["pages_evicted"]), 256)
        self.assertEqual(int(o["resident"]), 512 - int(o["pages_evicted"]))
        gens = self.table(fs, old)
        evicted = self.pages_with(gens, GEN_INVALID)
        self.assertEqual(len(evicted), int(o["pages_evicted"]))
        self.assertErrno(errno.EIO, self.read_pages, old, min(evicted), 1)
        self.assertRegex(fs.log(), r"eviction: \d+ pages of VM " + vm_old)


if __name__ == "__main__":
    unittest.main()
