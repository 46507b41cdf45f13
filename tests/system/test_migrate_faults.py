#!/usr/bin/env python3
"""System test: mkd-migrate under failure, at every step (issue 5, point 4).

One 256 MiB guest runs the consistency checker (16 MB, a sweep every 2 s) on two lab hosts with
mkd-memfs. Case after case, a migration is made to fail at a named fault point (MKD_FAULT_POINTS,
migrate-tool/fault_points.h) by a real kill of a real process or a real cut of the lab link:
the destination QEMU (kill -9), the destination memfs (kill -9), the link (veth down), or
mkd-migrate itself (kill -9 via the fault point, and once with SIGKILL from outside while the
first pass runs). After each failure:
  - the VM runs at exactly one place -- the source (before the commit point, and after it when
    QEMU's switchover did not complete: QEMU resumes it, in the fresh epoch mkd-migrate set before
    committing) -- and its checker still finds every page right (no STALE/CORRUPT);
  - when the destination had received pages before an abort, they are invalid there;
  - the next migration of the same VM (with --verify) succeeds, and reuses pages when the
    destination still holds an incarnation.
`mkd-migrate recover` resumes the VM after mkd-migrate was killed while QEMU was paused.
MigrateRefusalTest: a source with a certificate of another CA, a client without a certificate,
and a VM the destination has no definition for are all refused, the VM untouched.

Run: meson test -C build --suite system, or python3 <this file> -v.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mkdsys  # noqa: E402
from mkdsys.cluster import Cluster  # noqa: E402
from mkdsys.logwait import LogMark  # noqa: E402
from mkdsys.roundtrip import build_dir, table_runs  # noqa: E402

GEN_INVALID = 0xFFFFFFFF
TIMEOUT = "5"  # mkd-migrate --timeout: a cut link is noticed within this many seconds


class MigrateFaultTest(unittest.TestCase):
    def setUp(self):
        self.c = Cluster(build_dir(), "fault", hosts=2, serve_timeout=8)
        self.addCleanup(self.c.close)
        self.c.up()
        self.mkd_genstore = os.path.join(build_dir(), "genstore", "mkd-genstore")
        self.c.start_vm(0, run="checker", args=["--mb", "16", "--sweep-interval-ms", "2000"])
        self.serials = {0: self.c.serial(0)}
        self.serials[0].wait_for(r"^MKD checker ready mb=16 ", timeout=90)
        self.here = 0  # where the VM runs
        self.log = []

    # ---- helpers
    def checker_ok(self, host: int) -> None:
        self.serials[host].wait_for(r"^MKD checker OK sweep=\d+$", timeout=60,
                                    fail_on=r"STALE|CORRUPT")

    def kill_qemu_cmd(self, host: int) -> str:
        return f"kill -9 $(cat {self.c.run_path(host, 'qemu.pid')})"

    def link_cmd(self, host: int, state: str) -> str:
        return f"ip -n {self.c.lab.netns(host)} link set eth0 {state}"

    def migrate_ok(self, expect_reuse: bool = True) -> dict:
        src, dst = self.here, 1 - self.here
        cp = self.c.migrate(src, dst, "--verify", "--timeout", TIMEOUT)
        self.assertEqual(cp.returncode, 0, f"h{src}->h{dst}: {cp.stderr}\n"
                                           f"{self.c.serve_log(dst)[-3000:]}")
        r = self.c.report(cp)
        self.assertTrue(r["verified"])
        if expect_reuse:
            self.assertGreater(r["pages"]["reused"], 0)
        self.serials[dst] = self.c.serial(dst)
        self.here = dst
        self.checker_ok(dst)
        return r

    def fail_at(self, point: str, action: str, *, expect_paused: bool = False,
                in_serve: bool = False) -> dict:
        """Migrates with fault point `point` doing `action`; checks the VM stays right here.
        in_serve: the point is the destination serve's; serve is restarted with it for this
        migration (and proven to have hit it), then restarted without it."""
        src, dst = self.here, 1 - self.here
        fault = {"MKD_FAULT_POINTS": f"{point}={action}"}
        if in_serve:
            self.c.start_serve(dst, env=fault)  # returns once this new serve listens
        started = time.monotonic()
        cp = self.c.migrate(src, dst, "--verify", "--timeout", TIMEOUT,
                            env=None if in_serve else fault)
        self.assertNotEqual(cp.returncode, 0, f"the migration should have failed at {point}")
        report = None
        try:
            report = json.loads(cp.stdout)
        except json.JSONDecodeError:
            pass  # mkd-migrate was killed: no report
        if expect_paused:
            self.assertIn(self.c.qemu_status(src), ("finish-migrate", "paused"))
            out = self.c.lab.exec(src, [self.c.mkd_migrate, "recover", self.c.definition(src)])
            # QEMU resumes the VM itself once its migration is cancelled.
            self.assertIn("cancelled QEMU's migration", out.stdout)
        self.c.wait_no_qemu(dst, timeout=30)
        self.c.wait_serve_idle(dst)
        self.assertEqual(self.c.qemu_status(src), "running",
                         f"{cp.stdout}\n{cp.stderr}\nserve log:\n{self.c.serve_log(dst)[-2000:]}")
        self.checker_ok(src)
        if in_serve:
            # Only the faulty serve's own lines: the log holds those of the serve before it.
            self.assertIn(f"fault point {point}: {action}", self.c.serve_marks[dst].text(),
                          "the migration failed, but not at the serve's fault point")
            self.c.start_serve(dst)
        self.log.append({"point": point, "action": action.split(":")[0], "rc": cp.returncode,
                         "seconds": round(time.monotonic() - started, 2),
                         "outcome": report["outcome"] if report else "killed"})
        print("migrate fault: " + json.dumps(self.log[-1]), file=sys.stderr)
        return report or {}

    def restore_link_after(self, host: int, seconds: float) -> None:
        """Waits (at most 60 s) for host's link to go down, then brings it up `seconds` later."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            out = subprocess.run(["ip", "-n", self.c.lab.netns(host), "-br", "link", "show",
                                  "eth0"], capture_output=True, text=True).stdout
            if " DOWN " in out:
                time.sleep(seconds)
                subprocess.run(self.link_cmd(host, "up").split(), check=False)
                return
            time.sleep(0.05)

    def invalid_pages(self, host: int) -> int:
        runs = table_runs(self.mkd_genstore, self.c.memfs[host], self.c.ram_file(host))
        return sum(cnt for _, cnt, gen in runs if gen == GEN_INVALID)

    # ---- the cases, in one chain (each failure is followed by a good migration)
    def test_failures_at_every_step(self):
        c = self.c
        # Nothing to reuse yet: the destination QEMU dies right after the first pass.
        dst = 1 - self.here
        self.fail_at("source.first_pass", "exec:" + self.kill_qemu_cmd(dst))
        self.assertGreater(self.invalid_pages(dst), 0)  # what it had received is invalid
        self.migrate_ok(expect_reuse=False)              # h1 now; h0 keeps an incarnation

        # During the rounds: the link goes down.
        dst = 1 - self.here
        try:
            self.fail_at("source.rounds", "exec:" + self.link_cmd(dst, "down"))
        finally:
            c.lab.exec(0, self.link_cmd(dst, "up"), check=False)
        self.migrate_ok()

        # At pre-switchover (the VM is paused): the destination memfs dies.
        dst = 1 - self.here
        self.fail_at("source.pre_switchover", f"exec:kill -9 {c.memfs[dst].proc.pid}")
        c.memfs[dst].kill9()  # detach the dead mount, then start it again: it recovers
        c.memfs[dst].start()
        self.migrate_ok(expect_reuse=False)  # the arrival it lost was not trustworthy

        # During the commit, on the destination: its commit fails.
        dst = 1 - self.here
        self.fail_at("serve.commit", "error", in_serve=True)
        self.assertGreater(self.invalid_pages(dst), 0)
        self.migrate_ok()

        # During the commit, on the source: mkd-migrate is killed with the VM paused.
        self.fail_at("source.commit", "exit", expect_paused=True)
        self.migrate_ok()

        # After the commit: the destination QEMU dies before it gets the device state; QEMU
        # resumes the VM at the source, in the fresh epoch.
        dst = 1 - self.here
        r = self.fail_at("source.after_commit", "exec:" + self.kill_qemu_cmd(dst))
        self.assertIn("after the commit point", r["outcome"])
        self.migrate_ok()

        # After the commit: mkd-migrate is killed; the operator recovers the VM at the source.
        self.fail_at("source.after_commit", "exit", expect_paused=True)
        self.migrate_ok()

        # After the commit: the link goes down for 2 s just before QEMU's device state crosses
        # it. The switchover completes once the link is back: the VM runs at the destination.
        src, dst = self.here, 1 - self.here
        restorer = threading.Thread(target=self.restore_link_after, args=(dst, 2.0), daemon=True)
        restorer.start()
        try:
            cp = c.migrate(src, dst, "--verify", "--timeout", "15",
                           env={"MKD_FAULT_POINTS":
                                f"source.after_commit=exec:{self.link_cmd(dst, 'down')}"})
        finally:
            restorer.join(30)
            c.lab.exec(0, self.link_cmd(dst, "up"), check=False)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.serials[dst] = c.serial(dst)
        self.here = dst
        self.checker_ok(dst)
        self.assertIsNone(c.qemu_status(src))
        self.migrate_ok()

        # A real kill from outside: SIGKILL to mkd-migrate while its first pass runs.
        src, dst = self.here, 1 - self.here
        argv = c.lab.command(src, [c.mkd_migrate, c.definition(src), "--to", c.lab.host_id(dst),
                                   "--address", f"{c.lab.address(dst)}:7420", "--tls-dir",
                                   c.ca_dir, "--host-id", c.lab.host_id(src), "--bandwidth",
                                   "20M"])
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            for line in p.stderr:
                if "first pass" in line or time.monotonic() > deadline:
                    break
            p.send_signal(signal.SIGKILL)
        finally:
            p.wait(30)
            p.stdout.close()
            p.stderr.close()
        c.wait_no_qemu(dst, timeout=30)
        c.wait_serve_idle(dst)
        self.assertEqual(c.qemu_status(src), "running")
        self.checker_ok(src)
        self.migrate_ok()

        log_dir = os.environ.get("MKD_TEST_LOG_DIR") or os.path.join(build_dir(), "meson-logs")
        os.makedirs(log_dir, exist_ok=True)
        with open(os.path.join(log_dir, "migrate_faults.json"), "w") as f:
            json.dump(self.log, f, indent=2)


class MigrateRefusalTest(unittest.TestCase):
    """A host refuses peers it cannot authenticate and VMs it was not configured to receive."""

    def setUp(self):
        self.c = Cluster(build_dir(), "refuse", hosts=2, serve_timeout=8)
        self.addCleanup(self.c.close)
        self.c.up()
        self.c.start_vm(0, run="checker", args=["--mb", "16", "--sweep-interval-ms", "2000"])
        self.serial = self.c.serial(0)
        self.serial.wait_for(r"^MKD checker ready mb=16 ", timeout=90)

    def assert_vm_untouched(self):
        c = self.c
        self.assertEqual(c.qemu_status(0), "running")
        self.assertIsNone(c.qemu_status(1))
        self.serial.wait_for(r"^MKD checker OK sweep=\d+$", timeout=60, fail_on=r"STALE|CORRUPT")

    def test_refuses_unauthenticated_hosts_and_unknown_vms(self):
        c = self.c
        # A source whose certificate comes from another CA: the handshake fails both ways.
        other = os.path.join(c.lab.state_dir(0), "other-ca")
        mkd_ca = str(mkdsys.repo_root() / "scripts" / "mkd-ca")
        subprocess.run([mkd_ca, "init", other], check=True, capture_output=True)
        subprocess.run([mkd_ca, "host", other, c.lab.host_id(0)], check=True, capture_output=True)
        argv = [c.mkd_migrate, c.definition(0), "--to", c.lab.host_id(1), "--address",
                f"{c.lab.address(1)}:7420", "--tls-dir", other, "--host-id", c.lab.host_id(0),
                "--json", "--timeout", "5"]
        refusals = LogMark(c.serve_log_path(1))
        cp = c.lab.exec(0, argv, check=False, timeout=60)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("before the commit point", c.report(cp)["outcome"])
        refusals.wait_for(r"refused a connection", timeout=10, proc=c.serve[1])
        self.assert_vm_untouched()

        # A client without any certificate (plain TLS, as a curious scanner would do).
        refusals = LogMark(c.serve_log_path(1))
        probe = ("import socket, ssl\n"
                 "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\n"
                 "ctx.check_hostname = False\n"
                 "ctx.verify_mode = ssl.CERT_NONE\n"
                 f"s = ctx.wrap_socket(socket.create_connection(('{c.lab.address(1)}', 7420), 10))\n"
                 "try:\n"
                 "    s.sendall(b'MKDM'); print(repr(s.recv(16)))\n"
                 "except (ssl.SSLError, OSError) as e:\n"
                 "    print('refused', e)\n")
        out = c.lab.exec(0, ["python3", "-c", probe], check=False, timeout=30)
        self.assertNotIn("MKDM", out.stdout)
        refusals.wait_for(r"refused a connection", timeout=10, proc=c.serve[1])

        # A VM the destination has no definition for: refused before anything is started there.
        hidden = c.definition(1) + ".hidden"
        os.rename(c.definition(1), hidden)
        try:
            cp = c.migrate(0, 1, "--timeout", "5")
        finally:
            os.rename(hidden, c.definition(1))
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("has no definition of VM", c.report(cp)["outcome"])
        self.assert_vm_untouched()

        # The host still serves those it trusts.
        cp = c.migrate(0, 1, "--verify")
        self.assertEqual(cp.returncode, 0, cp.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
