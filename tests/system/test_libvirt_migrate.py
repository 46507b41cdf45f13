#!/usr/bin/env python3
"""System test: a libvirt domain migrates with memory reuse, driven by `mkd-migrate --libvirt`
(docs/libvirt.md). Two lab hosts running libvirt (mkdsys/libvirt_host.py: each its own libvirtd,
hostname, host UUID, /etc/libvirt, /etc/miyakodori, /run/miyakodori), each with its own mkd-memfs
(QEMU's user libvirt-qemu is its --vm-user), `mkd-migrate serve` and mkd-libvirt's hook. The VM
is defined once per host (<uuid>.json with "manager": "libvirt", its RAM on that host's mount,
the mounts at different paths so the hook must rewrite them) and as a libvirt domain made by
`mkd-libvirt domain-xml`. A 256 MiB checker guest started by libvirt on h0 moves
h0 -> h1 -> h0 -> h1 -> h0 with --verify; the return hops reuse what the host kept; `virsh
list` on both hosts agrees with where the VM runs; the checker stays OK. Also: a plain `virsh
migrate` is refused by the destination's hook (no arrival: it would leave the memory behind);
a failure before the commit point leaves the VM running at the source, libvirt agreeing; and
after it (the destination's serve dies before the device state reached its QEMU) libvirt ends
the destination's QEMU and resumes the VM at the source, in the epoch it moved to before the
commit, and the next hops still reuse.

Run: meson test -C build --suite system libvirt_migrate, or as root
MKD_BUILD_DIR=build MKD_GUEST_BUILD_DIR=build/tests/guest python3 -W ignore <this file> -v.
"""

import json
import os
import pwd
import shutil
import subprocess
import sys
import time
import unittest
import uuid

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lab"))
import mkdlab  # noqa: E402
import mkdsys  # noqa: E402
from mkdsys.image import build_guest_image  # noqa: E402
from mkdsys.libvirt_host import LibvirtHost  # noqa: E402
from mkdsys.logwait import LogMark  # noqa: E402
from mkdsys.memfs import Memfs  # noqa: E402
from mkdsys.serial import SerialLog  # noqa: E402

LAB = "lvmig"
VM = "lvmig-vm"
MEMORY_MIB = 256
CHECKER_MB = 32
# A sweep of the checker's 32 MB every 500 ms: a working guest whose pause fits the budget (a
# continuous sweep dirties faster than the rounds carry it under TCG here: that is the pipe's
# business, docs/decisions.md, not libvirt's).
SWEEP_MS = 500
TLS = "/etc/miyakodori/tls"
VMS = "/etc/miyakodori/vms"
RUN = "/run/miyakodori/vms"


def build_dir() -> str:
    return os.environ.get("MKD_BUILD_DIR") or str(mkdsys.repo_root() / "build")


class HookedHost(LibvirtHost):
    """A LibvirtHost whose libvirtd starts with mkd-libvirt's hook installed (libvirtd looks for
    its hook when it starts)."""

    def _write_configs(self) -> None:
        super()._write_configs()
        mkd_libvirt = os.path.join(build_dir(), "libvirt", "mkd-libvirt")
        subprocess.run([mkd_libvirt, "install-hooks", "--hooks-dir",
                        self.host_path("/etc/libvirt/hooks"), "--vm-dir", VMS],
                       check=True, capture_output=True, timeout=30)


class LibvirtMigrateTest(unittest.TestCase):
    def setUp(self):
        self.build = build_dir()
        self.mkd_migrate = os.path.join(self.build, "migrate-tool", "mkd-migrate")
        self.mkd_libvirt = os.path.join(self.build, "libvirt", "mkd-libvirt")
        self.image = build_guest_image(self.build)
        self.vm_uuid = str(uuid.uuid4())
        self.lab = mkdlab.Lab(LAB, hosts=2).up()
        self.addCleanup(self.lab.down)
        self.hosts, self.memfs, self.serve = [], [], []
        ca = os.path.join(self.lab.state_dir(0), "..", "ca")
        mkd_ca = str(mkdsys.repo_root() / "scripts" / "mkd-ca")
        subprocess.run([mkd_ca, "init", ca], check=True, capture_output=True, timeout=60)
        for i in range(2):
            host = HookedHost(self.lab, i)
            self.addCleanup(host.down)  # after memfs and serve (cleanups run last-in first-out)
            host.up()
            self.hosts.append(host)
            hid = host.host_id
            subprocess.run([mkd_ca, "host", ca, hid], check=True, capture_output=True, timeout=60)
            os.makedirs(host.host_path(TLS), exist_ok=True)
            for f in ("ca.crt", f"{hid}.crt", f"{hid}.key"):
                shutil.copy(os.path.join(ca, f), host.host_path(f"{TLS}/{f}"))
            # Each host's mount at a path of its own: the hook must rewrite the other's.
            m = Memfs(self.build, host.host_path(f"/run/miyakodori/mem-h{i}"), host_id=hid,
                      store_size="1g", extra_args=["--vm-user", "libvirt-qemu", "--vm-group",
                                                   "kvm"])
            m.start()
            self.addCleanup(m.destroy)
            self.memfs.append(m)
            os.makedirs(host.host_path(VMS), exist_ok=True)
            with open(host.host_path(f"{VMS}/{self.vm_uuid}.json"), "w") as f:
                json.dump(self.definition(i), f, indent=2)
            self.serve.append(None)
            self.start_serve(i)
            xml = host.exec([self.mkd_libvirt, "domain-xml", "--accel", "tcg",
                             f"{VMS}/{self.vm_uuid}.json"]).stdout
            with open(host.host_path(f"/run/miyakodori/{VM}.xml"), "w") as f:
                f.write(xml)
            host.virsh("define", f"/run/miyakodori/{VM}.xml")
        self.addCleanup(self.destroy_domains)

    def start_serve(self, i: int, env: dict = None) -> None:
        """(Re)starts `mkd-migrate serve` in host i; env: fault points."""
        if self.serve[i] is not None and self.serve[i].poll() is None:
            self.serve[i].terminate()
            self.serve[i].wait(10)
        log = open(os.path.join(self.lab.state_dir(i), "serve.log"), "ab")
        self.addCleanup(log.close)
        argv = [self.mkd_migrate, "serve", "--listen", f"{self.lab.address(i)}:7420",
                "--vm-dir", VMS, "--tls-dir", TLS, "--host-id", self.hosts[i].host_id]
        if env:
            argv = ["env", *[f"{k}={v}" for k, v in env.items()], *argv]
        mark = LogMark(os.path.join(self.lab.state_dir(i), "serve.log"))  # before it starts
        p = self.hosts[i].popen(argv, stdout=log, stderr=subprocess.STDOUT)
        self.serve[i] = p
        self.addCleanup(lambda p=p: p.poll() is not None or (p.terminate(), p.wait(10)))
        mark.wait_for(r"listening on", timeout=10, proc=p, what=f"mkd-migrate serve on h{i}")

    def definition(self, i: int) -> dict:
        return {
            "uuid": self.vm_uuid, "name": VM, "memory_mib": MEMORY_MIB, "manager": "libvirt",
            "boot": {"kernel": self.image.kernel, "initrd": self.image.initrd,
                     "append": f"console=ttyS0 quiet panic=-1 mkd.run=checker "
                               f"mkd.args=--mb,{CHECKER_MB},--sweep-interval-ms,{SWEEP_MS}"},
            "memory_backing": {"type": "memfs", "dir": f"/run/miyakodori/mem-h{i}/mnt"},
            "run_dir": RUN,
        }

    def destroy_domains(self):
        for h in self.hosts:
            h.virsh("destroy", VM, check=False, timeout=60)

    def serial(self, i: int) -> SerialLog:
        return SerialLog(self.hosts[i].host_path(f"{RUN}/{self.vm_uuid}/serial.log"))

    def state(self, i: int) -> str:
        return self.hosts[i].virsh("domstate", VM, check=False).stdout.strip()

    def migrate(self, src: int, dst: int, *extra: str, env=None) -> subprocess.CompletedProcess:
        h = self.hosts[src]
        argv = [self.mkd_migrate, f"{VMS}/{self.vm_uuid}.json", "--to", self.hosts[dst].host_id,
                "--address", f"{self.lab.address(dst)}:7420", "--tls-dir", TLS,
                "--host-id", h.host_id, "--libvirt", self.hosts[dst].uri(), "--verify",
                "--json", *extra]
        if env:
            argv = ["env", *[f"{k}={v}" for k, v in env.items()], *argv]
        return h.exec(argv, timeout=300, check=False)

    def qemu_user(self, i: int) -> str:
        """The user the VM's QEMU on host i runs as (libvirt's pid file of the domain)."""
        with open(self.hosts[i].host_path(f"/run/libvirt/qemu/{VM}.pid")) as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/status") as f:
            uid = next(int(line.split()[1]) for line in f if line.startswith("Uid:"))
        return pwd.getpwuid(uid).pw_name

    def checker_goes_on(self, i: int) -> None:
        log = self.serial(i)
        first = int(log.wait_for(r"^MKD checker OK sweep=(\d+)$", timeout=120).group(1))
        log.wait_for(rf"^MKD checker OK sweep=(?!{first}$)\d+$", timeout=60)
        self.assertNotIn("CORRUPT", log.text())

    def test_a_libvirt_domain_migrates_back_and_forth_reusing_its_memory(self):
        self.hosts[0].virsh("start", VM, timeout=120)
        self.serial(0).wait_for(r"^MKD checker OK sweep=[1-9]\d*$", timeout=180)
        self.assertEqual(self.qemu_user(0), "libvirt-qemu")  # not root (docs/security.md)

        # A plain virsh migrate: the destination's hook refuses (no arrival prepared there).
        plain = self.hosts[0].virsh("migrate", "--live", VM, self.hosts[1].uri(),
                                    "--migrateuri", f"unix://{RUN}/{self.vm_uuid}/plain.sock",
                                    check=False, timeout=120)
        self.assertNotEqual(plain.returncode, 0)
        self.assertIn("arrival", plain.stderr + plain.stdout)
        self.assertEqual(self.state(0), "running")

        # A failure before the commit point: the VM runs on at the source.
        cp = self.migrate(0, 1, env={"MKD_FAULT_POINTS": "source.pre_switchover=error"})
        self.assertNotEqual(cp.returncode, 0, cp.stderr[-2000:])
        report = json.loads(cp.stdout)
        self.assertIn("failed before the commit point", report["outcome"])
        deadline = time.monotonic() + 60
        while self.state(0) != "running" and time.monotonic() < deadline:
            time.sleep(0.5)
        self.assertEqual(self.state(0), "running")
        self.assertNotEqual(self.state(1), "running")
        self.checker_goes_on(0)

        # After the commit point the destination's serve dies before QEMU's device state reaches
        # its QEMU: libvirt's migration fails, libvirt ends its QEMU there and resumes the domain
        # at the source (which moved to a fresh epoch before the commit: safe). mkd-migrate says
        # where the VM runs.
        self.start_serve(1, env={"MKD_FAULT_POINTS": "serve.after_commit=exit"})
        cp = self.migrate(0, 1)
        self.assertNotEqual(cp.returncode, 0, cp.stderr[-2000:])
        outcome = json.loads(cp.stdout)["outcome"]
        self.assertIn("failed after the commit point (the VM resumed on", outcome)
        self.assertEqual(self.state(0), "running")
        self.assertNotEqual(self.state(1), "running")
        self.checker_goes_on(0)
        self.start_serve(1)

        reports = []
        for src, dst in ((0, 1), (1, 0), (0, 1), (1, 0)):
            time.sleep(3)  # the guest works where it is
            cp = self.migrate(src, dst)
            self.assertEqual(cp.returncode, 0, f"hop h{src} -> h{dst}: {cp.stderr[-3000:]}")
            r = json.loads(cp.stdout)
            reports.append(r)
            self.assertEqual(r["outcome"], "ok")
            self.assertTrue(r["verified"])
            self.assertEqual(self.state(dst), "running")
            self.assertEqual(self.hosts[src].virsh("list", "--name").stdout.strip(), "")
            self.checker_goes_on(dst)
            self.assertEqual(self.qemu_user(dst), "libvirt-qemu")
            print(f"hop h{src} -> h{dst}: {r['pages']['sent']} sent, {r['pages']['reused']} "
                  f"reused, {r['bytes']['wire'] / 1e6:.1f} MB, {r['total_seconds']:.2f} s, "
                  f"downtime {r['downtime_ms']['ours']:.0f} ms (QEMU "
                  f"{r['downtime_ms']['qemu']:.0f} ms)", file=sys.stderr)
        for r in reports:
            # Every hop reuses what the host kept: the memory the VM left there, and for the
            # first, what h1 committed in the attempt that failed after its commit point. (The
            # bytes on the wire also count the pages the guest rewrote during the rounds.)
            self.assertGreater(r["pages"]["reused"], r["pages"]["sent"], r["pages"])
        log_dir = os.environ.get("MKD_TEST_LOG_DIR") or os.path.join(self.build, "meson-logs")
        os.makedirs(log_dir, exist_ok=True)
        with open(os.path.join(log_dir, "libvirt_migrate.json"), "w") as f:
            json.dump(reports, f, indent=1)


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("SKIP: needs root (namespaces, mounts, libvirtd)")
        sys.exit(77)
    unittest.main()
