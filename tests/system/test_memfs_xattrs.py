#!/usr/bin/env python3
"""System test: mkd-memfs's user.mkd.* attributes: getfattr dumps, peer tables and reusable pages,
received frames and their generations, digests in every state, unknown and non-mkd attributes.

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
import re
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from mkdsys.memfs_case import (  # noqa: E402
    FUSE_TIMEOUT, GEN_INVALID, PAGE, RECEIVE_PAGES, RECEIVE_ZERO, MemfsCase, MiB, content,
    digests_of, receive_frame, xxh3_64)
from mkdsys.ramwriter import RamWriter  # noqa: E402


class MemfsXattrTest(MemfsCase):
    def test_getfattr_dump_shows_summary_table_and_dirty(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        w.write_pages(0, 3, "g")
        path = os.path.join(fs.vm_dir(vm), "ram")

        def dump(p):
            cp = subprocess.run(["getfattr", "--absolute-names", "-d", "-m", "user.mkd", p],
                                capture_output=True, text=True, timeout=FUSE_TIMEOUT)
            self.assertEqual(cp.returncode, 0, cp.stderr)
            return dict(re.findall(r'^(user\.mkd\.[\w.]+)="(.*)"$', cp.stdout, re.M))

        attrs = dump(path)
        self.assertRegex(attrs.get("user.mkd.summary", ""),
                         rf"^state=live vm={vm} block=ram incarnation=1 epoch=1 .*resident=3 ")
        self.assertRegex(attrs.get("user.mkd.table", ""), r"^chunks=1 bytes=\d+ \(read ")
        self.assertRegex(attrs.get("user.mkd.dirty", ""), r"^chunks=1 bytes=\d+ \(read ")
        self.assertNotIn("user.mkd.sync", attrs)  # a dump must not run syncs
        self.assertRegex(dump(fs.vm_dir(vm)).get("user.mkd.summary", ""),
                         rf"^vm={vm} blocks=ram:live arrival=none$")
        self.assertRegex(dump(fs.mountpoint).get("user.mkd.summary", ""),
                         r"^host=host-a vms=1 live=1 incoming=0 stored=0 ")
        self.assertEqual(self.bitmap(fs, path, "user.mkd.dirty"), {0, 1, 2})

    def test_peer_table_upload_yields_the_reusable_pages(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        path = self.store_file(fs, vm, writes=((0, 200, "e1"),))
        lineage = self.summary(fs, path)["lineage"]
        peer_chunks = self.chunks(fs, path, "user.mkd.table")  # epoch 1: pages 0-199 gen 1
        # The VM comes back (epoch 2), and rewrites pages 150-249.
        self.setx(fs.vm_dir(vm), "user.mkd.arrive",
                  json.dumps({"epoch": 2, "lineage": lineage}).encode())
        w = RamWriter(self, "back")
        w.open(path, os.O_RDWR)
        self.setx(fs.vm_dir(vm), "user.mkd.commit", b"1")
        w.write_pages(150, 100, "e2")
        self.assertErrno(errno.ENODATA, os.getxattr, path, "user.mkd.reusable")
        self.assertNotIn("user.mkd.reusable", self.within(os.listxattr, path))
        for i, chunk in enumerate(peer_chunks):
            self.setx(path, f"user.mkd.peer_table.{i}", chunk)
        self.assertIn("user.mkd.reusable", self.within(os.listxattr, path))
        self.assertEqual(self.bitmap(fs, path, "user.mkd.reusable"), set(range(150)))
        # Against its own current table, every written page is reusable.
        own = self.chunks(fs, path, "user.mkd.table")
        for i, chunk in enumerate(own):
            self.setx(path, f"user.mkd.peer_table.{i}", chunk)
        self.assertEqual(self.bitmap(fs, path, "user.mkd.reusable"), set(range(250)))

    def test_malformed_peer_table_chunk_is_einval(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        ram = self.new_ram(fs, vm, "ram")
        node1 = self.new_ram(fs, vm, "ram-node1")
        ram.write_pages(0, 10, "r")
        node1.write_pages(0, 10, "n")
        path = os.path.join(fs.vm_dir(vm), "ram")
        good = self.chunks(fs, path, "user.mkd.table")
        self.assertEqual(len(good), 1)
        corrupt = bytearray(good[0])
        corrupt[len(corrupt) // 2] ^= 0xFF
        for name, value in (("user.mkd.peer_table.0", b"not a chunk"),
                            ("user.mkd.peer_table.0", b""),
                            ("user.mkd.peer_table.0", bytes(corrupt)),
                            ("user.mkd.peer_table.1", good[0]),      # chunk 0 under name .1
                            ("user.mkd.peer_table.x", good[0])):
            self.assertErrno(errno.EINVAL, os.setxattr, path, name, value)
        # A well-formed table of another block of the same VM is not a peer of this one.
        other = self.chunks(fs, os.path.join(fs.vm_dir(vm), "ram-node1"), "user.mkd.table")
        self.assertErrno(errno.EINVAL, os.setxattr, path, "user.mkd.peer_table.0", other[0])
        self.assertErrno(errno.ENODATA, os.getxattr, path, "user.mkd.reusable")
        self.allowed_log.append(r"warning: setxattr user\.mkd\.peer_table")

    def test_received_frames_are_served_after_commit_with_their_generations(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        path = self.store_file(fs, vm, writes=((0, 100, "base"),))  # 16 MiB, pages 0-99 gen 1
        w = self.arrive(fs, vm, path, epoch=3)
        # The receiver: 15 pages the VM wrote in epoch 2, pages 10-19 it zeroed in epoch 2, pages
        # 30-31 it never wrote (generation 0), and the last page of the block.
        received = content("recv", 200 * PAGE, 15 * PAGE)
        last = content("last", 4095 * PAGE, PAGE)
        for frame in (receive_frame(RECEIVE_PAGES, 200, 15, 2, received),
                      receive_frame(RECEIVE_ZERO, 10, 10, 2),
                      receive_frame(RECEIVE_ZERO, 30, 2, 0),
                      receive_frame(RECEIVE_PAGES, 4095, 1, 2, last)):
            self.setx(path, "user.mkd.receive", frame)
        s = self.summary(fs, path)
        self.assertEqual((s["state"], s["pages_received"]), ("incoming", "16"))
        gens = self.table(fs, path)
        self.assertEqual(self.pages_with(gens, GEN_INVALID),
                         set(range(10, 20)) | {30, 31} | set(range(200, 215)) | {4095},
                         "provisional until the commit")
        self.setx(fs.vm_dir(vm), "user.mkd.commit", b"1")
        s = self.summary(fs, path)
        self.assertEqual((s["state"], s["epoch"]), ("live", "3"))
        gens = self.table(fs, path)
        self.assertEqual(self.pages_with(gens, 1), set(range(10)) | set(range(20, 30)) |
                         set(range(32, 100)))
        self.assertEqual(self.pages_with(gens, 2),
                         set(range(10, 20)) | set(range(200, 215)) | {4095})
        self.assertEqual(self.pages_with(gens, GEN_INVALID), set())
        expected = (content("base", 0, 10 * PAGE) + bytes(10 * PAGE) +
                    content("base", 20 * PAGE, 10 * PAGE) + bytes(2 * PAGE) +
                    content("base", 32 * PAGE, 68 * PAGE) + bytes(100 * PAGE) + received +
                    bytes(PAGE))
        self.assertEqual(self.read_pages(path, 0, 216), expected)
        self.assertEqual(self.read_pages(path, 4095, 1), last)
        w.close()
        self.wait_summary(fs, path, state="stored")
        self.assertEqual(self.read_pages(path, 0, 216), expected)
        self.assertEqual(self.table(fs, path), gens)

    def test_receives_do_not_each_ask_for_attributes_and_the_commit_drops_the_cached_ones(self):
        # With default_permissions the kernel checks permissions on every setxattr and, with
        # expired attributes, asks the daemon for them first: a second round trip per received
        # batch. An incoming file's attributes may be cached for a second (docs/memfs.md); the
        # commit drops them, so stat shows the live file's pages at once.
        fs = self.start_memfs(extra_args=["--debug-fuse"])
        self.allowed_log.append(r"unique: \d+, error: -\d+")  # libfuse's trace of refused calls
        vm = self.new_vm(fs)
        path = self.store_file(fs, vm, writes=((0, 100, "base"),))
        w = self.arrive(fs, vm, path, epoch=3)
        fd = self.within(os.open, path, os.O_RDONLY)  # as mkd-migrate serve writes: by its fd
        try:
            before = fs.run_log().count("opcode: GETATTR")
            for i in range(40):
                self.within(os.setxattr, fd, "user.mkd.receive", receive_frame(
                    RECEIVE_PAGES, 200 + i, 1, 2, content("recv", (200 + i) * PAGE, PAGE)))
            getattrs = fs.run_log().count("opcode: GETATTR") - before
        finally:
            os.close(fd)
        self.assertLess(getattrs, 4, "each receive asked the daemon for the file's attributes")
        self.assertEqual(self.summary(fs, path)["pages_received"], "40")
        self.setx(fs.vm_dir(vm), "user.mkd.commit", b"1")
        self.assertEqual(self.stat(path).st_blocks * 512, 140 * PAGE)
        self.assertEqual(self.read_pages(path, 200, 40), content("recv", 200 * PAGE, 40 * PAGE))
        w.close()

    def test_receive_outside_an_incoming_file_is_ebusy_and_has_no_value(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        path = self.store_file(fs, vm, writes=((0, 10, "st"),))
        frame = receive_frame(RECEIVE_PAGES, 0, 1, 2, content("x", 0, PAGE))
        self.assertErrno(errno.EBUSY, os.setxattr, path, "user.mkd.receive", frame)  # stored
        self.assertErrno(errno.EBUSY, os.setxattr, path, "user.mkd.receive",
                         receive_frame(RECEIVE_ZERO, 0, 1, 2))
        other = self.new_vm(fs)
        w = self.new_ram(fs, other)
        live = os.path.join(fs.vm_dir(other), "ram")
        self.assertErrno(errno.EBUSY, os.setxattr, live, "user.mkd.receive", frame)  # live
        for p in (path, live):
            self.assertErrno(errno.ENODATA, os.getxattr, p, "user.mkd.receive")
            self.assertNotIn("user.mkd.receive", self.within(os.listxattr, p))
        self.assertEqual(self.read_pages(path, 0, 10), content("st", 0, 10 * PAGE))
        self.assertEqual(self.summary(fs, path)["pages_received"], "0")
        self.assertRegex(fs.log(), rf"warning: setxattr user\.mkd\.receive: {vm}/ram: .*not "
                         r"incoming.*set user\.mkd\.arrive")
        w.close()
        self.allowed_log.append(r"warning: setxattr user\.mkd\.receive")

    def test_digests_are_the_xxh3_of_every_page_in_every_state(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm, size=64 * MiB)  # 16,384 pages, 100 with content: 1 chunk
        path = os.path.join(fs.vm_dir(vm), "ram")
        w.write_pages(0, 100, "d1")
        w.write_pages(50, 10, None)  # zeros written: holes
        w.write_pages(9000, 10, "d2")
        self.assertNotIn("user.mkd.digests", self.within(os.listxattr, path))  # costly: by name
        # Sparse (version 2): 8 bytes per page with content, not per page of the file.
        self.assertRegex(self.within(os.getxattr, path, "user.mkd.digests").decode(),
                         r"^chunks=1 bytes=\d{3} \(read user\.mkd\.digests\.0 \.\. "
                         r"user\.mkd\.digests\.0; ")
        zero = xxh3_64(bytes(PAGE))
        self.assertEqual(zero, 0x93d76fe148c689ba)  # docs/formats.md

        def check(state):
            if state == "live":
                self.sync(path)  # the page store catches up with the page cache
            self.assertEqual(self.summary(fs, path)["state"], state)
            chunks = self.chunks(fs, path, "user.mkd.digests")
            self.assertEqual(len(chunks), 1)
            doc = self.decode(chunks)
            self.assertEqual((doc["kind"], doc["vm"], doc["block"], doc["pages"]),
                             ("digests", vm, "ram", 16384))
            digests = digests_of(chunks)
            data = self.read(path, 0, 64 * MiB)
            pages = [data[i:i + PAGE] for i in range(0, len(data), PAGE)]
            self.assertEqual(digests, [xxh3_64(p) for p in pages], state)
            self.assertEqual(doc["zero_pages"], 16384 - 100, state)
            self.assertEqual(digests[55], zero)  # written with zeros: the digest of a hole
            return digests

        live = check("live")
        w.close()
        self.wait_summary(fs, path, state="stored")
        self.assertEqual(check("stored"), live)
        self.arrive(fs, vm, path, epoch=2)
        self.assertEqual(check("incoming"), live)

    def test_unknown_mkd_attribute_is_enodata(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        w.write_pages(0, 1, "u")
        path = os.path.join(fs.vm_dir(vm), "ram")
        for p, name in ((path, "user.mkd.nonsense"), (path, "user.mkd.table.7"),
                        (path, "user.mkd.tablex"), (path, "user.mkd.synced"),
                        (path, "user.other"), (fs.vm_dir(vm), "user.mkd.table"),
                        (fs.vm_dir(vm), "user.mkd.arrive"), (fs.mountpoint, "user.mkd.dirty")):
            self.assertErrno(errno.ENODATA, os.getxattr, p, name)

    def test_setting_a_non_mkd_attribute_is_enotsup(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        path = os.path.join(fs.vm_dir(vm), "ram")
        for p in (path, fs.vm_dir(vm), fs.mountpoint):
            self.assertErrno((errno.ENOTSUP, errno.EOPNOTSUPP), os.setxattr, p, "user.other",
                             b"1")
        self.assertErrno((errno.ENOTSUP, errno.EOPNOTSUPP), os.removexattr, path,
                         "user.mkd.summary")
        # A user.mkd.* name that cannot be set is a bad argument, not a missing feature.
        self.assertErrno(errno.EINVAL, os.setxattr, path, "user.mkd.summary", b"1")
        w.close()
        self.allowed_log.append(r"warning: (setxattr|removexattr) user\.")


if __name__ == "__main__":
    unittest.main()
