#!/usr/bin/env python3
"""System test: lab hosts that run libvirt (mkdsys/libvirt_host.py). Two hosts, each with its own
libvirtd, hostname, host UUID and /etc/libvirt, /run/libvirt, /etc/miyakodori, /run/miyakodori;
a 256 MiB checker guest defined on both, started on h0 by libvirt (QEMU as libvirt-qemu, not
root), moved to h1 with `virsh migrate` over a unix socket; the checker goes on at h1 with its
state. Then everything is torn down and nothing of it is left: no process, mount or namespace.
Also: an up() that fails half way ends what it started.

The guest's RAM is a file at the same path on both hosts, /run/miyakodori/mem/<uuid>/ram, on a
tmpfs of each host's own (mounted in the root namespace after up(), which shows that such mounts
reach the host). QEMU's migration stream carries all of it. The migration is not --live: under
TCG, QEMU 7.2 loses pages the guest dirties during a live pre-copy (docs/qemu-config.md, "Known
issue"); with this checker (32 MB rewritten continuously) 4 live migrations in 4 left a broken
guest at h1. A paused migration has nothing to lose. (A RAM file shared by both hosts is worse
when live: the destination writes the stream's older copies into the memory the source guest
is still running on; 3 in 3 ended with STALE pages.)

Run: meson test -C build --suite system libvirt_lab (sets MKD_BUILD_DIR), or as root
MKD_GUEST_BUILD_DIR=build/tests/guest python3 -W ignore <this file> -v. Copies of the libvirtd,
QEMU and serial logs go to $MKD_TEST_LOG_DIR (default build/meson-logs) as libvirt_lab.*.
"""

import os
import re
import shutil
import subprocess
import sys
import time
import unittest
import uuid
from xml.sax.saxutils import escape, quoteattr

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lab"))
import mkdlab  # noqa: E402
import mkdsys  # noqa: E402
from mkdsys.libvirt_host import LibvirtHost, LibvirtHostError  # noqa: E402

LAB = "lvlab"
VM = "lvlab-vm"
MEMORY_MIB = 256
CHECKER_MB = 32
# libvirtd's errors that say only that this machine is no full hypervisor host (no dnsmasq, dbus,
# DMI, /dev/kvm, cgroup controllers, ifb devices); any other error line fails the test. (A lab
# host's /dev/kvm is an empty file, mkdsys/libvirt_host.py: libvirt's KVM ioctls on it fail.)
HARMLESS_LIBVIRTD_ERRORS = (
    r"dnsmasqCapsNewFromBinary", r"virGDBusGetSystemBus", r"udevGetDMIData",
    r"dmidecode", r"Unable to open /dev/kvm", r"virNetDevSendEthtoolIoctl",
    r"virHostCPUGetCPUID.*Inappropriate ioctl", r"virHostCPUGetTscInfo.*Inappropriate ioctl",
    r"virCgroupDetectControllers.*At least one cgroup controller is required",
)


def build_dir() -> str:
    return os.environ.get("MKD_BUILD_DIR") or str(mkdsys.repo_root() / "build")


def domain_xml(vm_uuid: str, image, ram: str, run_dir: str) -> str:
    """A libvirt domain booting the checker, with miyakodori's RAM, console and QMP arguments
    (those qemu-config's MkdQemuArgs makes) given to QEMU as <qemu:commandline>."""
    args = [
        "-object", f"memory-backend-file,id=mkd-ram,size={MEMORY_MIB}M,mem-path={ram},share=on",
        "-machine", "memory-backend=mkd-ram",
        "-chardev", f"socket,id=mkd-serial,path={run_dir}/serial.sock,server=on,wait=off,"
                    f"logfile={run_dir}/serial.log",
        "-serial", "chardev:mkd-serial",
        "-qmp", f"unix:{run_dir}/qmp.sock,server=on,wait=off",
    ]
    cmdline = f"console=ttyS0 quiet panic=-1 mkd.run=checker mkd.args=--mb,{CHECKER_MB}"
    qemu_args = "\n".join(f"    <qemu:arg value={quoteattr(a)}/>" for a in args)
    return f"""<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{VM}</name>
  <uuid>{vm_uuid}</uuid>
  <memory unit='MiB'>{MEMORY_MIB}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{escape(image.kernel)}</kernel>
    <initrd>{escape(image.initrd)}</initrd>
    <cmdline>{escape(cmdline)}</cmdline>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
{qemu_args}
  </qemu:commandline>
</domain>
"""


def proc_status(pid: int) -> dict:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def ns_of(pid: int, kind: str):
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None


def start_time(pid: int):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return int(data[data.rindex(b")") + 2:].split()[19])


def mounts_under(path: str) -> list:
    prefix = path.rstrip("/") + "/"
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == path or p.startswith(prefix)]


# Every process of the hosts the test saw: pid -> (start time, UTS namespace, mount namespace,
# command name).
SEEN = {}


def remember(pid: int) -> None:
    with open(f"/proc/{pid}/comm") as f:
        SEEN[pid] = (start_time(pid), ns_of(pid, "uts"), ns_of(pid, "mnt"), f.read().strip())


class RecordedHost(LibvirtHost):
    """A LibvirtHost whose holder, virtlogd and libvirtd the test remembers as they start, so
    it can check afterwards that they and their namespaces are gone."""

    def _start_holder(self):
        super()._start_holder()
        remember(self.holder.pid)

    def exec(self, argv, timeout=60, check=True):
        cp = super().exec(argv, timeout=timeout, check=check)
        if argv[0] in ("virtlogd", "libvirtd") and cp.returncode == 0:
            remember(self._read_pid(f"/run/libvirt/{argv[0]}.pid"))
        return cp


class LibvirtLabTest(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (namespaces, mounts, libvirtd)")
        self.image = mkdsys.build_guest_image()
        self.lab = mkdlab.Lab(LAB, hosts=2).up()
        self.addCleanup(self.lab.down)  # last: also kills whatever still runs in the hosts
        self.lab_dir = os.path.dirname(os.path.dirname(self.lab.state_dir(0)))
        self.netns = [self.lab.netns(i) for i in range(2)]
        SEEN.clear()

    # ---- helpers
    def start_host(self, i: int) -> LibvirtHost:
        host = RecordedHost(self.lab, i)
        self.addCleanup(host.down)  # registered first: runs after what the test adds later
        host.up()
        return host

    def qemu_pid(self, host: LibvirtHost) -> int:
        with open(host.host_path(f"/run/libvirt/qemu/{VM}.pid")) as f:
            pid = int(f.read())
        remember(pid)
        return pid

    def mount_tmpfs(self, path: str, size: str) -> None:
        os.makedirs(path, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "lvlab-mem",
                        path], check=True, timeout=30)
        self.addCleanup(subprocess.run, ["umount", "-l", path], capture_output=True,
                        timeout=30)

    def qemu_dir(self, host: LibvirtHost, path: str) -> None:
        """A directory (as the host sees it) that QEMU, running as host.qemu_user, writes to."""
        os.makedirs(host.host_path(path), exist_ok=True)
        os.chown(host.host_path(path), host.qemu_uid, host.qemu_gid)

    def names(self, host: LibvirtHost) -> list:
        return host.virsh("list", "--name").stdout.split()

    def state(self, host: LibvirtHost) -> str:
        return host.virsh("domstate", VM).stdout.strip()

    def unexpected_libvirtd_errors(self, host: LibvirtHost) -> list:
        harmless = re.compile("|".join(HARMLESS_LIBVIRTD_ERRORS))
        with open(host.host_path("/var/log/libvirt/libvirtd.log"), errors="replace") as f:
            return [line.rstrip() for line in f
                    if " error : " in line and not harmless.search(line)]

    def keep_logs(self, hosts) -> None:
        log_dir = os.environ.get("MKD_TEST_LOG_DIR") or os.path.join(build_dir(), "meson-logs")
        os.makedirs(log_dir, exist_ok=True)
        for h in hosts:
            for name, path in (("libvirtd.log", "/var/log/libvirt/libvirtd.log"),
                               ("qemu.log", f"/var/log/libvirt/qemu/{VM}.log"),
                               ("serial.log", f"/run/miyakodori/vms/{self.vm_uuid}/serial.log")):
                src = h.host_path(path)
                if os.path.exists(src):
                    shutil.copyfile(src, os.path.join(log_dir, f"libvirt_lab.h{h.i}.{name}"))

    def comms_seen(self) -> list:
        return [comm for _, _, _, comm in SEEN.values()]

    def assert_nothing_left(self, lab_up: bool = False) -> None:
        """No process we saw, nor any other in the hosts' namespaces; no mount under the lab's
        directory; unless lab_up, no lab namespace and the lab's directory gone."""
        namespaces = {ns for _, uts, mnt, _ in SEEN.values() for ns in (uts, mnt) if ns}
        left = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                pid = int(entry)
                if (pid in SEEN and start_time(pid) == SEEN[pid][0]) or \
                        ns_of(pid, "uts") in namespaces or ns_of(pid, "mnt") in namespaces:
                    try:
                        with open(f"/proc/{pid}/comm") as f:
                            left.append(f"{pid} ({f.read().strip()})")
                    except OSError:
                        pass  # it just left
        self.assertEqual(left, [], "processes of the libvirt hosts are left")
        self.assertEqual(mounts_under(self.lab_dir), [])
        if lab_up:
            return
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                timeout=30).stdout
        self.assertEqual([ns for ns in self.netns if ns in listed], [])
        self.assertFalse(os.path.exists(self.lab_dir), f"{self.lab_dir} is left")

    # ---- tests
    def test_virsh_moves_a_running_checker_guest_between_two_libvirt_hosts(self):
        t0 = time.monotonic()
        hosts = [self.start_host(0), self.start_host(1)]
        h0, h1 = hosts
        t_up = time.monotonic() - t0
        self.vm_uuid = str(uuid.uuid4())
        self.addCleanup(self.keep_logs, hosts)  # runs before the hosts and the lab go
        run_dir = f"/run/miyakodori/vms/{self.vm_uuid}"
        ram = f"/run/miyakodori/mem/{self.vm_uuid}/ram"

        # Each host is a machine of its own: hostname, libvirt host UUID, /etc/miyakodori.
        for i, h in enumerate(hosts):
            self.assertEqual(h.exec(["hostname"]).stdout.strip(), self.lab.host_id(i))
            self.assertIn(f"<uuid>{h.host_uuid}</uuid>", h.virsh("capabilities").stdout)
            with open(h.host_path("/etc/miyakodori/vms/whoami"), "w") as f:
                f.write(h.host_id)
        self.assertNotEqual(h0.host_uuid, h1.host_uuid)
        for h in hosts:
            self.assertEqual(h.exec(["cat", "/etc/miyakodori/vms/whoami"]).stdout, h.host_id)
            # A file system mounted in the root namespace after up() reaches the host.
            self.mount_tmpfs(h.host_path("/run/miyakodori/mem"), f"{2 * MEMORY_MIB}m")
            self.assertEqual(h.exec(["stat", "-f", "-c", "%T", "/run/miyakodori/mem"])
                             .stdout.strip(), "tmpfs")
            self.qemu_dir(h, os.path.dirname(ram))
            self.qemu_dir(h, run_dir)
            with open(h.host_path(f"/etc/miyakodori/{VM}.xml"), "w") as f:
                f.write(domain_xml(self.vm_uuid, self.image, ram, run_dir))
            h.virsh("define", f"/etc/miyakodori/{VM}.xml")
            self.assertEqual(self.state(h), "shut off")
        # The destination QEMU listens on a socket both hosts see (outside their own dirs).
        migrate_dir = os.path.join(self.lab.state_dir(1), "migrate")
        os.makedirs(migrate_dir)
        os.chown(migrate_dir, h1.qemu_uid, h1.qemu_gid)

        t0 = time.monotonic()
        h0.virsh("start", VM, timeout=120)
        serial0 = mkdsys.SerialLog(h0.host_path(f"{run_dir}/serial.log"))
        serial0.wait_for(r"^MKD checker OK sweep=[1-9]\d*$", timeout=180,
                         fail_on=r"STALE|CORRUPT")
        t_boot = time.monotonic() - t0
        qemu0 = self.qemu_pid(h0)
        self.assertEqual(proc_status(qemu0)["Uid"].split()[0], str(h0.qemu_uid),
                         "QEMU does not run as libvirt-qemu")
        self.assertEqual(ns_of(qemu0, "uts"), ns_of(h0.holder.pid, "uts"))
        self.assertEqual((self.names(h0), self.names(h1)), ([VM], []))
        # Another host reaches h0's libvirtd by its uri().
        self.assertEqual(h1.exec(["virsh", "-c", h0.uri(), "domstate", VM]).stdout.strip(),
                         "running")

        t0 = time.monotonic()
        h0.virsh("migrate", VM, h1.uri(), "--migrateuri",
                 f"unix://{migrate_dir}/migrate.sock", timeout=300)
        t_migrate = time.monotonic() - t0
        last_at_h0 = int(serial0.find_all(r"^MKD checker OK sweep=(\d+)$")[-1].group(1))

        self.assertEqual((self.names(h0), self.names(h1)), ([], [VM]))
        self.assertEqual((self.state(h0), self.state(h1)), ("shut off", "running"))
        qemu1 = self.qemu_pid(h1)
        self.assertIsNone(ns_of(qemu0, "uts"), "h0's QEMU still runs")
        self.assertEqual(proc_status(qemu1)["Uid"].split()[0], str(h1.qemu_uid))
        self.assertEqual(ns_of(qemu1, "uts"), ns_of(h1.holder.pid, "uts"))
        # The guest's memory is now in h1's own file, on h1's tmpfs.
        ram1 = os.stat(h1.host_path(ram))
        self.assertEqual(ram1.st_size, MEMORY_MIB << 20)
        self.assertEqual(ram1.st_dev, os.stat(h1.host_path("/run/miyakodori/mem")).st_dev)
        # The checker goes on at h1 where it stopped at h0: the guest moved, it did not reboot.
        serial1 = mkdsys.SerialLog(h1.host_path(f"{run_dir}/serial.log"))
        first = int(serial1.wait_for(r"^MKD checker OK sweep=(\d+)$", timeout=120,
                                     fail_on=r"STALE|CORRUPT").group(1))
        second = int(serial1.wait_for(r"^MKD checker OK sweep=(\d+)$", timeout=60,
                                      fail_on=r"STALE|CORRUPT").group(1))
        self.assertGreaterEqual(first, last_at_h0)
        self.assertGreater(second, first)
        self.assertEqual(serial1.find_all(r"MKD init ready"), [], "the guest rebooted at h1")
        for h, serial in ((h0, serial0), (h1, serial1)):
            self.assertEqual(mkdsys.scan_for_errors(serial.text()), [], f"{h.host_id} serial")
            self.assertEqual(self.unexpected_libvirtd_errors(h), [], f"{h.host_id} libvirtd")

        # Teardown as the cleanups would do it, checked here: then nothing may be left. The
        # tmpfs is busy while QEMU runs, and down() wants nothing mounted under the host's
        # directory (it would detach it lazily, with a warning): the guest goes first.
        self.keep_logs(hosts)
        t0 = time.monotonic()
        h1.virsh("destroy", VM)
        for h in hosts:
            subprocess.run(["umount", h.host_path("/run/miyakodori/mem")], check=True,
                           timeout=30)
        for h in hosts:
            self.assertEqual(h.down(), [])
            self.assertEqual(h.down(), [], "a second down() did something")
        t_down = time.monotonic() - t0
        self.lab.down()
        self.assert_nothing_left()
        print(f"libvirt lab: up {t_up:.1f} s (2 hosts), boot {t_boot:.1f} s, "
              f"migrate {t_migrate:.1f} s, down {t_down:.1f} s (2 hosts, with the guest)",
              file=sys.stderr)

    def test_a_failed_up_ends_everything_it_started(self):
        class BrokenConfig(RecordedHost):
            """libvirtd refuses its configuration: up() fails after the holder and virtlogd."""
            def _write_configs(self):
                super()._write_configs()
                with open(self.host_path("/etc/libvirt/libvirtd.conf"), "a") as f:
                    f.write('max_clients = "many"\n')

        class NeverAnswers(RecordedHost):
            """up() fails after libvirtd started (as when the wait for its answer times out)."""
            def _wait_libvirtd(self, timeout):
                raise LibvirtHostError("injected: libvirtd did not answer")

        for cls, message, started in ((BrokenConfig, "max_clients", ["sleep", "virtlogd"]),
                                      (NeverAnswers, "injected",
                                       ["sleep", "virtlogd", "libvirtd"])):
            with self.subTest(cls.__name__):
                SEEN.clear()
                host = cls(self.lab, 0)
                with self.assertRaises(LibvirtHostError) as raised:
                    host.up()
                self.assertIn(message, str(raised.exception))
                self.assertEqual(sorted(self.comms_seen()), sorted(started))
                self.assertEqual(mounts_under(self.lab_dir), [])
                self.assertEqual(host.down(), [])
                self.assert_nothing_left(lab_up=True)
        # What the failed hosts left in the lab's directories does not stop a good host there.
        host = self.start_host(0)
        self.assertEqual(host.virsh("list", "--name").stdout.strip(), "")
        self.assertEqual(host.down(), [])
        self.lab.down()
        self.assert_nothing_left()


if __name__ == "__main__":
    unittest.main(verbosity=2)
