#!/usr/bin/env python3
"""System test: mkd-migrate --postcopy under failure (issue 6, point 4).

A 256 MiB guest runs the consistency checker (64 MB, a sweep every 2 s) on two lab hosts with
mkd-memfs. Before the switchover point a post-copy migration fails like a pre-copy one: the VM
goes on at the source with every page right. After the switchover the VM runs at the
destination while the source holds the only copy of the pages not sent yet; then, as in QEMU,
the VM cannot go on if the source or the link dies. Each case proves that such a failure is
loud and bounded and never serves a wrong page:
  - mkd-migrate killed half-way through the push (fault point source.postcopy=exit);
  - the link cut half-way through the push (both sides notice within --timeout);
  - the destination's `mkd-migrate serve` killed (serve.postcopy=exit): memfs's lease expires.
After each: the destination's post-copy is "failed" in memfs, its QEMU is gone (stopped by serve,
or killed by the SIGBUS of a read that memfs failed), the pages that never arrived are invalid
and read as EIO, the source QEMU is not resumed, and `mkd-migrate recover` refuses to resume the
stale copy, even with --force. The VM is then cold-booted and the next post-copy migration works.

Run: meson test -C build --suite system, or python3 <this file> -v.
"""

import errno
import json
import os
import sys
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from mkdsys import memfs_protocol as mp  # noqa: E402
from mkdsys.cluster import Cluster  # noqa: E402
from mkdsys.logwait import LogMark  # noqa: E402
from mkdsys.roundtrip import build_dir, table_runs  # noqa: E402

GEN_INVALID = 0xFFFFFFFF
TIMEOUT = "5"
CHECKER = ["--mb", "64", "--sweep-interval-ms", "2000"]
PAGE = 4096


class PostcopyFaultTest(unittest.TestCase):
    def setUp(self):
        self.c = Cluster(build_dir(), "pcf", hosts=2, serve_timeout=5)
        self.addCleanup(self.c.close)
        self.c.up()
        self.mkd_genstore = os.path.join(build_dir(), "genstore", "mkd-genstore")
        self.log = []
        self.boot(0)

    # ---- helpers
    def boot(self, host: int) -> None:
        self.c.start_vm(host, run="checker", args=CHECKER)
        self.serials = {host: self.c.serial(host)}
        self.serials[host].wait_for(r"^MKD checker ready mb=64 ", timeout=90)
        self.here = host

    def checker_ok(self, host: int) -> None:
        self.serials[host].wait_for(r"^MKD checker OK sweep=\d+$", timeout=60,
                                    fail_on=r"STALE|CORRUPT")

    def link_cmd(self, host: int, state: str) -> str:
        return f"ip -n {self.c.lab.netns(host)} link set eth0 {state}"

    def marker(self) -> str:
        with open(self.c.definition(0)) as f:
            uuid = json.load(f)["uuid"]
        return f"/run/miyakodori/mkd-migrate-{uuid}.postcopy"

    def postcopy_ok(self) -> dict:
        src, dst = self.here, 1 - self.here
        self.checker_ok(src)
        cp = self.c.migrate(src, dst, "--postcopy", "--verify", "--timeout", TIMEOUT)
        self.assertEqual(cp.returncode, 0, f"h{src}->h{dst}: {cp.stderr}\n"
                                           f"{self.c.serve_log(dst)[-3000:]}")
        r = self.c.report(cp)
        self.assertTrue(r["verified"])
        self.serials[dst] = self.c.serial(dst)
        self.here = dst
        self.checker_ok(dst)
        return r

    def fail_before_switchover(self, point: str, action: str, serve_env: bool = False) -> None:
        """A failure before the switchover point: the VM goes on here, every page right."""
        src, dst = self.here, 1 - self.here
        env = {"MKD_FAULT_POINTS": f"{point}={action}"}
        if serve_env:
            self.c.start_serve(dst, env=env)
        try:
            cp = self.c.migrate(src, dst, "--postcopy", "--verify", "--timeout", TIMEOUT,
                                env=None if serve_env else env)
        finally:
            if serve_env:
                self.c.start_serve(dst)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("before the commit point", self.c.report(cp)["outcome"])
        self.c.wait_no_qemu(dst, timeout=30)
        self.c.wait_serve_idle(dst)
        self.assertEqual(self.c.qemu_status(src), "running")
        self.checker_ok(src)
        self.log.append({"point": point, "where": f"h{src}", "outcome": "VM stays at the source"})
        print("postcopy fault: " + json.dumps(self.log[-1]), file=sys.stderr)

    def assert_lost(self, src: int, dst: int, cp, started: float, point: str,
                    serve_died: bool = False) -> None:
        """After the switchover the VM is lost: loud, bounded, no wrong page anywhere."""
        self.assertNotEqual(cp.returncode, 0, f"the migration should have failed at {point}")
        # The destination stops its QEMU (or a failed read kills it); memfs failed the post-copy.
        self.c.wait_no_qemu(dst, timeout=40)
        stopped_after = time.monotonic() - started
        pc = json.loads(self.c.memfs[dst].xattr(self.c.ram_file(dst), mp.POSTCOPY))
        self.assertEqual(pc["state"], "failed", pc)
        self.assertGreater(pc["missing"], 0, pc)
        # Pages that never arrived are invalid and read as errors, never as old content.
        runs = table_runs(self.mkd_genstore, self.c.memfs[dst], self.c.ram_file(dst))
        invalid = [first for first, cnt, gen in runs if gen == GEN_INVALID]
        self.assertTrue(invalid, "no invalid page after a failed post-copy")
        fd = os.open(self.c.ram_file(dst), os.O_RDONLY)
        try:
            with self.assertRaises(OSError) as e:
                os.pread(fd, PAGE, invalid[0] * PAGE)
            self.assertEqual(e.exception.errno, errno.EIO)
        finally:
            os.close(fd)
        # The source never resumes the stale copy; recover refuses it, even with --force.
        status = self.c.qemu_status(src)
        self.assertNotEqual(status, "running")
        if status is not None:
            for extra in ([], ["--force"]):
                out = self.c.lab.exec(src, [self.c.mkd_migrate, "recover",
                                            self.c.definition(src)] + extra, check=False)
                self.assertNotEqual(out.returncode, 0, out.stdout)
                self.assertIn("moved by post-copy", out.stdout + out.stderr)
            self.c.lab.exec(src, [self.c.mkd_vm, "stop", self.c.definition(src)], check=False,
                            timeout=60)
            self.c.wait_no_qemu(src, timeout=30)
        if os.path.exists(self.marker()):
            os.unlink(self.marker())
        if not serve_died:  # a killed serve never logs the end of its session
            self.c.wait_serve_idle(dst)
        self.log.append({"point": point, "rc": cp.returncode, "missing_at_failure": pc["missing"],
                         "destination_stopped_after_s": round(stopped_after, 2),
                         "reason": pc.get("reason", "")})
        print("postcopy fault: " + json.dumps(self.log[-1]), file=sys.stderr)

    def fail_after_switchover(self, env_point: str, action: str, on_serve: bool = False):
        src, dst = self.here, 1 - self.here
        self.checker_ok(src)
        env = {"MKD_FAULT_POINTS": f"{env_point}={action}"}
        if on_serve:
            self.c.start_serve(dst, env=env)
        started = time.monotonic()
        try:
            cp = self.c.migrate(src, dst, "--postcopy", "--timeout", TIMEOUT,
                                env=None if on_serve else env)
        finally:
            self.c.lab.exec(0, self.link_cmd(dst, "up"), check=False)
            if on_serve:
                self.c.start_serve(dst)
        return src, dst, cp, started

    # ---- the cases, in one chain
    def test_postcopy_failures(self):
        c = self.c
        # Before the switchover point: as in pre-copy, the VM stays at the source.
        self.fail_before_switchover("source.pre_switchover", "error")
        self.fail_before_switchover("serve.commit", "error", serve_env=True)
        self.postcopy_ok()  # h1

        # mkd-migrate dies half-way through the push.
        serve_log = LogMark(c.serve_log_path(1 - self.here))  # this hop's lines only
        src, dst, cp, started = self.fail_after_switchover("source.postcopy", "exit")
        self.assert_lost(src, dst, cp, started, "source.postcopy=exit")
        self.assertIn("post-copy failed after the VM started here", serve_log.text())
        self.boot(0)
        self.postcopy_ok()  # h1

        # The link goes down half-way through the push.
        src, dst, cp, started = self.fail_after_switchover(
            "source.postcopy", "exec:" + self.link_cmd(1 - self.here, "down"))
        report = c.report(cp)
        self.assertIn("post-copy failed after the VM started on", report["outcome"])
        self.assert_lost(src, dst, cp, started, "link down")
        self.boot(1)
        self.postcopy_ok()  # h0

        # The destination's serve dies: memfs's lease runs out, reads of missing pages fail.
        src, dst, cp, started = self.fail_after_switchover("serve.postcopy", "exit",
                                                           on_serve=True)
        self.assert_lost(src, dst, cp, started, "serve.postcopy=exit", serve_died=True)
        self.assertIn("stopped asking for pages", self.log[-1]["reason"])
        self.boot(0)
        self.postcopy_ok()

        log_dir = os.environ.get("MKD_TEST_LOG_DIR") or os.path.join(build_dir(), "meson-logs")
        os.makedirs(log_dir, exist_ok=True)
        with open(os.path.join(log_dir, "postcopy_faults.json"), "w") as f:
            json.dump(self.log, f, indent=2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
