#!/usr/bin/env python3
"""System test of qemu-config as operators use it: mkd-vm start/status/stop on tmpfs, its refusals,
and the -readconfig template (qemu-config/templates/vm.cfg) booting the real guest.

Run: meson test -C build --suite system, or python3 <this file> -v.
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest
import uuid

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mkdsys  # noqa: E402


def build_dir() -> str:
    return os.environ.get("MKD_BUILD_DIR") or str(mkdsys.repo_root() / "build")


class QemuConfigTest(unittest.TestCase):
    def setUp(self):
        self.mkd_vm_path = os.path.join(build_dir(), "qemu-config", "mkd-vm")
        self.image = mkdsys.build_guest_image()
        self.tmp = tempfile.mkdtemp(prefix="mkd-qc-")
        self.shm = tempfile.mkdtemp(prefix="mkd-qc-", dir="/dev/shm")
        self.addCleanup(subprocess.run, ["rm", "-rf", self.tmp, self.shm])
        self.uuid = str(uuid.uuid4())

    def write_definition(self, backing: str, mem_dir: str) -> str:
        path = os.path.join(self.tmp, f"{backing}.json")
        with open(path, "w") as f:
            json.dump({"uuid": self.uuid, "name": "qc", "memory_mib": 128,
                       "boot": {"kernel": self.image.kernel, "initrd": self.image.initrd,
                                "append": "console=ttyS0 quiet mkd.run=checker mkd.args=--mb,8"},
                       "memory_backing": {"type": backing, "dir": mem_dir},
                       "run_dir": os.path.join(self.tmp, "run")}, f)
        return path

    def mkd_vm(self, *args, timeout=120):
        return subprocess.run([self.mkd_vm_path, *args], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def test_start_status_stop_on_tmpfs(self):
        vm = self.write_definition("tmpfs", self.shm)
        started = self.mkd_vm("start", "--accel", "tcg", vm)
        self.addCleanup(self.mkd_vm, "stop", vm)
        self.assertEqual(started.returncode, 0, started.stderr)
        self.assertIn("status running", started.stdout)
        ram = os.path.join(self.shm, self.uuid, "ram")
        self.assertEqual(os.path.getsize(ram), 128 << 20)
        serial = mkdsys.SerialLog(os.path.join(self.tmp, "run", self.uuid, "serial.log"))
        serial.wait_for(r"^MKD checker OK sweep=\d+$", timeout=90, fail_on=r"STALE|CORRUPT")
        self.assertEqual(self.mkd_vm("status", vm).returncode, 0)
        again = self.mkd_vm("start", "--accel", "tcg", vm)
        self.assertNotEqual(again.returncode, 0)
        self.assertIn("already running", again.stderr)
        stopped = self.mkd_vm("stop", vm)
        self.assertEqual(stopped.returncode, 0, stopped.stderr)
        self.assertEqual(self.mkd_vm("status", vm).returncode, 3)
        self.assertFalse(os.path.exists(ram), "the tmpfs RAM file outlived its VM")

    def test_refuses_memory_on_the_wrong_file_system(self):
        on_disk = self.mkd_vm("start", "--accel", "tcg", self.write_definition("tmpfs", self.tmp))
        self.assertNotEqual(on_disk.returncode, 0)
        self.assertIn("not on tmpfs", on_disk.stderr)
        no_memfs = self.mkd_vm("start", "--accel", "tcg", self.write_definition("memfs", self.shm))
        self.assertNotEqual(no_memfs.returncode, 0)
        self.assertIn("not a mounted mkd-memfs", no_memfs.stderr)

    def test_readconfig_template_boots_the_guest(self):
        template = mkdsys.repo_root() / "qemu-config" / "templates" / "vm.cfg"
        run_dir = os.path.join(self.tmp, "rc")
        os.makedirs(run_dir)
        os.makedirs(os.path.join(self.shm, self.uuid))
        text = template.read_text()
        for key, value in {"@UUID@": self.uuid, "@MEMORY_DIR@": self.shm, "@RUN_DIR@": run_dir,
                           "@SIZE@": "128M"}.items():
            text = text.replace(key, value)
        cfg = os.path.join(self.tmp, "vm.cfg")
        with open(cfg, "w") as f:
            f.write(text)
        qemu = mkdsys.spawn(["qemu-system-x86_64", "-readconfig", cfg, "-uuid", self.uuid,
                             "-nodefaults", "-display", "none", "-accel", "tcg",
                             "-kernel", self.image.kernel, "-initrd", self.image.initrd,
                             "-append", "console=ttyS0 quiet mkd.run=checker mkd.args=--mb,8"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(mkdsys.stop, qemu)
        serial = mkdsys.SerialLog(os.path.join(run_dir, "serial.log"))
        serial.wait_for(r"^MKD checker OK sweep=\d+$", timeout=90, fail_on=r"STALE|CORRUPT")
        self.assertTrue(os.path.exists(os.path.join(self.shm, self.uuid, "ram")))
        qmp = mkdsys.QmpClient.connect(os.path.join(run_dir, "qmp.sock"))
        self.addCleanup(qmp.close)
        self.assertEqual(qmp.execute("query-status")["status"], "running")


if __name__ == "__main__":
    unittest.main(verbosity=2)
