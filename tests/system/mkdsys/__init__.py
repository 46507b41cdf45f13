"""mkdsys: what miyakodori's system tests need to boot real guests under QEMU, robustly.

Python 3 standard library only. The pieces, one module each:
  procs   start processes and stop them by process id: SIGTERM, then SIGKILL after a timeout; at
          exit (atexit, and SIGTERM/SIGHUP turned into SystemExit) everything still running dies.
  image   build or find the guest kernel + initramfs (tests/guest/build-image and its cache).
  serial  the guest's serial log: wait for a line matching a regex, with a timeout.
  logwait a daemon's appended log: wait for a line written after a mark (LogMark), so a
          restarted daemon is never taken as up on its predecessor's line.
  qmp     a small QMP client over a unix socket (commands, events, all with timeouts).
  guest   one QEMU guest: command line (TCG, RAM in a shared memory-backend file on /dev/shm,
          serial to a log file plus an input socket, QMP socket), start, waits, stop.

Typical use (see test_guest_programs.py):

    image = mkdsys.build_guest_image()
    with mkdsys.Guest(mkdsys.GuestConfig(run="checker", args=["--mb", "32"]), image) as guest:
        guest.wait_ready()
        guest.serial.wait_for(r"MKD checker OK sweep=(\\d+)", timeout=30)

Extension points for migration and the lab: GuestConfig.netns (run QEMU inside a network namespace
through `ip netns exec`), GuestConfig.command_prefix, GuestConfig.mem_path (RAM file on a memfs
mount), GuestConfig.extra_qemu_args (e.g. ["-incoming", "defer"]), GuestConfig.nic_args.
"""

from .guest import Guest, GuestConfig, GuestError
from .image import GuestImage, build_guest_image, repo_root
from .logwait import LogMark, LogWaitError
from .procs import spawn, stop, stop_all
from .qmp import QmpClient, QmpError
from .serial import SerialLog, SerialTimeout, scan_for_errors, send_line

__all__ = [
    "Guest", "GuestConfig", "GuestError", "GuestImage", "LogMark", "LogWaitError", "QmpClient",
    "QmpError", "SerialLog", "SerialTimeout", "build_guest_image", "repo_root", "scan_for_errors",
    "spawn", "stop", "send_line", "stop_all",
]
