#!/usr/bin/env python3
"""System test: mkd-memfs incarnations: a closed RAM file is stored read-only; a returning VM
arrives (incoming), commits or aborts; cold boots, other lives of a VM, several VMs and blocks.

Part of the system test of mkd-memfs on a real FUSE mount without a guest (the test_memfs_*.py
files; the shared fixture is mkdsys.memfs_case: each test its own daemon, RAM files held open by
writer processes, every call on the mount with a timeout, cleanup by pid and path, the daemon log
scanned for error lines the test did not provoke).

Run: meson test -C build --suite system (sets MKD_BUILD_DIR), or python3 <this file> -v
(MKD_BUILD_DIR defaults to <repo>/build). Needs root (FUSE mount, tmpfs).
"""

import errno
import hashlib
import json
import os
import stat
import sys
import time
import unittest
import uuid

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from mkdsys.memfs_case import MiB, PAGE, MemfsCase, content  # noqa: E402
from mkdsys.ramwriter import RamWriter  # noqa: E402


class MemfsIncarnationTest(MemfsCase):
    def test_closing_the_last_writer_stores_the_incarnation_read_only(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        path = os.path.join(fs.vm_dir(vm), "ram")
        w.write_pages(0, 100, "v")
        before = self.summary(fs, path)
        self.assertEqual((before["state"], before["incarnation"], before["epoch"]),
                         ("live", "1", "1"))
        w.close()
        after = self.wait_summary(fs, path, state="stored")
        for key in ("vm", "block", "incarnation", "epoch", "lineage", "pages", "resident"):
            self.assertEqual(after[key], before[key], key)
        self.assertIn("left_unix_ms", after)
        st = self.stat(path)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o400)
        self.assertEqual(st.st_blocks * 512, 100 * PAGE)
        self.assertEqual(self.read_pages(path, 0, 101), content("v", 0, 100 * PAGE) + bytes(PAGE))
        root = self.summary(fs, fs.mountpoint)
        self.assertEqual((root["live"], root["stored"]), ("0", "1"))
        # Nothing changes a stored incarnation: its size, its mode, a read-only descriptor.
        self.assertErrno(errno.EPERM, os.truncate, path, 32 * MiB)
        self.assertErrno(errno.EPERM, os.chmod, path, 0o600)

        def write_readonly():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.pwrite(fd, b"x", 0)
            finally:
                os.close(fd)
        self.assertErrno(errno.EBADF, write_readonly)
        self.assertEqual(self.digest(path), hashlib.sha256(
            content("v", 0, 100 * PAGE) + bytes(16 * MiB - 100 * PAGE)).hexdigest())

    def test_returning_vm_arrives_incoming_refuses_kernel_writes_and_commits_live(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        path = self.store_file(fs, vm, writes=((0, 100, "e1"),))
        stored = self.summary(fs, path)
        arrival = {"epoch": 2, "lineage": stored["lineage"]}
        self.setx(fs.vm_dir(vm), "user.mkd.arrive", json.dumps(arrival).encode())
        self.assertEqual(json.loads(self.within(os.getxattr, fs.vm_dir(vm), "user.mkd.arrive")),
                         arrival)
        self.assertIn("user.mkd.arrive", self.within(os.listxattr, fs.vm_dir(vm)))
        # The destination QEMU opens the file: the stored incarnation becomes the incoming base.
        w = RamWriter(self, "dest")
        w.open(path, os.O_RDWR)
        s = self.summary(fs, path)
        self.assertEqual((s["state"], s["incarnation"], s["lineage"], s["resident"]),
                         ("incoming", str(int(stored["incarnation"]) + 1), stored["lineage"],
                          "100"))
        self.assertEqual(stat.S_IMODE(self.stat(path).st_mode), 0o600)
        # Writes of the kernel (QEMU's own page writes) are refused while the migration runs.
        for i in range(3):
            with self.assertRaises(OSError) as cm:
                w.pwrite(i * PAGE, PAGE, "refused")
            self.assertEqual(cm.exception.errno, errno.EROFS)
        s = self.summary(fs, path)
        self.assertEqual((s["refused_writes"], s["pages_written"]), ("3", "0"))
        self.assertEqual(self.read_pages(path, 0, 100), content("e1", 0, 100 * PAGE))
        self.setx(fs.vm_dir(vm), "user.mkd.commit", b"1")
        s = self.summary(fs, path)
        self.assertEqual((s["state"], s["epoch"], s["incarnation"]), ("live", "2", "2"))
        self.assertErrno(errno.ENODATA, os.getxattr, fs.vm_dir(vm), "user.mkd.arrive")
        self.assertEqual(self.summary(fs, fs.vm_dir(vm))["arrival"], "none")
        # Live in epoch 2: writes are taken and carry generation 2; the base keeps generation 1.
        w.write_pages(50, 100, "e2")
        gens = self.table(fs, path)
        self.assertEqual(self.pages_with(gens, 1), set(range(50)))
        self.assertEqual(self.pages_with(gens, 2), set(range(50, 150)))
        self.assertEqual(self.bitmap(fs, path, "user.mkd.dirty"), set(range(50, 150)))
        w.close()
        s = self.wait_summary(fs, path, state="stored")
        self.assertEqual((s["epoch"], s["incarnation"], s["lineage"]),
                         ("2", "2", stored["lineage"]))
        self.assertEqual(self.read_pages(path, 0, 150),
                         content("e1", 0, 50 * PAGE) + content("e2", 50 * PAGE, 100 * PAGE))

    def test_aborted_arrival_leaves_the_incarnation_stored(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        path = self.store_file(fs, vm, writes=((0, 100, "base"),))
        stored = self.summary(fs, path)
        table_before = self.table(fs, path)
        self.setx(fs.vm_dir(vm), "user.mkd.arrive",
                  json.dumps({"epoch": 2, "lineage": stored["lineage"]}).encode())
        w = RamWriter(self, "dest")
        w.open(path, os.O_RDWR)
        self.assertEqual(self.summary(fs, path)["state"], "incoming")
        self.setx(fs.vm_dir(vm), "user.mkd.abort", b"1")
        s = self.summary(fs, path)
        self.assertEqual((s["state"], s["incarnation"], s["epoch"], s["lineage"]),
                         ("stored", "2", "1", stored["lineage"]))
        self.assertEqual(self.summary(fs, fs.vm_dir(vm))["arrival"], "none")
        # The destination QEMU still has it open: its writes go nowhere.
        with self.assertRaises(OSError) as cm:
            w.pwrite(0, PAGE, "late")
        self.assertEqual(cm.exception.errno, errno.EROFS)
        w.close()
        time.sleep(0.2)
        s = self.summary(fs, path)
        self.assertEqual((s["state"], s["incarnation"]), ("stored", "2"))
        self.assertEqual(stat.S_IMODE(self.stat(path).st_mode), 0o400)
        self.assertEqual(self.table(fs, path), table_before)
        self.assertEqual(self.read_pages(path, 0, 100), content("base", 0, 100 * PAGE))
        self.assertErrno(errno.EBUSY, os.setxattr, fs.vm_dir(vm), "user.mkd.commit", b"1")

    def test_writer_open_of_a_stored_file_without_arrival_is_a_cold_boot(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        path = self.store_file(fs, vm, writes=((0, 100, "old"),))
        stored = self.summary(fs, path)
        w = RamWriter(self, "reboot")
        w.open(path, os.O_RDWR)
        s = self.summary(fs, path)
        self.assertEqual((s["state"], s["epoch"], s["incarnation"], s["resident"]),
                         ("live", "1", str(int(stored["incarnation"]) + 1), "0"))
        self.assertNotEqual(s["lineage"], stored["lineage"])
        self.assertEqual(self.stat(path).st_blocks, 0)
        self.assertEqual(self.read_pages(path, 0, 128), bytes(128 * PAGE))
        self.assertEqual(self.pages_with(self.table(fs, path), 0), set(range(4096)))
        w.write_pages(0, 10, "new")
        w.close()
        s = self.wait_summary(fs, path, state="stored")
        self.assertEqual(self.read_pages(path, 0, 11), content("new", 0, 10 * PAGE) + bytes(PAGE))

    def test_arrival_of_another_life_of_the_vm_starts_empty(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        path = self.store_file(fs, vm, writes=((0, 100, "old"),))
        stored = self.summary(fs, path)
        other = str(uuid.uuid4())
        self.setx(fs.vm_dir(vm), "user.mkd.arrive",
                  json.dumps({"epoch": 3, "lineage": other}).encode())
        w = RamWriter(self, "dest")
        w.open(path, os.O_RDWR)
        s = self.summary(fs, path)
        self.assertEqual((s["state"], s["lineage"], s["resident"], s["incarnation"]),
                         ("incoming", other, "0", str(int(stored["incarnation"]) + 1)))
        self.assertEqual(self.pages_with(self.table(fs, path), 0), set(range(4096)))
        self.assertEqual(self.read_pages(path, 0, 100), bytes(100 * PAGE))

    def test_several_vms_with_several_blocks_keep_their_own_incarnations(self):
        fs = self.start_memfs()
        vms = [self.new_vm(fs) for _ in range(2)]
        writers = {}
        for i, vm in enumerate(vms):
            for j, name in enumerate(("ram", "ram-node1")):
                w = self.new_ram(fs, vm, name, (16 + 16 * j) * MiB)
                w.write_pages(10 * j, 50 + i * 10 + j, f"{vm}/{name}")
                writers[vm, name] = w
        # The first VM leaves; the second keeps running.
        for name in ("ram", "ram-node1"):
            writers[vms[0], name].close()
        for name in ("ram", "ram-node1"):
            self.wait_summary(fs, os.path.join(fs.vm_dir(vms[0]), name), state="stored")
        root = self.summary(fs, fs.mountpoint)
        self.assertEqual((root["vms"], root["live"], root["stored"], root["incoming"]),
                         ("2", "2", "2", "0"))
        self.assertEqual(sorted(self.within(os.listdir, fs.mountpoint)), sorted(vms))
        self.assertEqual(self.summary(fs, fs.vm_dir(vms[0]))["blocks"],
                         "ram:stored,ram-node1:stored")
        self.assertEqual(self.summary(fs, fs.vm_dir(vms[1]))["blocks"], "ram:live,ram-node1:live")
        lineages = set()
        for i, vm in enumerate(vms):
            for j, name in enumerate(("ram", "ram-node1")):
                path = os.path.join(fs.vm_dir(vm), name)
                pages = 50 + i * 10 + j
                s = self.summary(fs, path)
                self.assertEqual((s["vm"], s["block"], s["incarnation"], s["resident"],
                                  s["pages"]),
                                 (vm, name, "1", str(pages), str((16 + 16 * j) * MiB // PAGE)))
                lineages.add((vm, s["lineage"]))
                self.assertEqual(self.read_pages(path, 10 * j, pages),
                                 content(f"{vm}/{name}", 10 * j * PAGE, pages * PAGE))
                self.assertEqual(self.pages_with(self.table(fs, path), 1),
                                 set(range(10 * j, 10 * j + pages)))
        # One lineage per VM: its blocks booted together, in one life (an arrival names one).
        self.assertEqual(len(lineages), 2)
        self.assertEqual({vm for vm, _ in lineages}, set(vms))

    def test_returning_vm_with_several_blocks_reuses_each_stored_block(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        paths = [os.path.join(fs.vm_dir(vm), name) for name in ("ram", "ram-node1")]
        booted = [self.new_ram(fs, vm, os.path.basename(p)) for p in paths]  # one QEMU, cold boot
        for i, (w, p) in enumerate(zip(booted, paths)):
            w.write_pages(0, 40 + i, os.path.basename(p))
        for w in booted:
            w.close()
        stored = [self.wait_summary(fs, p, state="stored") for p in paths]
        self.assertEqual(stored[0]["lineage"], stored[1]["lineage"])
        self.setx(fs.vm_dir(vm), "user.mkd.arrive",
                  json.dumps({"epoch": 2, "lineage": stored[0]["lineage"]}).encode())
        writers = []
        for p in paths:
            writers.append(RamWriter(self, os.path.basename(p)))
            writers[-1].open(p, os.O_RDWR)
        for p, before in zip(paths, stored):
            s = self.summary(fs, p)
            self.assertEqual((s["state"], s["incarnation"], s["lineage"], s["resident"]),
                             ("incoming", "2", before["lineage"], before["resident"]), p)
        self.setx(fs.vm_dir(vm), "user.mkd.commit", b"1")
        for i, p in enumerate(paths):
            self.assertEqual(self.summary(fs, p)["epoch"], "2")
            self.assertEqual(self.read_pages(p, 0, 40 + i),
                             content(os.path.basename(p), 0, (40 + i) * PAGE))


if __name__ == "__main__":
    unittest.main()
