"""Processes started by a system test, and their certain end.

Every process started through spawn() is remembered by process id until stop() reaped it. At
interpreter exit (atexit) every remembered process still running gets SIGTERM, then SIGKILL if it
has not exited within the timeout. SIGTERM and SIGHUP sent to the test (meson sends SIGTERM on a
test timeout) become SystemExit, so `with` blocks unwind and atexit runs. When the test process is
killed with SIGKILL nothing of that runs; for that case children get PR_SET_PDEATHSIG=SIGKILL, so
the kernel kills them when the thread that started them dies (start long-lived processes from the
main thread, or pass die_with_parent=False).

Processes are killed only by their own process id, never by name or process group.
Not thread-safe: start and stop processes from one thread.
"""

import atexit
import ctypes
import signal
import subprocess
from typing import Dict, Optional, Sequence

_PR_SET_PDEATHSIG = 1
_running: Dict[int, subprocess.Popen] = {}


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def spawn(argv: Sequence[str], *, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
          stdin=subprocess.DEVNULL, env: Optional[dict] = None, cwd: Optional[str] = None,
          die_with_parent: bool = True) -> subprocess.Popen:
    """Starts argv and remembers it for stop_all(). stdout/stderr: as for subprocess.Popen."""
    proc = subprocess.Popen(list(argv), stdin=stdin, stdout=stdout, stderr=stderr, env=env,
                            cwd=cwd, preexec_fn=_die_with_parent if die_with_parent else None)
    _running[proc.pid] = proc
    return proc


def stop(proc: subprocess.Popen, term_timeout: float = 10.0,
         kill_timeout: float = 10.0) -> Optional[int]:
    """Ends proc: SIGTERM, wait up to term_timeout, then SIGKILL and wait up to kill_timeout.

    Returns the exit status (negative: killed by that signal), or None if even SIGKILL did not
    reap it in time (a process stuck in the kernel; it is left remembered for stop_all()).
    """
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(term_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            try:
                proc.wait(kill_timeout)
            except subprocess.TimeoutExpired:
                return None
    _running.pop(proc.pid, None)
    return proc.returncode


def stop_all(term_timeout: float = 5.0, kill_timeout: float = 5.0) -> None:
    """Stops every process spawn() started that is still remembered (newest first)."""
    for proc in reversed(list(_running.values())):
        stop(proc, term_timeout, kill_timeout)


def _exit_on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def _install_signal_handlers() -> None:
    for signum in (signal.SIGTERM, signal.SIGHUP):
        # Only where nobody else installed a handler; never steal one from the test runner.
        if signal.getsignal(signum) == signal.SIG_DFL:
            signal.signal(signum, _exit_on_signal)


atexit.register(stop_all)
try:
    _install_signal_handlers()
except ValueError:  # imported outside the main thread: signal handlers cannot be set there
    pass
