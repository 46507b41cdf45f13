#!/usr/bin/env python3
"""System test of the access model and the ordering invariants of mkd-memfs (docs/security.md).

Each attack of the probe table in docs/security.md is run for real against a mounted mkd-memfs,
by the kind of caller it names, and must now be refused:
  - an unprivileged local user (created by the test, removed after) reads or changes nothing of a
    VM: no RAM file content, no control attribute, no stored incarnation wiped or fed, no new
    VM directory or file; the host summary stays readable;
  - the VM user (QEMU's, --vm-user; created by the test) runs its VM's RAM file (create, size,
    write, read) but no control attribute works for it (the daemon refuses, with a log line
    naming its uid); a member of the admin group (--admin-group) may control;
  - root as an unlucky operator: generations above the arrival's epoch, arrivals below the
    stored epoch, advances that would make the VM unmigratable, commits with nothing incoming.
And a third-party reader of user.mkd.sync during a real migration (checker guest, no --verify)
cannot make the migration miss a page.

Run: meson test -C build security (sets MKD_BUILD_DIR), or python3 <this file> -v. Needs root
(FUSE mounts, tmpfs, useradd), and the guest image for the migration test. Cleanup by pid and
path even on failure: the holder processes, the daemons and their mounts, the users and groups.
"""

import errno
import json
import os
import pwd
import grp
import secrets
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mkdsys  # noqa: E402
from mkdsys import procs  # noqa: E402
import mkdsys.cluster  # noqa: E402
from mkdsys.cluster import Cluster  # noqa: E402
from mkdsys.memfs import Memfs  # noqa: E402

PAGE = 4096
SECRET = b"guest-secret-0123456789!"

# Runs probes as whoever runs it: argv[1] is a JSON list of [op, path, arg]; prints one JSON list
# of results, "ok" (with data for reads) or the errno's name.
PROBE_SCRIPT = r"""
import errno, json, os, sys
out = []
for op, path, arg in json.loads(sys.argv[1]):
    try:
        if op == "read":
            fd = os.open(path, os.O_RDONLY)
            try:
                out.append(["ok", os.pread(fd, arg, 0).hex()])
            finally:
                os.close(fd)
            continue
        if op == "open_rw":
            os.close(os.open(path, os.O_RDWR))
        elif op == "create":
            fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
            try:
                os.ftruncate(fd, arg)
            finally:
                os.close(fd)
        elif op == "run_vm":  # what QEMU does: create, size, write, read back
            fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
            try:
                os.ftruncate(fd, 1 << 20)
                os.pwrite(fd, bytes.fromhex(arg), 0)
                os.fsync(fd)
                out.append(["ok", os.pread(fd, len(arg) // 2, 0).hex()])
            finally:
                os.close(fd)
            continue
        elif op == "getxattr":
            out.append(["ok", os.getxattr(path, arg).hex()])
            continue
        elif op == "setxattr":
            os.setxattr(path, arg[0], bytes.fromhex(arg[1]))
        elif op == "mkdir":
            os.mkdir(path)
        elif op == "unlink":
            os.unlink(path)
        elif op == "listxattr_many":  # arg times; the result is the first error
            errs = set()
            for _ in range(arg):
                try:
                    os.listxattr(path)
                except OSError as e:
                    errs.add(errno.errorcode.get(e.errno, str(e.errno)))
            out.append([",".join(sorted(errs)) or "ok", ""])
            continue
        elif op == "listdir":
            out.append(["ok", ",".join(sorted(os.listdir(path)))])
            continue
        else:
            raise SystemExit("unknown probe " + op)
        out.append(["ok", ""])
    except OSError as e:
        out.append([errno.errorcode.get(e.errno, str(e.errno)), ""])
print(json.dumps(out))
"""


def build_dir() -> str:
    return os.environ.get("MKD_BUILD_DIR") or str(mkdsys.repo_root() / "build")


def run_as(user: str, probes, groups=None):
    """Runs probes as `user` (its primary group; `groups` replaces its supplementary groups)."""
    pw = pwd.getpwnam(user)
    argv = ["setpriv", "--reuid", str(pw.pw_uid), "--regid", str(pw.pw_gid)]
    argv += ["--groups", ",".join(str(g) for g in groups)] if groups else ["--clear-groups"]
    cp = subprocess.run(argv + [sys.executable, "-c", PROBE_SCRIPT, json.dumps(probes)],
                        capture_output=True, text=True, timeout=60)
    if cp.returncode != 0:
        raise AssertionError(f"probes as {user} failed: {cp.stderr}")
    return json.loads(cp.stdout)


def receive_frame(kind: int, first: int, count: int, gen: int, data: bytes = b"") -> bytes:
    """A user.mkd.receive frame (docs/formats.md, "Receive frame"): kind 0 pages, 1 zeros."""
    return b"MKDR" + struct.pack("<BBHQII", 1, kind, 0, first, count, gen) + data


class Holder:
    """A root process standing in for QEMU: holds a RAM file open for writing with SECRET at
    offset 0 until stopped (then the file becomes stored)."""

    def __init__(self, path: str, size: int = 1 << 20):
        code = ("import os,sys\n"
                f"fd=os.open({path!r}, os.O_CREAT|os.O_RDWR, 0o600)\n"
                f"os.ftruncate(fd, {size})\n"
                f"os.pwrite(fd, {SECRET!r}, 0)\n"
                "os.fsync(fd)\nprint('ready', flush=True)\nsys.stdin.read()\nos.close(fd)\n")
        self.proc = procs.spawn([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE)
        line = self.proc.stdout.readline()
        if line.strip() != b"ready":
            procs.stop(self.proc, term_timeout=2, kill_timeout=2)
            raise AssertionError(f"holder of {path} did not start")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
        procs.stop(self.proc, term_timeout=10, kill_timeout=5)


class Users:
    """Users and groups made for one test run, removed at the end (by name, which is random)."""

    def __init__(self):
        self.users, self.groups = [], []
        self.tag = secrets.token_hex(3)

    def group(self, role: str) -> str:
        name = f"mkd{role}{self.tag}"
        subprocess.run(["groupadd", name], check=True, capture_output=True, timeout=30)
        self.groups.append(name)
        return name

    def user(self, role: str, groups=()) -> str:
        name = f"mkd{role}{self.tag}"
        argv = ["useradd", "-M", "-N", "-g", "nogroup", "-s", "/usr/sbin/nologin"]
        if groups:
            argv += ["-G", ",".join(groups)]
        subprocess.run(argv + [name], check=True, capture_output=True, timeout=30)
        self.users.append(name)
        return name

    def remove(self) -> None:
        for u in self.users:
            subprocess.run(["userdel", u], check=False, capture_output=True, timeout=30)
        for g in self.groups:
            subprocess.run(["groupdel", g], check=False, capture_output=True, timeout=30)


class MountTest(unittest.TestCase):
    """One mkd-memfs per test, users made per class."""

    memfs_args = ()

    @classmethod
    def setUpClass(cls):
        cls.users = Users()
        try:
            cls.make_users()
        except BaseException:
            cls.users.remove()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.users.remove()

    @classmethod
    def make_users(cls):
        cls.stranger = cls.users.user("p")

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mkd-security-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        os.chmod(self.tmp, 0o755)  # other users must reach the mount point
        self.fs = Memfs(build_dir(), self.tmp, host_id="host-s", store_size="256m",
                        extra_args=list(self.memfs_args))
        self.addCleanup(self.fs.destroy)
        self.fs.start()
        self.holders = []
        self.addCleanup(lambda: [h.close() for h in self.holders])

    def new_vm(self) -> str:
        vm = str(uuid.uuid4())
        os.mkdir(self.fs.vm_dir(vm))
        return vm

    def ram(self, vm: str) -> str:
        return os.path.join(self.fs.vm_dir(vm), "ram")

    def live_vm(self) -> str:
        vm = self.new_vm()
        self.holders.append(Holder(self.ram(vm)))
        return vm

    def stored_vm(self) -> str:
        vm = self.new_vm()
        h = Holder(self.ram(vm))
        h.close()
        self.assertEqual(self.fs.summary(self.ram(vm))["state"], "stored")
        return vm

    def assertProbes(self, user, probes, expected, groups=None):
        results = run_as(user, probes, groups)
        got = [r[0] for r in results]
        self.assertEqual(got, expected, "\n".join(
            f"{p[0]} {os.path.basename(p[1])} {p[2] if p[0] != 'setxattr' else p[2][0]}: "
            f"{r[0]} (wanted {e})" for p, r, e in zip(probes, results, expected)))
        return results


class UnprivilegedUserTest(MountTest):
    """docs/security.md, probes 1-10: a local user without any role."""

    def test_a_stranger_reads_and_changes_nothing_of_a_vm(self):
        live, stored = self.live_vm(), self.stored_vm()
        live_ram, stored_ram = self.ram(live), self.ram(stored)
        stored_digests = self.fs.chunks(stored_ram, "user.mkd.digests")
        arrive = json.dumps({"epoch": 5, "lineage": str(uuid.uuid4())}).encode().hex()
        probes = [
            ["read", live_ram, 24],                                        # 1 live RAM
            ["read", stored_ram, 24],                                      # stored RAM
            ["setxattr", self.fs.vm_dir(live), ["user.mkd.advance", b'{"epoch":7}'.hex()]],
            ["setxattr", self.fs.vm_dir(stored), ["user.mkd.arrive", arrive]],  # 3 inject
            ["setxattr", stored_ram,
             ["user.mkd.receive", receive_frame(1, 0, 1, 1).hex()]],
            ["setxattr", self.fs.vm_dir(stored), ["user.mkd.commit", "31"]],
            ["open_rw", stored_ram, None],                                 # 4 wipe
            ["setxattr", live_ram, ["user.mkd.postcopy", b'{"fail":"x"}'.hex()]],  # 5
            ["getxattr", live_ram, "user.mkd.wanted"],                     # 6 steal
            ["getxattr", live_ram, "user.mkd.sync"],                       # 7 consume dirty log
            ["getxattr", live_ram, "user.mkd.table"],
            ["getxattr", stored_ram, "user.mkd.digests"],
            ["mkdir", os.path.join(self.fs.mountpoint, str(uuid.uuid4())), None],
            ["create", os.path.join(self.fs.vm_dir(live), "ram-huge"), 64 << 30],  # 8
            ["unlink", stored_ram, None],
            ["listdir", self.fs.vm_dir(live), None],
            ["getxattr", self.fs.mountpoint, "user.mkd.summary"],          # host: inspection
        ]
        expected = ["EACCES"] * (len(probes) - 1) + ["ok"]
        self.assertProbes(self.stranger, probes, expected)
        # Nothing changed: the live VM's epoch, the stored incarnation's pages and state.
        self.assertEqual(self.fs.summary(live_ram)["epoch"], "1")
        self.assertEqual(self.fs.summary(stored_ram)["state"], "stored")
        self.assertEqual(self.fs.chunks(stored_ram, "user.mkd.digests"), stored_digests)
        with open(stored_ram, "rb") as f:
            self.assertEqual(f.read(len(SECRET)), SECRET)
        self.assertEqual(sorted(os.listdir(self.fs.vm_dir(live))), ["ram"])

    def test_refusals_cost_a_bounded_number_of_log_lines(self):
        live = self.live_vm()
        before = self.fs.log().count("refused for uid")
        # listxattr is not checked by the kernel's mode check: each call reaches the daemon.
        self.assertProbes(self.stranger, [["listxattr_many", self.fs.vm_dir(live), 2000]],
                          ["EACCES"])
        logged = self.fs.log().count("refused for uid") - before
        self.assertGreater(logged, 0)
        self.assertLess(logged, 200, "at most 20 refusal lines a second are logged")

    def test_modes_say_who_may_do_what(self):
        live, stored = self.live_vm(), self.stored_vm()
        self.assertEqual(os.stat(self.fs.mountpoint).st_mode & 0o7777, 0o755)
        self.assertEqual(os.stat(self.fs.vm_dir(live)).st_mode & 0o7777, 0o700)
        self.assertEqual(os.stat(self.ram(live)).st_mode & 0o7777, 0o600)
        self.assertEqual(os.stat(self.ram(stored)).st_mode & 0o7777, 0o400)
        # An arrival pending makes the stored file writable for the destination QEMU.
        os.setxattr(self.fs.vm_dir(stored), "user.mkd.arrive",
                    json.dumps({"epoch": 2, "lineage": self.fs.summary(
                        self.ram(stored))["lineage"]}).encode())
        self.assertEqual(os.stat(self.ram(stored)).st_mode & 0o7777, 0o600)


class RolesTest(MountTest):
    """docs/security.md: the VM user runs its VM and controls nothing; the admin group controls."""

    @classmethod
    def make_users(cls):
        cls.stranger = cls.users.user("p")
        cls.admin_group = cls.users.group("adm")
        cls.vm_user = cls.users.user("q")
        cls.operator = cls.users.user("o", groups=[cls.admin_group])
        cls.memfs_args = ("--vm-user", cls.vm_user, "--vm-group", "nogroup",
                          "--admin-group", cls.admin_group)

    def test_the_vm_user_runs_its_vm_but_controls_nothing(self):
        vm = self.new_vm()
        ram = self.ram(vm)
        st = os.stat(self.fs.vm_dir(vm))
        self.assertEqual((st.st_uid, st.st_mode & 0o777),
                         (pwd.getpwnam(self.vm_user).pw_uid, 0o770))
        self.assertEqual(st.st_gid, grp.getgrnam(self.admin_group).gr_gid)
        r = self.assertProbes(self.vm_user, [["run_vm", ram, SECRET.hex()]], ["ok"])
        self.assertEqual(bytes.fromhex(r[0][1]), SECRET)
        self.holders.append(Holder(os.path.join(self.fs.vm_dir(vm), "ram-node1")))
        live = os.path.join(self.fs.vm_dir(vm), "ram-node1")
        # What the kernel lets the VM user through (it owns the files) the daemon refuses.
        probes = [
            ["read", live, 24],
            ["getxattr", live, "user.mkd.summary"],
            ["getxattr", live, "user.mkd.sync"],
            ["getxattr", live, "user.mkd.sync.mig-probe"],
            ["getxattr", live, "user.mkd.wanted"],
            ["setxattr", self.fs.vm_dir(vm), ["user.mkd.advance", b'{"epoch":2}'.hex()]],
            ["setxattr", live, ["user.mkd.postcopy", b'{"fail":"x"}'.hex()]],
            ["setxattr", live, ["user.mkd.receive", receive_frame(1, 0, 1, 0).hex()]],
            ["mkdir", os.path.join(self.fs.mountpoint, str(uuid.uuid4())), None],
        ]
        self.assertProbes(self.vm_user, probes, ["ok", "ok"] + ["EACCES"] * 7)
        uid = pwd.getpwnam(self.vm_user).pw_uid
        log = self.fs.log()
        for what in ("getxattr user.mkd.sync of", "getxattr user.mkd.wanted of",
                     "setxattr user.mkd.advance of", "setxattr user.mkd.receive of"):
            self.assertRegex(log, rf"{what} .*refused for uid {uid} ")
        self.assertEqual(self.fs.summary(live)["epoch"], "1")
        # A stranger gets nothing, here too.
        self.assertProbes(self.stranger, [["read", live, 24], ["getxattr", live, "user.mkd.sync"]],
                          ["EACCES", "EACCES"])

    def test_the_admin_group_controls(self):
        vm = self.live_vm()
        live = self.ram(vm)
        gid = grp.getgrnam(self.admin_group).gr_gid
        probes = [
            ["getxattr", live, "user.mkd.sync.mig-op"],
            ["getxattr", live, "user.mkd.table"],
            ["read", live, 24],
            ["setxattr", self.fs.vm_dir(vm), ["user.mkd.advance", b'{"epoch":2}'.hex()]],
            ["open_rw", live, None],  # only QEMU's user opens RAM files for writing
        ]
        self.assertProbes(self.operator, probes, ["ok", "ok", "ok", "ok", "EACCES"], groups=[gid])
        self.assertEqual(self.fs.summary(live)["epoch"], "2")
        # Without the group, the same user is a stranger.
        self.assertProbes(self.operator, probes[:1], ["EACCES"])


class QemuAsTheVmUserTest(MountTest):
    """The real thing: an unpatched QEMU, started as the VM user (as libvirt would with
    qemu.conf's user), runs a checker guest with its RAM on the mount; its writes reach the daemon;
    the file is the VM user's; a stranger reads nothing; when QEMU exits the file is stored."""

    @classmethod
    def make_users(cls):
        cls.stranger = cls.users.user("p")
        cls.vm_user = cls.users.user("q")
        cls.memfs_args = ("--vm-user", cls.vm_user, "--vm-group", "nogroup")

    def test_qemu_runs_as_the_vm_user_and_nobody_else_reads_its_memory(self):
        image = mkdsys.build_guest_image()
        vm = self.new_vm()
        pw = pwd.getpwnam(self.vm_user)
        run_dir = os.path.join(self.tmp, "vms")
        os.makedirs(os.path.join(run_dir, vm))
        for d in (run_dir, os.path.join(run_dir, vm)):
            os.chown(d, pw.pw_uid, pw.pw_gid)
        definition = os.path.join(self.tmp, "vm.json")
        mkdsys.cluster.write_vm_definition(
            definition, vm, "as-vm-user", 256, image, "checker",
            ["--mb", "4", "--sweep-interval-ms", "300"], [],
            {"type": "memfs", "dir": self.fs.mountpoint}, run_dir)
        mkd_vm = os.path.join(build_dir(), "qemu-config", "mkd-vm")
        cp = subprocess.run([mkd_vm, "cmdline", "--accel", "tcg", definition],
                            capture_output=True, text=True, timeout=60, check=True)
        argv = shlex.split(cp.stdout)
        with open(os.path.join(self.tmp, "qemu.out"), "wb") as out:
            qemu = procs.spawn(["setpriv", "--reuid", str(pw.pw_uid), "--regid",
                                str(pw.pw_gid), "--clear-groups", *argv],
                               stdout=out, stderr=subprocess.STDOUT)
        self.addCleanup(procs.stop, qemu, 10, 5)
        serial = mkdsys.SerialLog(os.path.join(run_dir, vm, "serial.log"))
        serial.wait_for(r"^MKD checker OK sweep=\d+$", timeout=120, fail_on=r"STALE|CORRUPT")
        ram = self.ram(vm)
        st = os.stat(ram)
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (pw.pw_uid, 0o600))
        self.assertEqual(self.fs.summary(ram)["state"], "live")
        sync = dict(kv.split("=", 1) for kv in os.getxattr(ram, "user.mkd.sync").decode().split())
        self.assertGreater(int(sync["dirty_pages"]), 0, "QEMU's writes reach the daemon")
        self.assertProbes(self.stranger, [["read", ram, 24], ["getxattr", ram, "user.mkd.table"]],
                          ["EACCES", "EACCES"])
        serial.wait_for(r"^MKD checker OK sweep=\d+$", timeout=60, fail_on=r"STALE|CORRUPT")
        procs.stop(qemu, 10, 5)
        deadline = time.monotonic() + 30
        while self.fs.summary(ram)["state"] != "stored" and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.fs.summary(ram)["state"], "stored")
        self.assertEqual(os.stat(ram).st_mode & 0o777, 0o400)


class OrderingTest(MountTest):
    """docs/security.md, ordering: what even root cannot make the daemon accept."""

    @classmethod
    def make_users(cls):
        pass

    def expect(self, err, fn, *args):
        with self.assertRaises(OSError) as cm:
            fn(*args)
        self.assertEqual(cm.exception.errno, err, f"{fn.__name__}{args[:2]}: {cm.exception}")

    def test_epochs_only_move_forward_in_small_steps(self):
        vm = self.live_vm()
        d = self.fs.vm_dir(vm)
        self.expect(errno.EINVAL, os.setxattr, d, "user.mkd.advance", b'{"epoch":4294967294}')
        self.expect(errno.EINVAL, os.setxattr, d, "user.mkd.advance", b'{"epoch":4}')
        self.expect(errno.EINVAL, os.setxattr, d, "user.mkd.advance", b'{"epoch":1}')
        os.setxattr(d, "user.mkd.advance", b'{"epoch":3}')  # what a migration's source does
        self.assertEqual(self.fs.summary(self.ram(vm))["epoch"], "3")

    def test_arrivals_and_received_generations_stay_below_what_they_must(self):
        vm = self.stored_vm()
        d, ram = self.fs.vm_dir(vm), self.ram(vm)
        lineage = self.fs.summary(ram)["lineage"]
        arrive = lambda e: os.setxattr(  # noqa: E731
            d, "user.mkd.arrive", json.dumps({"epoch": e, "lineage": lineage}).encode())
        os.setxattr(d, "user.mkd.arrive", json.dumps(  # another life: any epoch
            {"epoch": 1, "lineage": str(uuid.uuid4())}).encode())
        self.expect(errno.EINVAL, arrive, 1)  # pages here were written in epoch 1
        self.expect(errno.EINVAL, arrive, 4294967294)  # no room for the next migrations
        # Commit with nothing incoming (QEMU never opened the file) is refused.
        arrive(3)
        self.expect(errno.EBUSY, os.setxattr, d, "user.mkd.commit", b"1")
        # Incoming now; generations at or above the arrival's epoch are refused.
        fd = os.open(ram, os.O_RDWR)
        try:
            self.expect(errno.EINVAL, os.setxattr, ram, "user.mkd.receive",
                        receive_frame(1, 0, 1, 3))
            self.expect(errno.EINVAL, os.setxattr, ram, "user.mkd.receive",
                        receive_frame(0, 0, 1, 0xFFFFFFFF, b"\x42" * PAGE))
            try:
                os.setxattr(ram, "user.mkd.receive", receive_frame(0, 0, 1, 2, b"\x42" * PAGE))
            except OSError:
                print(self.fs.log()[-1500:])
                raise
            os.setxattr(d, "user.mkd.commit", b"1")
        finally:
            os.close(fd)
        self.assertEqual(self.fs.summary(ram)["state"], "stored")
        self.assertEqual(self.fs.summary(ram)["epoch"], "3")


class SyncReaderDuringMigrationTest(unittest.TestCase):
    """A root process reads user.mkd.sync of the source's RAM file in a loop while a pre-copy
    migration of a writing checker guest runs without --verify: the checker stays OK at the
    destination (a page missed by a round would show as STALE within one sweep)."""

    def test_a_third_party_sync_cannot_make_a_migration_miss_a_page(self):
        c = Cluster(build_dir(), "sec", hosts=2)
        self.addCleanup(c.close)
        c.up()
        # 4 MB rewritten every 100 ms: pages are dirtied during every round and right before the
        # pause, so a round that missed pages leaves stale ones at the destination.
        c.start_vm(0, run="checker", args=["--mb", "4", "--sweep-interval-ms", "100"])
        serial = c.serial(0)
        serial.wait_for(r"^MKD checker ready mb=4 ", timeout=90)
        serial.wait_for(r"^MKD checker OK sweep=\d+$", timeout=90, fail_on=r"STALE|CORRUPT")
        ram = c.ram_file(0)
        stop = threading.Event()
        reads = {"ok": 0, "pages": 0, "errors": 0}

        def reader():
            while not stop.is_set():
                try:
                    text = os.getxattr(ram, "user.mkd.sync").decode()
                    reads["ok"] += 1
                    reads["pages"] += int(text.split()[0].split("=")[1])
                    time.sleep(0.005)
                except OSError:
                    reads["errors"] += 1  # the file becomes stored when the VM has left
                    time.sleep(0.01)

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        try:
            cp = c.migrate(0, 1)
        finally:
            stop.set()
            t.join(30)
        self.assertEqual(cp.returncode, 0, f"{cp.stderr}\n{c.serve_log(1)[-3000:]}")
        report = c.report(cp)
        print(f"third-party syncs during the migration: {reads}; rounds "
              f"{len(report['rounds'])}", file=sys.stderr)
        self.assertGreater(reads["ok"], 10, "the reader must have raced the migration")
        self.assertGreater(reads["pages"], 0, "the reader must have taken pages")
        self.assertFalse(report["verified"])
        dst = c.serial(1)
        for _ in range(3):
            dst.wait_for(r"^MKD checker OK sweep=\d+$", timeout=90, fail_on=r"STALE|CORRUPT")


if __name__ == "__main__":
    unittest.main(verbosity=2)
