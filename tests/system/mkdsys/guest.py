"""One QEMU guest running the miyakodori guest image (tests/guest/README.md).

    config = GuestConfig(run="pagewriter", args=["--mb", "32", "--wait-input"])
    with Guest(config, build_guest_image()) as guest:   # starts QEMU, stops it on exit
        guest.wait_ready()                               # "MKD init ready", returns boot seconds
        guest.serial.wait_for(r"MKD pagewriter waiting", timeout=30)
        guest.send_line("go")                            # a line on the guest's console (stdin)
        guest.qmp.execute("query-status")

The command line: TCG (KVM hangs on these machines), RAM in a memory-backend-file with share=on
(a file on /dev/shm unless GuestConfig.mem_path names one, e.g. on a memfs mount), serial console
to `serial.log` and, for input, a unix socket, QMP on a unix socket, no network unless nic_args.
QEMU's own stderr goes to `qemu.stderr`. Files live in a per-guest directory on /dev/shm: stop()
removes the RAM file and sockets, the directory goes at interpreter exit (or, after a SIGKILL, when
the next Guest starts: remove_orphaned_workdirs()). The logs are written to
GuestConfig.log_dir (kept, default $MKD_TEST_LOG_DIR) when set, else into that directory.

stop() (and leaving the `with` block, also on an exception) ends QEMU by process id: SIGTERM, then
SIGKILL after a timeout; procs.stop_all() does the same at interpreter exit. Not thread-safe.
"""

import atexit
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

from . import procs
from .image import GuestImage, build_guest_image
from .qmp import QmpClient
from .serial import SerialLog, scan_for_errors, send_line

QEMU = "qemu-system-x86_64"
WORK_ROOT = "/dev/shm"


def remove_orphaned_workdirs() -> None:
    """Removes work directories (and their RAM files) left by test processes that died without
    cleaning up (SIGKILL). A directory's owner is the pid in its owner.pid file."""
    for entry in os.scandir(WORK_ROOT):
        if not entry.name.startswith("mkd-") or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            with open(os.path.join(entry.path, "owner.pid")) as f:
                owner = int(f.read())
            os.kill(owner, 0)
        except ProcessLookupError:
            shutil.rmtree(entry.path, ignore_errors=True)
        except (OSError, ValueError):
            pass  # not ours, or being created right now


class GuestError(RuntimeError):
    pass


@dataclass
class GuestConfig:
    run: str = "idle"                  # mkd.run: pagewriter | checker | login | web | idle | shell
    args: Sequence[str] = ()           # mkd.args (no commas or spaces inside an argument)
    wait_input: bool = False           # mkd.wait=1: /init waits for send_line() before starting
    after: str = "idle"                # mkd.after: idle | poweroff when the workload exits
    name: str = "guest"                # for file names and QEMU's -name
    memory_mb: int = 256
    cpus: int = 1
    mem_path: Optional[str] = None     # RAM file; default <workdir>/ram on /dev/shm
    netns: Optional[str] = None        # run QEMU inside this network namespace (ip netns exec)
    command_prefix: Sequence[str] = ()  # any other wrapper, placed before QEMU (after netns)
    nic_args: Sequence[str] = ("-nic", "none")
    extra_append: Sequence[str] = ()   # more kernel command line words
    extra_qemu_args: Sequence[str] = ()  # e.g. ["-incoming", "defer"]
    # Where <name>.serial.log and <name>.qemu.stderr go (kept after the test); default
    # $MKD_TEST_LOG_DIR, else the work directory (removed at interpreter exit).
    log_dir: Optional[str] = field(default_factory=lambda: os.environ.get("MKD_TEST_LOG_DIR"))
    boot_timeout: float = 90.0         # for wait_ready()
    stop_timeout: float = 10.0         # SIGTERM -> SIGKILL grace

    def kernel_append(self) -> str:
        words = ["console=ttyS0", "quiet", "panic=-1", f"mkd.run={self.run}"]
        for arg in self.args:
            if "," in arg or " " in arg:
                raise ValueError(f"mkd.args cannot carry {arg!r} (no commas or spaces)")
        if self.args:
            words.append("mkd.args=" + ",".join(self.args))
        if self.wait_input:
            words.append("mkd.wait=1")
        if self.after != "idle":
            words.append(f"mkd.after={self.after}")
        return " ".join(words + list(self.extra_append))


@dataclass
class Guest:
    config: GuestConfig
    image: Optional[GuestImage] = None
    workdir: str = ""
    serial: Optional[SerialLog] = None
    qmp: Optional[QmpClient] = None
    process: Optional[subprocess.Popen] = None
    boot_seconds: Optional[float] = None
    started_at: float = 0.0
    argv: List[str] = field(default_factory=list)

    # --- life cycle ---
    def __enter__(self) -> "Guest":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def paths(self, name: str) -> str:
        return os.path.join(self.workdir, name)

    def log_path(self, name: str) -> str:
        directory = self.config.log_dir or self.workdir
        file_name = f"{self.config.name}.{name}" if self.config.log_dir else name
        return os.path.join(directory, file_name)

    def command(self) -> List[str]:
        c = self.config
        size = f"{c.memory_mb}M"
        mem_path = self.ram_path()
        argv: List[str] = []
        if c.netns:
            argv += ["ip", "netns", "exec", c.netns]
        argv += list(c.command_prefix)
        argv += [
            QEMU, "-name", c.name, "-accel", "tcg", "-m", size, "-smp", str(c.cpus),
            "-object", f"memory-backend-file,id=mem0,size={size},mem-path={mem_path},share=on",
            "-machine", "pc,memory-backend=mem0",
            "-nographic", "-monitor", "none", "-no-reboot", *c.nic_args,
            "-kernel", self.image.kernel, "-initrd", self.image.initrd,
            "-append", c.kernel_append(),
            "-chardev", f"socket,id=serial0,path={self.paths('serial.sock')},server=on,wait=off,"
                        f"logfile={self.log_path('serial.log')},logappend=off",
            "-serial", "chardev:serial0",
            "-qmp", f"unix:{self.paths('qmp.sock')},server=on,wait=off",
            *c.extra_qemu_args,
        ]
        return argv

    def start(self) -> None:
        """Starts QEMU and connects QMP. Does not wait for the guest to boot (wait_ready)."""
        if self.image is None:
            self.image = build_guest_image()
        remove_orphaned_workdirs()
        self.workdir = tempfile.mkdtemp(prefix=f"mkd-{self.config.name}-", dir=WORK_ROOT)
        atexit.register(shutil.rmtree, self.workdir, True)
        with open(self.paths("owner.pid"), "w") as f:
            f.write(str(os.getpid()))
        if self.config.log_dir:
            os.makedirs(self.config.log_dir, exist_ok=True)
        self.serial = SerialLog(self.log_path("serial.log"))
        self.argv = self.command()
        with open(self.log_path("qemu.stderr"), "wb") as stderr:
            self.started_at = time.monotonic()
            self.process = procs.spawn(self.argv, stdout=stderr, stderr=stderr)
        try:
            self.qmp = QmpClient.connect(self.paths("qmp.sock"), timeout=30)
        except (OSError, TimeoutError) as error:
            self.stop()
            raise GuestError(f"QEMU did not start: {error}\n{self.qemu_stderr()}") from error

    def stop(self) -> Optional[int]:
        """Ends QEMU (SIGTERM, then SIGKILL), removes the RAM file and sockets. Idempotent.
        Returns QEMU's exit status (negative: the signal that killed it)."""
        status = None
        if self.qmp is not None:
            self.qmp.close()
            self.qmp = None
        if self.process is not None:
            status = procs.stop(self.process, self.config.stop_timeout, self.config.stop_timeout)
        if self.workdir:
            # The RAM file and the sockets go now; the logs (if in the work directory) stay
            # readable until the interpreter exits (atexit removes the directory).
            for name in ("ram", "serial.sock", "qmp.sock"):
                try:
                    os.unlink(self.paths(name))
                except FileNotFoundError:
                    pass
        return status

    # --- while running ---
    def ram_path(self) -> str:
        """The file that is the guest's RAM (memory-backend-file, share=on): the host may read and
        write guest memory through it, as memfs does."""
        return self.config.mem_path or self.paths("ram")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, timeout: Optional[float] = None) -> float:
        """Waits for "MKD init ready"; returns and records the seconds since QEMU started."""
        self.serial.wait_for(r"^MKD init ready\b", timeout or self.config.boot_timeout,
                             alive=self.alive, fail_on=r"Kernel panic")
        self.boot_seconds = time.monotonic() - self.started_at
        return self.boot_seconds

    def wait_for(self, regex, timeout: float, fail_on=None):
        """serial.wait_for() that also stops waiting when QEMU exits."""
        return self.serial.wait_for(regex, timeout, alive=self.alive, fail_on=fail_on)

    def send_line(self, text: str, timeout: float = 10.0) -> None:
        """Types text and a newline on the guest's serial console (the workload's stdin)."""
        send_line(self.paths("serial.sock"), text, timeout)

    def wait_exit(self, timeout: float) -> int:
        """Waits for QEMU to exit by itself (e.g. mkd.after=poweroff); returns its status."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise GuestError(f"QEMU still running after {timeout} s\n"
                             f"{self.serial.tail()}") from None

    def errors(self) -> List[str]:
        """Lines of the serial log that mean the guest went wrong (serial.ERROR_PATTERNS)."""
        return scan_for_errors(self.serial.text())

    def qemu_stderr(self) -> str:
        try:
            with open(self.log_path("qemu.stderr"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""
