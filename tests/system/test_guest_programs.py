#!/usr/bin/env python3
"""System test of the guest image: boots a guest under QEMU (TCG) once per guest program with small
parameters and checks the program's verdict lines on the serial console (tests/guest/README.md).

Run: meson test -C <builddir> --suite system (sets MKD_GUEST_BUILD_DIR), or directly
     python3 tests/system/test_guest_programs.py -v   (finds build-guest/ or build/).
The first run on a machine downloads the kernel package with apt-get; later runs use the cache.
Boot times are printed as "boot <name>: N.N s".
"""

import mmap
import os
import struct
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lab"))
import mkdlab  # noqa: E402  (after the path tweak)
import mkdsys  # noqa: E402

MB = 1 << 20


class GuestProgramsTest(unittest.TestCase):
    image: mkdsys.GuestImage

    @classmethod
    def setUpClass(cls):
        started = time.monotonic()
        cls.image = mkdsys.build_guest_image()
        print(f"\nguest image: kernel {cls.image.kernel_release} ({cls.image.kernel_package} "
              f"{cls.image.kernel_version}), key {cls.image.key}, "
              f"{'cache hit' if cls.image.cache_hit else 'built'} in "
              f"{time.monotonic() - started:.1f} s", file=sys.stderr)
        # Every guest runs inside a host of the lab, as the migration tests' guests do.
        cls.lab = mkdlab.Lab("gprog", hosts=1).up()

    @classmethod
    def tearDownClass(cls):
        cls.lab.down()

    def boot(self, name: str, run: str, args=(), **config) -> mkdsys.Guest:
        """Starts a guest (stopped when the test ends, pass or fail) and waits for /init."""
        config.setdefault("netns", self.lab.netns(0))
        guest = mkdsys.Guest(mkdsys.GuestConfig(name=name, run=run, args=list(args), **config),
                             self.image)
        guest.start()
        self.addCleanup(guest.stop)
        boot = guest.wait_ready()
        print(f"boot {name}: {boot:.1f} s", file=sys.stderr)
        return guest

    def assertHealthy(self, guest: mkdsys.Guest):
        self.assertEqual(guest.errors(), [], "error lines on the serial console")
        self.assertTrue(guest.alive(), "QEMU exited\n" + guest.qemu_stderr())

    def test_checker_sweeps_ok_and_never_reports_stale(self):
        guest = self.boot("checker", "checker", ["--mb", "32"])
        guest.wait_for(r"^MKD checker ready mb=32 pages=8192$", timeout=30)
        first = int(guest.wait_for(r"^MKD checker OK sweep=(\d+)$", timeout=30,
                                   fail_on=r"STALE|CORRUPT").group(1))
        # Several more reports, i.e. several more full sweeps of every page.
        for _ in range(3):
            last = int(guest.wait_for(r"^MKD checker OK sweep=(\d+)$", timeout=30,
                                      fail_on=r"STALE|CORRUPT").group(1))
        self.assertGreater(last, first + 2)
        self.assertHealthy(guest)

    def test_checker_reports_a_page_restored_from_an_old_copy(self):
        # What a migration that reuses a stale page does, done by hand: the guest RAM is a shared
        # file, so save one checker page from it, let the checker move on, put the old copy back.
        guest = self.boot("checker-stale", "checker", ["--mb", "32", "--sweep-interval-ms", "200"])
        guest.wait_for(r"^MKD checker OK sweep=\d+$", timeout=30)
        with open(guest.ram_path(), "r+b") as f, mmap.mmap(f.fileno(), 0) as ram:
            offset = ram.find(b"MKDCHK01")
            while offset >= 0:  # a page header: page-aligned, with a plausible page index
                if offset % 4096 == 0 and struct.unpack_from("<Q", ram, offset + 8)[0] < 8192:
                    break
                offset = ram.find(b"MKDCHK01", offset + 1)
            self.assertGreaterEqual(offset, 0, "no checker page in the guest RAM file")
            page, sweep = struct.unpack_from("<QQ", ram, offset + 8)
            old_copy = ram[offset:offset + 4096]
            # Let the checker rewrite the page at least twice (OK lines come about once a second).
            ok_line = r"^MKD checker OK sweep=(\d+)$"
            while int(guest.wait_for(ok_line, timeout=30).group(1)) <= sweep + 1:
                pass
            ram[offset:offset + 4096] = old_copy
        stale = guest.wait_for(rf"^MKD checker STALE page={page} expected_sweep=(\d+) "
                               rf"found_sweep=(\d+) ", timeout=30,
                               fail_on=r"MKD checker (CORRUPT|OK)")
        self.assertLess(int(stale.group(2)), int(stale.group(1)))
        self.assertEqual(int(stale.group(2)), sweep)
        # It keeps saying STALE, never OK again.
        guest.wait_for(rf"^MKD checker STALE page={page} ", timeout=30, fail_on=r"MKD checker OK")
        guest.wait_for(rf"^MKD checker STALE page={page} ", timeout=30, fail_on=r"MKD checker OK")

    def test_pagewriter_fills_then_writes_at_its_rate_and_stays_alive(self):
        guest = self.boot("pagewriter", "pagewriter",
                          ["--mb", "32", "--rate", "200", "--seconds", "3"])
        guest.wait_for(r"^MKD pagewriter filled mb=32 pages=8192 ", timeout=60)
        done = guest.wait_for(r"^MKD pagewriter done written=(\d+) distinct=(\d+) seconds=3$",
                              timeout=30)
        written, distinct = int(done.group(1)), int(done.group(2))
        self.assertGreaterEqual(written, 570)  # 200 pages/s for 3 s, a little slack under TCG
        self.assertLessEqual(written, 600)
        self.assertEqual(distinct, written)  # a random permutation: no page twice below 8192
        self.assertGreaterEqual(len(guest.serial.find_all(r"^MKD pagewriter progress ")), 2)
        time.sleep(1)  # it must idle now, not exit
        self.assertEqual(guest.serial.find_all(r"MKD init exited"), [])
        self.assertEqual(guest.qmp.execute("query-status")["status"], "running")
        self.assertHealthy(guest)

    def test_login_session_completes(self):
        guest = self.boot("login", "login", ["--mb", "8"])
        guest.wait_for(r"^MKD login start user=guest mb=8 data=random$", timeout=30)
        done = guest.wait_for(r"^MKD login done user=guest files=(\d+) home_kb=(\d+) tmp_mb=8 ",
                              timeout=60)
        self.assertGreaterEqual(int(done.group(1)), 6)
        guest.wait_for(r"^MKD init exited run=login status=0$", timeout=10)
        self.assertHealthy(guest)

    def test_login_session_writes_text(self):
        # --data text reads /proc/kallsyms: a kernel without it would end the script with 1.
        guest = self.boot("login-text", "login", ["--mb", "4", "--data", "text"])
        guest.wait_for(r"^MKD login start user=guest mb=4 data=text$", timeout=30)
        guest.wait_for(r"^MKD login done user=guest files=\d+ home_kb=\d+ tmp_mb=4 ", timeout=90)
        guest.wait_for(r"^MKD init exited run=login status=0$", timeout=10)
        self.assertHealthy(guest)

    def test_web_serves_every_connection(self):
        files, kb, rate, seconds = 16, 256, 20, 5
        guest = self.boot("web", "web", ["--files", str(files), "--kb", str(kb),
                                         "--rate", str(rate), "--seconds", str(seconds)])
        guest.wait_for(rf"^MKD loadgen populated files={files} kb={kb} ", timeout=60)
        guest.wait_for(rf"^MKD web serving files={files} kb={kb} ", timeout=30)
        guest.wait_for(rf"^MKD loadgen start rate={rate} files={files} ", timeout=10)
        done = guest.wait_for(r"^MKD loadgen done connections=(\d+) ok=(\d+) errors=(\d+) "
                              r"bytes=(\d+) ", timeout=seconds + 30)
        connections, ok, errors, total = (int(g) for g in done.groups())
        self.assertEqual(connections, rate * seconds)
        self.assertEqual((ok, errors), (connections, 0))
        self.assertEqual(total, connections * kb * 1024)
        seconds_lines = guest.serial.find_all(
            r"^MKD loadgen second=(\d+) ok=(\d+) bytes=(\d+) max_ms=(\d+) errors=(\d+)")
        self.assertGreaterEqual(len(seconds_lines), seconds - 1)
        self.assertEqual(sum(int(m.group(2)) for m in seconds_lines), connections)
        self.assertHealthy(guest)

    def test_init_waits_for_input_then_powers_off(self):
        guest = self.boot("wait", "pagewriter",
                          ["--mb", "8", "--rate", "100", "--seconds", "1", "--exit"],
                          wait_input=True, after="poweroff")
        guest.wait_for(r"^MKD init waiting$", timeout=10)
        time.sleep(1)
        self.assertEqual(guest.serial.find_all(r"MKD pagewriter"), [], "started before input")
        guest.send_line("go")
        guest.wait_for(r"^MKD pagewriter done written=100 ", timeout=30)
        guest.wait_for(r"^MKD init exited run=pagewriter status=0$", timeout=10)
        self.assertEqual(guest.wait_exit(timeout=30), 0)  # poweroff ends QEMU
        self.assertEqual(guest.errors(), [])


if __name__ == "__main__":
    unittest.main()
