#!/usr/bin/env python3
"""System test: mkd-memfs files and pages: VM directories named by UUID, RAM file sizes and
resident pages in stat/du/ls, never-written pages read as zeros, written pages stored and all-zero
pages not, reads served from the page cache without a request to the daemon.

Part of the system test of mkd-memfs on a real FUSE mount without a guest (the test_memfs_*.py
files; the shared fixture is mkdsys.memfs_case: each test its own daemon, RAM files held open by
writer processes, every call on the mount with a timeout, cleanup by pid and path, the daemon log
scanned for error lines the test did not provoke).

Run: meson test -C build --suite system (sets MKD_BUILD_DIR), or python3 <this file> -v
(MKD_BUILD_DIR defaults to <repo>/build). Needs root (FUSE mount, tmpfs).
"""

import errno
import os
import stat
import subprocess
import sys
import unittest
import uuid

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from mkdsys.memfs_case import FUSE_TIMEOUT, MiB, PAGE, MemfsCase, content  # noqa: E402


class MemfsFilesTest(MemfsCase):
    def test_vm_directory_must_be_named_by_lower_case_uuid(self):
        fs = self.start_memfs()
        vm = str(uuid.uuid4())
        for bad in ("not-a-uuid", vm.upper(), vm.replace("-", ""), "ram"):
            self.assertErrno(errno.EINVAL, os.mkdir, os.path.join(fs.mountpoint, bad))
        self.within(os.mkdir, fs.vm_dir(vm))
        self.assertErrno(errno.EEXIST, os.mkdir, fs.vm_dir(vm))
        self.assertEqual(self.within(os.listdir, fs.mountpoint), [vm])
        self.assertTrue(stat.S_ISDIR(self.stat(fs.vm_dir(vm)).st_mode))
        # Nothing but VM directories at the top, nothing but RAM files in them.
        self.assertErrno(errno.EPERM, os.mkdir, os.path.join(fs.vm_dir(vm), "sub"))
        self.assertErrno(errno.EPERM, os.open, os.path.join(fs.mountpoint, "ram"),
                         os.O_RDWR | os.O_CREAT)
        self.assertErrno(errno.EINVAL, os.open, os.path.join(fs.vm_dir(vm), "bad name"),
                         os.O_RDWR | os.O_CREAT)
        self.assertErrno(errno.EPERM, os.rename, fs.vm_dir(vm),
                         os.path.join(fs.mountpoint, str(uuid.uuid4())))
        s = self.summary(fs, fs.vm_dir(vm))
        self.assertEqual((s["vm"], s["blocks"], s["arrival"]), (vm, "none", "none"))
        self.within(os.rmdir, fs.vm_dir(vm))
        self.assertEqual(self.within(os.listdir, fs.mountpoint), [])

    def test_ram_files_show_their_size_and_resident_pages_in_stat_du_and_ls(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        ram = self.new_ram(fs, vm, "ram", 16 * MiB)
        node1 = self.new_ram(fs, vm, "ram-node1", 32 * MiB)
        ram.write_pages(0, 10, "a")
        node1.write_pages(1000, 100, "b")
        ram_path, node1_path = (os.path.join(fs.vm_dir(vm), n) for n in ("ram", "ram-node1"))
        for path, size, pages in ((ram_path, 16 * MiB, 10), (node1_path, 32 * MiB, 100)):
            st = self.stat(path)
            self.assertEqual(st.st_size, size)
            self.assertEqual(st.st_blocks * 512, pages * PAGE, f"st_blocks of {path}")
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)  # live
            du = subprocess.run(["du", "-B4096", path], capture_output=True, text=True,
                                timeout=FUSE_TIMEOUT)
            self.assertEqual(du.returncode, 0, du.stderr)
            self.assertEqual(du.stdout.split()[0], str(pages), f"du of {path}")
            s = self.summary(fs, path)
            self.assertEqual((s["resident"], s["pages"]), (str(pages), str(size // PAGE)))
        ls = subprocess.run(["ls", "-l", fs.vm_dir(vm)], capture_output=True, text=True,
                            timeout=FUSE_TIMEOUT)
        self.assertEqual(ls.returncode, 0, ls.stderr)
        listed = {line.split()[-1]: line.split()[4] for line in ls.stdout.splitlines()[1:]}
        self.assertEqual(listed, {"ram": str(16 * MiB), "ram-node1": str(32 * MiB)})
        self.assertEqual(sorted(self.within(os.listdir, fs.vm_dir(vm))), ["ram", "ram-node1"])
        s = self.summary(fs, fs.vm_dir(vm))
        self.assertEqual(s["blocks"], "ram:live,ram-node1:live")

    def test_never_written_pages_read_as_zeros_and_take_no_memory(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        path = os.path.join(fs.vm_dir(vm), "ram")
        self.assertEqual(self.read(path, 0, 16 * MiB), bytes(16 * MiB))
        w.mmap()
        self.assertEqual(w.mmap_read_all(), 0)  # every page faulted in through the mapping
        self.assertEqual(self.stat(path).st_blocks, 0)
        self.assertEqual(self.summary(fs, path)["resident"], "0")
        w.close()
        self.wait_summary(fs, path, state="stored")
        self.assertEqual(self.read(path, 0, 16 * MiB), bytes(16 * MiB))
        self.assertEqual(self.stat(path).st_blocks, 0)
        self.assertEqual(self.pages_with(self.table(fs, path), 0), set(range(4096)))

    def test_written_pages_are_stored_and_all_zero_pages_are_not(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        path = os.path.join(fs.vm_dir(vm), "ram")
        w.write_pages(0, 8, "x")      # content
        w.write_pages(8, 8, None)     # zeros
        self.assertEqual(self.stat(path).st_blocks * 512, 8 * PAGE)
        w.mmap()
        w.mmap_write(range(100, 104), "y")
        w.mmap_write(range(200, 204), None)
        self.sync(path)
        self.assertEqual(self.stat(path).st_blocks * 512, 12 * PAGE)
        w.write_pages(0, 4, None)     # content overwritten with zeros: freed
        self.assertEqual(self.stat(path).st_blocks * 512, 8 * PAGE)
        s = self.summary(fs, path)
        self.assertEqual((s["resident"], s["pages_written"], s["zero_pages_written"]),
                         ("8", "12", "16"))
        self.assertEqual(self.read_pages(path, 0, 16), bytes(4 * PAGE) + content(
            "x", 4 * PAGE, 4 * PAGE) + bytes(8 * PAGE))
        self.assertEqual(self.read_pages(path, 100, 4), content("y", 100 * PAGE, 4 * PAGE))
        self.assertEqual(self.read_pages(path, 200, 4), bytes(4 * PAGE))
        # Written pages carry the epoch even when their content is zero (the guest wrote them).
        gens = self.table(fs, path)
        written = set(range(16)) | set(range(100, 104)) | set(range(200, 204))
        self.assertEqual(self.pages_with(gens, 1), written)

    def test_reads_of_a_ram_file_are_served_from_the_page_cache_without_asking_the_daemon(self):
        # mkd-migrate reads the pages it sends with pread(2). Without the kernel's
        # auto_inval_data (memfs turns it off) a read within the file asks the daemon nothing;
        # with it, every read first fetched the attributes (attribute timeout 0): one round trip
        # per page. The reads still see the guest's current content: the page cache.
        fs = self.start_memfs(extra_args=["--debug-fuse"])
        self.allowed_log.append(r"unique: \d+, error: -\d+")  # libfuse's trace of refused calls
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        path = os.path.join(fs.vm_dir(vm), "ram")
        w.write_pages(0, 8, "x")
        w.mmap()
        w.mmap_write(range(100, 104), "y")  # in the page cache only: not written back yet

        def getattrs() -> int:
            return fs.run_log().count("opcode: GETATTR")

        fd = self.within(os.open, path, os.O_RDONLY)
        try:
            before = getattrs()
            pages = [self.within(os.pread, fd, PAGE, (i % 8) * PAGE) for i in range(40)]
            pages += [self.within(os.pread, fd, PAGE, p * PAGE) for p in range(100, 104)]
            after = getattrs()
        finally:
            os.close(fd)
        self.assertLess(after - before, 4, "reads asked the daemon for the file's attributes")
        self.assertEqual(pages[:40], [content("x", (i % 8) * PAGE, PAGE) for i in range(40)])
        self.assertEqual(b"".join(pages[40:]), content("y", 100 * PAGE, 4 * PAGE))


if __name__ == "__main__":
    unittest.main()
