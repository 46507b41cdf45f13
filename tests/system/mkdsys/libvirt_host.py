"""A lab host that runs libvirt: libvirtd and virtlogd inside host i of a mkdlab.Lab, with the
host's own /etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/log/libvirt, /var/cache/libvirt,
/etc/miyakodori and /run/miyakodori, hostname and libvirt host UUID, so two such hosts can
migrate a domain between them with `virsh migrate` as two machines would.

    with LibvirtHost(lab, 0) as a, LibvirtHost(lab, 1) as b:    # up(); down() on exit
        with open(a.host_path("/etc/miyakodori/dom.xml"), "w") as f:
            f.write(xml)                                         # paths as the host sees them
        a.virsh("define", "/etc/miyakodori/dom.xml")
        a.virsh("start", "dom")
        a.virsh("migrate", "dom", b.uri(), "--migrateuri", "unix:///run/mkd-lab/...")

How: a holder process (`sleep infinity`) in host i's network namespace gets its own mount and UTS
namespaces (`unshare --mount --uts --propagation slave`); in there, directories under
`lab.state_dir(i)/libvirt/` are bind-mounted over the paths above (`host_path()` maps a path as
the host sees it to the root namespace's path of the same file) and the hostname is the lab's
host id. The host has no KVM: a root-only empty file hides /dev/kvm (below). Everything of the
host (virsh, libvirtd, virtlogd, QEMU, a test's own commands through `command()`/`exec()`/
`popen()`) runs in these namespaces through `nsenter -t <holder pid>`;
commands start in "/" (entering a mount namespace resets the working directory), so give them
absolute paths. Outside the bind-mounted directories a host sees the root namespace's files:
`uri()` names this host's libvirt socket by its root-namespace path, which other hosts see.

No KVM: libvirt probes QEMU's capabilities as root but checks that /dev/kvm is usable by QEMU's
user; where /dev/kvm is root's only (0600 root:root: this machine, no udev to give it to the
group kvm), the two disagree, libvirt takes its cache of capabilities for outdated on every call
and probes QEMU again (4 s here, several times per migration: hops of 30-40 s, and the
destination's arrival timed out while libvirt probed). An empty 0600 file bound over /dev/kvm
makes both say "no KVM" on any machine; the lab's guests use TCG anyway.

Mounts: the root namespace of this machine is private, so up() bind-mounts the lab host's
directory (`/run/mkd-lab/<lab>/h<i>`, holding mount_dir and state_dir) onto itself as a *shared*
mount before the namespace is made: a file system mounted later in the root namespace at or under
that directory (a tmpfs or mkd-memfs at `host_path("/run/miyakodori/mem")`, or at
`lab.mount_dir(i)`) then appears inside the host too. Mounts made inside the host (through
`exec(["mount", ...])`) stay there and vanish with the host. up() refuses to start when something
is already mounted under the lab host's directory (the bind would hide it); mount after up().

down() ends everything by process id, never by name: the running domains are destroyed with
virsh, then libvirtd and virtlogd (their pid files), any QEMU or other process left in the
host's namespaces, the processes popen() started, the holder; then the shared bind mount is
removed. It never blocks longer than its timeouts, works after an up() that failed half way, and
is idempotent. Not thread-safe. Needs root, libvirt-daemon, libvirt-daemon-driver-qemu,
libvirt-clients and the user libvirt-qemu and groups libvirt-qemu and kvm (scripts/install-deps).
"""

import grp
import os
import pwd
import re
import shlex
import signal
import subprocess
import time
import uuid
import sys
from typing import Dict, List, Optional, Sequence

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lab"))
from mkdlab.common import _proc_start  # noqa: E402  (start time of a pid: one owner, the lab's)

# The directories every host has of its own, as the host sees them.
HOST_DIRS = ("/etc/libvirt", "/run/libvirt", "/var/lib/libvirt", "/var/log/libvirt",
             "/var/cache/libvirt", "/etc/miyakodori", "/run/miyakodori")
# Created empty in each host's directories (the standard miyakodori paths).
HOST_SUBDIRS = ("/etc/miyakodori/vms", "/etc/miyakodori/tls", "/run/miyakodori/vms")
SYSTEM_URI = "qemu:///system"
LIBVIRTD_LOG = "/var/log/libvirt/libvirtd.log"
VIRTLOGD_LOG = "/var/log/libvirt/virtlogd.log"
LIBVIRTD_PID = "/run/libvirt/libvirtd.pid"
VIRTLOGD_PID = "/run/libvirt/virtlogd.pid"
CMD_TIMEOUT = 30.0  # seconds, for every mount/umount/daemon start here


class LibvirtHostError(RuntimeError):
    """A LibvirtHost operation failed; the message says what and, where known, why."""


def _source_name(path: str) -> str:
    """Its directory under <state_dir>/libvirt/: /etc/miyakodori -> etc-miyakodori."""
    return path.strip("/").replace("/", "-")


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def _ns(pid: int, kind: str) -> Optional[str]:
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None


def _mounts_at_or_under(path: str) -> List[str]:
    prefix = path.rstrip("/") + "/"
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])
            if mp == path or mp.startswith(prefix):
                out.append(mp)
    return out


def _run(argv: Sequence[str], timeout: float = CMD_TIMEOUT) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired as e:
        raise LibvirtHostError(f"timed out after {timeout:g} s: {' '.join(argv)}") from e


def _kill(pids: Dict[int, Optional[int]], term_timeout: float = 5.0,
          kill_timeout: float = 3.0) -> List[int]:
    """SIGTERM every (pid, start time) still alive, SIGKILL after term_timeout. Returns the pids
    still alive kill_timeout after the SIGKILL (stuck in the kernel)."""
    def alive(p: int, s: Optional[int]) -> bool:
        now = _proc_start(p)
        return now is not None and (s is None or now == s)

    pids = {p: s for p, s in pids.items() if p > 1 and p != os.getpid()}
    for sig, wait in ((signal.SIGTERM, term_timeout), (signal.SIGKILL, kill_timeout)):
        for p, s in pids.items():
            if alive(p, s):
                try:
                    os.kill(p, sig)
                except (ProcessLookupError, PermissionError):
                    pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not any(alive(p, s) for p, s in pids.items()):
                return []
            time.sleep(0.05)
    return [p for p, s in pids.items() if alive(p, s)]


def _wait_reaped(pids: Sequence[int], timeout: float = 5.0) -> None:
    """Waits (at most timeout) until the dead pids have left /proc. A daemon's zombie belongs
    to pid 1, which here reaps orphans only every second or two: `ps` would still list it."""
    deadline = time.monotonic() + timeout
    while any(os.path.exists(f"/proc/{p}") for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)


class LibvirtHost:
    """Host i of `lab` running libvirtd (QEMU as qemu_user:qemu_group). See the module doc."""

    def __init__(self, lab, i: int, qemu_user: str = "libvirt-qemu", qemu_group: str = "kvm"):
        self.lab = lab
        self.i = i
        self.qemu_user = qemu_user
        self.qemu_group = qemu_group
        self.host_id = lab.host_id(i)
        self.base = os.path.join(lab.state_dir(i), "libvirt")
        # The lab host's own directory (mount_dir and state_dir): made a shared mount by up().
        self.shared_dir = os.path.commonpath([lab.mount_dir(i), lab.state_dir(i)])
        self.host_uuid = str(uuid.uuid4())
        self.holder: Optional[subprocess.Popen] = None
        self._holder_log = None
        self._uts_ns: Optional[str] = None
        self._ns_fds: List[int] = []  # the namespaces held open (see _start_holder)
        self._mnt_ns: Optional[str] = None
        self._bound_shared = False
        self._procs: List[subprocess.Popen] = []

    # ---- facts
    @property
    def qemu_uid(self) -> int:
        return pwd.getpwnam(self.qemu_user).pw_uid

    @property
    def qemu_gid(self) -> int:
        return grp.getgrnam(self.qemu_group).gr_gid

    def host_path(self, path: str) -> str:
        """The root namespace's path of `path` as this host sees it. Under one of HOST_DIRS:
        the file in the host's own directory (/etc/miyakodori/vms/x.json ->
        <state_dir>/libvirt/etc-miyakodori/vms/x.json); elsewhere `path` itself (the host sees
        the root namespace's files there). ValueError for a relative path."""
        if not os.path.isabs(path):
            raise ValueError(f"not an absolute path: {path!r}")
        path = os.path.normpath(path)
        for d in HOST_DIRS:
            if path == d or path.startswith(d + "/"):
                return os.path.join(self.base, _source_name(d), os.path.relpath(path, d))
        return path

    def uri(self) -> str:
        """A libvirt URI by which virsh (or libvirtd) in another host of the lab, or in the root
        namespace, reaches this host's libvirtd."""
        return f"qemu+unix:///system?socket={self.host_path('/run/libvirt/libvirt-sock')}"

    def holder_pid(self) -> int:
        if self.holder is None or self.holder.poll() is not None:
            raise LibvirtHostError(f"{self.host_id}: the host is not up (no holder process)")
        return self.holder.pid

    # ---- running things in the host
    def command(self, argv: Sequence[str]) -> List[str]:
        """argv running `argv` inside the host (its network, mount and UTS namespaces)."""
        return ["nsenter", "-t", str(self.holder_pid()), "--net", "--mount", "--uts", "--",
                *argv]

    def exec(self, argv: Sequence[str], timeout: float = 60,
             check: bool = True) -> subprocess.CompletedProcess:
        """Runs argv inside the host with the lab's MKD_* variables; output captured as text.
        LibvirtHostError on a timeout (the command is killed) or, with check, a failure."""
        try:
            cp = subprocess.run(self.command(argv), capture_output=True, text=True,
                                timeout=timeout, stdin=subprocess.DEVNULL,
                                env=self.lab.env(self.i), check=False)
        except subprocess.TimeoutExpired as e:
            raise LibvirtHostError(f"{self.host_id}: timed out after {timeout:g} s: "
                                   f"{' '.join(argv)}") from e
        if check and cp.returncode != 0:
            raise LibvirtHostError(f"{self.host_id}: {' '.join(argv)} failed ({cp.returncode}): "
                                   f"{(cp.stderr or cp.stdout).strip()}")
        return cp

    def popen(self, argv: Sequence[str], **kw) -> subprocess.Popen:
        """subprocess.Popen of argv inside the host (env: the lab's MKD_* variables added to
        kw's env or os.environ). down() ends it (SIGTERM, then SIGKILL) unless it ended before."""
        env = self.lab.env(self.i, kw.pop("env", None))
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(self.command(argv), env=env, **kw)
        self._procs.append(p)
        return p

    def virsh(self, *args: str, check: bool = True,
              timeout: float = 60) -> subprocess.CompletedProcess:
        """`virsh -c qemu:///system ARGS` inside the host (its own libvirtd)."""
        return self.exec(["virsh", "-c", SYSTEM_URI, *args], timeout=timeout, check=check)

    def libvirtd_log(self, lines: int = 40) -> str:
        """The end of the host's libvirtd log (warnings and errors)."""
        try:
            with open(self.host_path(LIBVIRTD_LOG), "rb") as f:
                text = f.read().decode(errors="replace")
        except FileNotFoundError:
            return "(no libvirtd log)"
        return "\n".join(text.splitlines()[-lines:])

    # ---- lifecycle
    def up(self, timeout: float = 60) -> "LibvirtHost":
        """Makes the host's directories and namespaces, starts virtlogd and libvirtd and returns
        once `virsh list` answers within timeout seconds. On any failure it calls down() itself
        and raises LibvirtHostError, with the end of libvirtd's log when libvirtd is at fault."""
        if self.holder is not None:
            raise LibvirtHostError(f"{self.host_id}: up() twice")
        try:
            self._check_accounts()
            self._make_dirs()
            self._write_configs()
            self._bind_shared()
            self._start_holder()
            self.exec(["virtlogd", "-d", "-p", VIRTLOGD_PID], timeout=CMD_TIMEOUT)
            try:
                self.exec(["libvirtd", "-d", "-p", LIBVIRTD_PID], timeout=timeout)
            except LibvirtHostError as e:
                if not os.path.exists(self.host_path(LIBVIRTD_LOG)):
                    raise  # it failed before logging: its stderr is in the message
                raise LibvirtHostError(f"{e}\n--- {self.host_path(LIBVIRTD_LOG)} (end) ---\n"
                                       f"{self.libvirtd_log()}") from None
            self._wait_libvirtd(timeout)
        except BaseException:
            self.down()
            raise
        return self

    def __enter__(self) -> "LibvirtHost":
        return self.up()

    def __exit__(self, *exc) -> None:
        self.down()

    def _check_accounts(self) -> None:
        # libvirtd refuses to start without these even when QEMU runs as another user.
        missing = []
        for name, lookup in (("user libvirt-qemu", lambda: pwd.getpwnam("libvirt-qemu")),
                             ("group libvirt-qemu", lambda: grp.getgrnam("libvirt-qemu")),
                             ("group kvm", lambda: grp.getgrnam("kvm")),
                             (f"user {self.qemu_user}", lambda: pwd.getpwnam(self.qemu_user)),
                             (f"group {self.qemu_group}", lambda: grp.getgrnam(self.qemu_group))):
            try:
                lookup()
            except KeyError:
                missing.append(name)
        if missing:
            raise LibvirtHostError(f"missing {', '.join(missing)} (scripts/install-deps creates "
                                   f"the user libvirt-qemu and the groups libvirt-qemu and kvm)")

    def _make_dirs(self) -> None:
        for d in HOST_DIRS:
            os.makedirs(d, mode=0o755, exist_ok=True)  # the mount points; empty, harmless
            os.makedirs(self.host_path(d), mode=0o755, exist_ok=True)
            os.chmod(self.host_path(d), 0o755)
        for d in HOST_SUBDIRS:
            os.makedirs(self.host_path(d), mode=0o755, exist_ok=True)

    def _write_configs(self) -> None:
        def write(path: str, text: str) -> None:
            with open(self.host_path(path), "w") as f:
                f.write(text)

        write("/etc/libvirt/libvirtd.conf", f"""\
# {self.host_id}: written by tests/system/mkdsys/libvirt_host.py
# libvirt refuses to migrate to a host with its own UUID: every lab host has another.
host_uuid = "{self.host_uuid}"
# The sockets are root's only; root needs no further authentication (no polkit, no dbus here).
unix_sock_group = "root"
unix_sock_ro_perms = "0700"
unix_sock_rw_perms = "0700"
unix_sock_admin_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "3:file:{LIBVIRTD_LOG}"
""")
        write("/etc/libvirt/qemu.conf", f"""\
# {self.host_id}: written by tests/system/mkdsys/libvirt_host.py
user = "{self.qemu_user}"
group = "{self.qemu_group}"
security_driver = "none"
# libvirt changes the owner of no file: the guest image is a cache shared by every test (world
# readable); directories QEMU writes to are prepared by the test (owned by user:group).
dynamic_ownership = 0
remember_owner = 0
# No cgroups (same-named domains on two hosts of one machine would share their paths) and no
# private mount namespace per QEMU: QEMU sees the host's mounts as they are.
cgroup_controllers = [ ]
namespaces = [ ]
""")
        write("/etc/libvirt/virtlogd.conf", f"""\
# {self.host_id}: written by tests/system/mkdsys/libvirt_host.py
log_outputs = "3:file:{VIRTLOGD_LOG}"
""")

    def _bind_shared(self) -> None:
        mounted = _mounts_at_or_under(self.shared_dir)
        if mounted:
            raise LibvirtHostError(
                f"{self.host_id}: {', '.join(mounted)} already mounted: start the LibvirtHost "
                f"before mounting anything under {self.shared_dir}")
        self._bound_shared = True  # before the mount: down() then tries to undo it
        for argv in (["mount", "--bind", self.shared_dir, self.shared_dir],
                     ["mount", "--make-shared", self.shared_dir]):
            cp = _run(argv)
            if cp.returncode != 0:
                raise LibvirtHostError(f"{self.host_id}: {' '.join(argv)}: {cp.stderr.strip()}")

    def _start_holder(self) -> None:
        binds = " && ".join(
            f"mount --bind {shlex.quote(self.host_path(d))} {d}" for d in HOST_DIRS)
        if os.path.exists("/dev/kvm"):
            binds += f" && mount --bind {shlex.quote(self._no_kvm())} /dev/kvm"
        script = f"{binds} && hostname {shlex.quote(self.host_id)} && exec sleep infinity"
        self._holder_log = open(os.path.join(self.base, "holder.log"), "ab")
        self.holder = self.lab.popen(
            self.i, ["unshare", "--mount", "--uts", "--propagation", "slave", "sh", "-c", script],
            stdin=subprocess.DEVNULL, stdout=self._holder_log, stderr=subprocess.STDOUT)
        mine = _ns(os.getpid(), "mnt")
        deadline = time.monotonic() + CMD_TIMEOUT
        while True:
            pid = self.holder.pid
            if self.holder.poll() is not None:
                raise LibvirtHostError(f"{self.host_id}: the namespace holder exited with status "
                                       f"{self.holder.returncode}: {self._read_holder_log()}")
            if _comm(pid) == "sleep" and _ns(pid, "mnt") not in (None, mine):
                # Held open until down() forgets them: a namespace lives while a descriptor of
                # it is open, so its inode number cannot name another test's namespace while
                # down() still looks for this host's processes by it.
                self._ns_fds = [os.open(f"/proc/{pid}/ns/{k}", os.O_RDONLY) for k in ("mnt", "uts")]
                self._mnt_ns, self._uts_ns = _ns(pid, "mnt"), _ns(pid, "uts")
                return
            if time.monotonic() > deadline:
                raise LibvirtHostError(f"{self.host_id}: the namespace holder was not ready "
                                       f"within {CMD_TIMEOUT:g} s: {self._read_holder_log()}")
            time.sleep(0.02)

    def _no_kvm(self) -> str:
        """An empty file only root may open, bound over /dev/kvm in the host (see the module's
        comment, "No KVM")."""
        path = os.path.join(self.base, "no-kvm")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        os.chmod(path, 0o600)
        return path

    def _read_holder_log(self) -> str:
        try:
            with open(os.path.join(self.base, "holder.log"), "rb") as f:
                return f.read().decode(errors="replace").strip() or "(no output)"
        except OSError:
            return "(no output)"

    def _wait_libvirtd(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            try:
                cp = self.virsh("list", check=False, timeout=10)
                if cp.returncode == 0:
                    return
                last = cp.stderr.strip()
            except LibvirtHostError as e:
                last = str(e)
            if time.monotonic() > deadline:
                raise LibvirtHostError(
                    f"{self.host_id}: libvirtd did not answer within {timeout:g} s ({last})\n"
                    f"--- {self.host_path(LIBVIRTD_LOG)} (end) ---\n{self.libvirtd_log()}")
            time.sleep(0.2)

    def down(self) -> List[str]:
        """Ends everything up() and popen() started, by process id, and removes the shared bind
        mount; returns warnings (what could not be ended or removed), never raises for what is
        gone already. Every step has a timeout (virsh 15 s, and 30 s a domain; each kill SIGTERM
        then SIGKILL within 13 s; the wait for reaping 5 s). Idempotent; safe after an up()
        that failed anywhere."""
        warnings: List[str] = []
        holder_alive = self.holder is not None and self.holder.poll() is None
        if holder_alive:
            self._destroy_domains(warnings)
        ended: List[int] = []
        # libvirtd and virtlogd by their pid files (checked to be what they say, in this host)
        # first, so that none of them restarts or waits for what is killed next.
        daemons: Dict[int, Optional[int]] = {}
        for pid_file, name in ((LIBVIRTD_PID, "libvirtd"), (VIRTLOGD_PID, "virtlogd")):
            pid = self._read_pid(pid_file)
            if pid is not None and _comm(pid) == name and self._in_host(pid):
                daemons[pid] = _proc_start(pid)
        ended += daemons
        self._warn_survivors(_kill(daemons, term_timeout=10), warnings)
        # QEMU left by libvirtd, and whatever else still runs in the host but the holder.
        rest = self._host_pids(exclude_holder=True)
        ended += rest
        self._warn_survivors(_kill(rest), warnings)
        for p in self._procs + ([self.holder] if self.holder is not None else []):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    try:
                        p.wait(3)
                    except subprocess.TimeoutExpired:
                        warnings.append(f"{self.host_id}: process {p.pid} survived SIGKILL")
        # Anything that entered the host meanwhile (a command of another thread).
        rest = self._host_pids(exclude_holder=False)
        ended += rest
        self._warn_survivors(_kill(rest), warnings)
        _wait_reaped(ended)
        if self._holder_log is not None:
            self._holder_log.close()
            self._holder_log = None
        if self._bound_shared:
            self._unbind_shared(warnings)
        self._procs = [p for p in self._procs if p.poll() is None]
        if not self._procs and not self._host_pids(exclude_holder=False) and (
                self.holder is None or self.holder.poll() is not None):
            # Nothing is left in the namespaces, so they are gone: forget them (their inode
            # numbers may name other namespaces later) and allow another up().
            self.holder = None
            self._uts_ns = self._mnt_ns = None
            for fd in self._ns_fds:
                os.close(fd)
            self._ns_fds = []
        return warnings

    def _warn_survivors(self, pids: List[int], warnings: List[str]) -> None:
        if pids:
            names = ", ".join(f"{p} ({_comm(p)})" for p in pids)
            warnings.append(f"{self.host_id}: processes survived SIGKILL: {names}")

    def _destroy_domains(self, warnings: List[str]) -> None:
        try:
            cp = self.virsh("list", "--name", check=False, timeout=15)
        except LibvirtHostError as e:
            warnings.append(str(e))
            return
        if cp.returncode != 0:
            return  # libvirtd is not running (up() failed, or it died): killed below
        for name in cp.stdout.split():
            try:
                d = self.virsh("destroy", name, check=False, timeout=30)
                if d.returncode != 0:
                    warnings.append(f"{self.host_id}: virsh destroy {name}: {d.stderr.strip()}")
            except LibvirtHostError as e:
                warnings.append(str(e))

    def _read_pid(self, path: str) -> Optional[int]:
        try:
            with open(self.host_path(path)) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def _in_host(self, pid: int) -> bool:
        if self._uts_ns is None:
            return False
        return _ns(pid, "uts") == self._uts_ns or _ns(pid, "mnt") == self._mnt_ns

    def _host_pids(self, exclude_holder: bool) -> Dict[int, Optional[int]]:
        """Every process in the host's UTS or mount namespace (QEMU in a mount namespace of its
        own still shares the UTS namespace), with its start time."""
        if self._uts_ns is None:
            return {}
        holder = self.holder.pid if self.holder is not None else None
        out = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            if exclude_holder and pid == holder:
                continue
            if self._in_host(pid):
                start = _proc_start(pid)
                if start is not None:
                    out[pid] = start
        return out

    def _unbind_shared(self, warnings: List[str]) -> None:
        for _ in range(4):  # one bind; more only if someone bound it again
            if self.shared_dir not in _mounts_at_or_under(self.shared_dir):
                break
            try:
                cp = _run(["umount", self.shared_dir])
            except LibvirtHostError as e:
                warnings.append(str(e))
                return
            if cp.returncode != 0:
                under = [m for m in _mounts_at_or_under(self.shared_dir) if m != self.shared_dir]
                warnings.append(f"{self.host_id}: umount {self.shared_dir}: {cp.stderr.strip()} "
                                f"(mounted under it: {under}; unmount those before down()); "
                                f"detached lazily with everything under it")
                if _run(["umount", "-l", self.shared_dir]).returncode != 0:
                    return
        self._bound_shared = False
