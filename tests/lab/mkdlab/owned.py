"""Labs owned by this process: torn down at interpreter exit and on SIGTERM/SIGINT (then the
previous handler runs). Installs those handlers once per process, from the main thread only;
touches only the labs registered here.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .lab import Lab

# Labs owned by this process, torn down at exit and on SIGTERM/SIGINT.
_OWNED: list["Lab"] = []
_HANDLERS_PID: int | None = None
_PREV_HANDLERS: dict[int, object] = {}


def _cleanup_owned() -> None:
    if os.getpid() != _HANDLERS_PID:
        return  # a fork()ed child exiting: the labs are its parent's
    for lab in list(reversed(_OWNED)):
        with contextlib.suppress(Exception):
            lab.down()


def _on_signal(signum, frame) -> None:
    _cleanup_owned()
    prev = _PREV_HANDLERS.get(signum)
    if callable(prev):
        prev(signum, frame)  # e.g. SIGINT's default: KeyboardInterrupt
        return
    if prev == signal.SIG_IGN:
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_handlers() -> None:
    global _HANDLERS_PID
    if _HANDLERS_PID == os.getpid():
        return
    _HANDLERS_PID = os.getpid()
    atexit.register(_cleanup_owned)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            prev = signal.getsignal(sig)
            if prev is not _on_signal and prev != signal.SIG_IGN:  # respect an ignored signal
                _PREV_HANDLERS[sig] = prev
                signal.signal(sig, _on_signal)
