"""One mkd-memfs daemon for a system test: a page store on its own tmpfs, a database directory,
a mount point; start, wait until mounted, stop, and a certain cleanup even when the daemon hangs.

    with mkdsys.Memfs(build_dir, workdir, host_id="host-a") as fs:
        os.mkdir(fs.vm_dir(uuid))          # then put RAM files there (QEMU, or by hand)
        fs.xattr(path, mp.SYNC)          # names: mkdsys.memfs_protocol

Cleanup order on stop(): SIGTERM twice (the daemon refuses the first while RAM files are in use),
SIGKILL after a timeout; if the mount is still there (a stuck daemon), the FUSE connection is
aborted through fusectl and the mount is detached; the tmpfs is unmounted. Nothing is found by
name: the daemon by its pid, the mount by its path. `command_prefix` runs the daemon elsewhere,
e.g. ["nsenter", "--net=/run/netns/x"] inside a lab host (mounts stay visible to the host).
"""

import ctypes
import json
import os
import subprocess
import tempfile
import time
from typing import List, Optional, Sequence

from . import memfs_protocol as mp
from . import procs
from .logwait import LogMark, LogWaitError

FUSE_SUPER_MAGIC = 0x65735546


class MemfsError(Exception):
    pass


def fs_type(path: str) -> Optional[int]:
    """statfs(2) f_type of path, or None when it cannot be read (e.g. a dead FUSE mount)."""
    class StatFs(ctypes.Structure):
        _fields_ = [("f_type", ctypes.c_long), ("rest", ctypes.c_byte * 112)]
    libc = ctypes.CDLL(None, use_errno=True)
    buf = StatFs()
    if libc.statfs(os.fsencode(path), ctypes.byref(buf)) != 0:
        return None
    return buf.f_type


def is_mounted(path: str) -> bool:
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == real for line in f)


def abort_fuse_connection(mountpoint: str) -> None:
    """Aborts the FUSE connection of a (stuck) mount, then detaches it."""
    if not os.path.isdir("/sys/fs/fuse/connections/") or not os.listdir(
            "/sys/fs/fuse/connections/"):
        subprocess.run(["mount", "-t", "fusectl", "fusectl", "/sys/fs/fuse/connections"],
                       check=False, capture_output=True)
    real = os.path.realpath(mountpoint)
    with open("/proc/self/mountinfo") as f:
        devs = [line.split()[2] for line in f if line.split()[4] == real]
    for dev in devs:
        minor = dev.split(":")[1]
        abort = f"/sys/fs/fuse/connections/{minor}/abort"
        if os.path.exists(abort):
            with open(abort, "w") as f:
                f.write("1")
    subprocess.run(["umount", "-l", real], check=False, capture_output=True)


def decode_chunks(mkd_genstore: str, chunks: List[bytes]) -> dict:
    """`mkd-genstore decode --json` of the chunks of one chunked attribute (a table, bitmap or
    digest list): kind, vm, block, epoch, pages, runs."""
    with tempfile.TemporaryDirectory(prefix="mkd-chunks-") as d:
        paths = []
        for i, c in enumerate(chunks):
            p = os.path.join(d, f"chunk.{i}")
            with open(p, "wb") as f:
                f.write(c)
            paths.append(p)
        out = subprocess.run([mkd_genstore, "decode", "--json", *paths], check=True,
                             capture_output=True, text=True, timeout=60).stdout
    return json.loads(out)


class Memfs:
    def __init__(self, build_dir: str, workdir: str, host_id: str = "host-a",
                 store_size: str = "2g", extra_args: Sequence[str] = (),
                 command_prefix: Sequence[str] = (), log_name: str = "memfs.log"):
        self.binary = os.path.join(build_dir, "memfs", "mkd-memfs")
        if not os.access(self.binary, os.X_OK):
            raise MemfsError(f"{self.binary} is not built")
        self.workdir = workdir
        self.host_id = host_id
        self.mountpoint = os.path.join(workdir, "mnt")
        self.store = os.path.join(workdir, "store")
        self.db = os.path.join(workdir, "db")
        self.log_path = os.path.join(workdir, log_name)
        self.store_size = store_size
        self.extra_args = list(extra_args)
        self.command_prefix = list(command_prefix)
        self.proc: Optional[subprocess.Popen] = None
        self.run_mark: Optional[LogMark] = None  # where the log of the current run begins
        self._log = None
        for d in (self.mountpoint, self.store, self.db):
            os.makedirs(d, exist_ok=True)
        if not is_mounted(self.store):
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={store_size}", "mkd-store",
                            self.store], check=True)

    # ---- lifecycle
    def start(self, timeout: float = 20.0) -> "Memfs":
        """Starts the daemon; returns once it is mounted and this run (not an earlier one: the
        log is appended to) said it is ready. MemfsError, with the log's end, otherwise."""
        self.run_mark = LogMark(self.log_path)
        self._log = open(self.log_path, "ab")
        argv = self.command_prefix + [self.binary, self.mountpoint, "--store", self.store,
                                      "--db", self.db, "--host-id", self.host_id] + self.extra_args
        self.proc = procs.spawn(argv, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        try:
            self.run_mark.wait_for(r"mkd-memfs ready", timeout, proc=self.proc, what="mkd-memfs")
        except LogWaitError as e:
            raise MemfsError(f"mkd-memfs did not start: {e}") from None
        while not is_mounted(self.mountpoint):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise MemfsError(f"mkd-memfs said ready but {self.mountpoint} is not mounted "
                                 f"(status {self.proc.poll()}):\n{self.run_mark.tail()}")
            time.sleep(0.05)
        return self

    def kill9(self) -> None:
        """SIGKILL, as a crash; the dead mount is detached so the daemon can be started again."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if is_mounted(self.mountpoint):
            abort_fuse_connection(self.mountpoint)
        if self._log:
            self._log.close()
            self._log = None

    def stop(self, timeout: float = 15.0) -> Optional[int]:
        """Stops the daemon (SIGTERM twice, then SIGKILL); returns its exit status."""
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(1.0)
                except subprocess.TimeoutExpired:
                    self.proc.terminate()  # the first one is refused while RAM files are in use
            rc = procs.stop(self.proc, term_timeout=timeout, kill_timeout=10)
        if is_mounted(self.mountpoint):
            abort_fuse_connection(self.mountpoint)
        if self._log:
            self._log.close()
            self._log = None
        return rc

    def destroy(self) -> None:
        """stop(), then unmount the page-store tmpfs."""
        self.stop()
        if is_mounted(self.store):
            subprocess.run(["umount", "-l", self.store], check=False)

    def __enter__(self) -> "Memfs":
        try:
            return self.start()
        except BaseException:
            self.destroy()  # __exit__ will not run: unmount the page-store tmpfs here
            raise

    def __exit__(self, *exc) -> None:
        self.destroy()

    # ---- inspection
    def log(self) -> str:
        """The whole log, every run's lines (run_log(): the current run's)."""
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def run_log(self) -> str:
        """The lines the current (or last) run of the daemon logged: those after run_mark."""
        return self.run_mark.text() if self.run_mark is not None else ""

    def vm_dir(self, vm: str) -> str:
        return os.path.join(self.mountpoint, vm)

    def xattr(self, path: str, name: str) -> bytes:
        return os.getxattr(path, name)

    def summary(self, path: str) -> dict:
        """user.mkd.summary as a dict of its key=value pairs (memfs_protocol.parse_summary)."""
        return mp.parse_summary(os.getxattr(path, mp.SUMMARY).decode())

    def chunks(self, path: str, base: str) -> List[bytes]:
        """All chunks of a chunked attribute (user.mkd.table, .dirty, .synced, .reusable)."""
        count = mp.parse_chunk_description(os.getxattr(path, base).decode())
        return [os.getxattr(path, mp.chunk_name(base, i)) for i in range(count)]
