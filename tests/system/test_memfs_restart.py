#!/usr/bin/env python3
"""System test: mkd-memfs restarted and stopped: after kill -9 stored incarnations are recovered
and live ones dropped; SIGTERM unmounts when no file is open, and is refused until repeated when
one is.

Part of the system test of mkd-memfs on a real FUSE mount without a guest (the test_memfs_*.py
files; the shared fixture is mkdsys.memfs_case: each test its own daemon, RAM files held open by
writer processes, every call on the mount with a timeout, cleanup by pid and path, the daemon log
scanned for error lines the test did not provoke).

Run: meson test -C build --suite system (sets MKD_BUILD_DIR), or python3 <this file> -v
(MKD_BUILD_DIR defaults to <repo>/build). Needs root (FUSE mount, tmpfs).
"""

import json
import os
import signal
import sys
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from mkdsys.logwait import LogMark  # noqa: E402
from mkdsys.memfs import is_mounted  # noqa: E402
from mkdsys.memfs_case import MiB, PAGE, MemfsCase, content  # noqa: E402
from mkdsys.ramwriter import RamWriter  # noqa: E402


class MemfsRestartTest(MemfsCase):
    def test_restart_after_kill9_recovers_stored_incarnations_and_drops_live_ones(self):
        fs = self.start_memfs()
        vm1, vm2, vm3 = (self.new_vm(fs) for _ in range(3))
        paths = [self.store_file(fs, vm1, "ram", writes=((0, 300, "1r"),)),
                 self.store_file(fs, vm1, "ram-node1", 32 * MiB, writes=((5, 50, "1n"),))]
        w2 = self.new_ram(fs, vm2)
        w2.write_pages(0, 200, "2r")
        w2.punch(50 * PAGE, 10 * PAGE)  # invalid generations survive too
        w2.close()
        paths.append(os.path.join(fs.vm_dir(vm2), "ram"))
        self.wait_summary(fs, paths[-1], state="stored")
        live = self.new_ram(fs, vm3)  # running when the daemon dies
        live.write_pages(0, 20, "3r")
        keys = ("state", "vm", "block", "incarnation", "epoch", "lineage", "pages", "resident",
                "left_unix_ms")
        before = {}
        for p in paths:
            s = self.summary(fs, p)
            before[p] = ({k: s.get(k) for k in keys}, self.decode(
                self.chunks(fs, p, "user.mkd.table")), self.content_view(fs, p))
        self.assertEqual(before[paths[2]][2][1], set(range(50, 60)))  # punched: EIO
        live_store_file = os.path.join(fs.store, vm3, "ram.1")
        self.assertTrue(os.path.exists(live_store_file))

        fs.kill9()
        self.assertEqual(fs.proc.returncode, -signal.SIGKILL)
        live.stop()
        fs.stop()  # nothing left to stop: closes the log, checks the mount is gone
        fs.start()
        self.assertEqual(sorted(self.within(os.listdir, fs.mountpoint)), sorted([vm1, vm2]))
        self.assertFalse(self.within(os.path.exists, fs.vm_dir(vm3)))
        self.assertFalse(os.path.exists(live_store_file))
        for p in paths:
            s = self.summary(fs, p)
            summary, table, digest = before[p]
            self.assertEqual({k: s.get(k) for k in keys}, summary, p)
            self.assertEqual(self.decode(self.chunks(fs, p, "user.mkd.table")), table, p)
            self.assertEqual(self.content_view(fs, p), digest, p)
        self.assertEqual(self.summary(fs, fs.vm_dir(vm1))["blocks"], "ram:stored,ram-node1:stored")
        log = fs.run_log()  # the restarted daemon's lines only
        self.assertRegex(log, rf"VM {vm3} block ram incarnation 1: was live when the daemon "
                              r"stopped")
        self.assertIn("3 stored incarnation(s) recovered", log)
        # And they still work: the VM of the first file comes back and commits.
        self.setx(fs.vm_dir(vm1), "user.mkd.arrive", json.dumps(
            {"epoch": 2, "lineage": before[paths[0]][0]["lineage"]}).encode())
        w = RamWriter(self, "back")
        w.open(paths[0], os.O_RDWR)
        self.assertEqual(self.summary(fs, paths[0])["incarnation"], "2")
        self.setx(fs.vm_dir(vm1), "user.mkd.commit", b"1")
        self.assertEqual(self.summary(fs, paths[0])["state"], "live")

    def test_sigterm_with_no_file_open_unmounts_cleanly_and_exits_0(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        self.store_file(fs, vm)  # a stored incarnation is no reason to stay
        fs.proc.send_signal(signal.SIGTERM)
        self.assert_stops_cleanly(fs, "within 15 s of SIGTERM")
        self.assertRegex(fs.log(), r"mkd-memfs stopped \(unmounted ")

    def test_sigterm_while_a_file_is_open_for_writing_is_refused_until_repeated(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        w.write_pages(0, 10, "t")
        path = os.path.join(fs.vm_dir(vm), "ram")
        first = LogMark(fs.log_path)
        fs.proc.send_signal(signal.SIGTERM)
        first.wait_for(r"warning: signal 15: not stopping, 1 RAM block\(s\) are in use",
                       timeout=10, proc=fs.proc)
        time.sleep(1.0)
        self.assertIsNone(fs.proc.poll(), "mkd-memfs stopped on the first SIGTERM")
        self.assertTrue(is_mounted(fs.mountpoint))
        self.assertEqual(self.summary(fs, path)["state"], "live")
        self.assertEqual(self.read_pages(path, 0, 10), content("t", 0, 10 * PAGE))
        second = LogMark(fs.log_path)
        fs.proc.send_signal(signal.SIGTERM)  # within 10 s of the first: stops anyway
        self.assert_stops_cleanly(fs, "on the second SIGTERM")
        self.assertRegex(second.text(), r"signal 15: stopping")


if __name__ == "__main__":
    unittest.main()
