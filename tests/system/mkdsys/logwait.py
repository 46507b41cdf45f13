"""Waiting for a line in a log file that earlier processes may have written to as well.

A daemon's log is appended to across restarts (mkd-migrate serve's serve.log, mkd-memfs's
memfs.log): a wait that searches the whole file can return on the line of an *earlier* run,
before the new process is up (test_migrate_faults once got "Connection refused" that way).
A LogMark remembers the file's size before the process starts; its waits and reads only see
complete lines written after that offset, and a wait fails fast, with the end of the log, when the
process exits or the timeout passes.

    mark = LogMark(log_path)                  # before starting the process
    proc = start_the_daemon(stdout=log)
    mark.wait_for(r"listening on", timeout=10, proc=proc, what="serve")

If the file is shorter than the offset when read (it was truncated or replaced), everything in it
is new. Only reads the file. Not thread-safe.
"""

import os
import re
import subprocess
import time
from typing import Callable, List, Optional, Pattern, Union

Regex = Union[str, Pattern[str]]


class LogWaitError(AssertionError):
    """A wait for a log line failed: the timeout passed or the process exited first. The message
    names the pattern, the log and why, and ends with the log's last lines."""


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


class LogMark:
    def __init__(self, path: str):
        """Marks the current end of `path` (0 when it does not exist yet)."""
        self.path = path
        self.offset = _size(path)

    def data(self) -> bytes:
        """The bytes written after the mark (the whole file if it shrank below the mark)."""
        try:
            with open(self.path, "rb") as f:
                if os.fstat(f.fileno()).st_size >= self.offset:
                    f.seek(self.offset)
                return f.read()
        except FileNotFoundError:
            return b""

    def text(self) -> str:
        """data() decoded (undecodable bytes replaced)."""
        return self.data().decode(errors="replace")

    def lines(self) -> List[str]:
        """The complete lines written after the mark (a last line without its newline may still
        be being written, and is left out)."""
        text = self.text()
        return text[:text.rfind("\n") + 1].splitlines()

    def search(self, regex: Regex) -> Optional["re.Match[str]"]:
        """The first match of regex in a complete line written after the mark, or None."""
        pattern = re.compile(regex)
        for line in self.lines():
            m = pattern.search(line)
            if m:
                return m
        return None

    def count(self, regex: Regex) -> int:
        """How many complete lines written after the mark match regex."""
        pattern = re.compile(regex)
        return sum(1 for line in self.lines() if pattern.search(line))

    def tail(self, lines: int = 40) -> str:
        """The last lines of the whole file (older runs' lines included: they are context)."""
        try:
            with open(self.path, "rb") as f:
                text = f.read().decode(errors="replace")
        except FileNotFoundError:
            return "(no log file)"
        return "\n".join(text.splitlines()[-lines:])

    def wait_for(self, regex: Regex, timeout: float, *,
                 proc: Optional[subprocess.Popen] = None,
                 alive: Optional[Callable[[], bool]] = None, what: str = "",
                 poll: float = 0.05) -> "re.Match[str]":
        """Waits until a complete line written after the mark matches regex; returns the match.

        Raises LogWaitError after `timeout` seconds, or as soon as `proc` has exited or alive()
        returns False (after one last look: a line written just before the exit counts).
        """
        pattern = re.compile(regex)
        deadline = time.monotonic() + timeout
        who = f"{what}: " if what else ""
        while True:
            gone = (proc is not None and proc.poll() is not None) or (
                alive is not None and not alive())
            m = self.search(pattern)
            if m:
                return m
            if gone:
                status = f" with status {proc.returncode}" if proc is not None else ""
                why = f"the process exited{status}"
            elif time.monotonic() >= deadline:
                why = f"nothing within {timeout:g} s"
            else:
                time.sleep(poll)
                continue
            raise LogWaitError(f"{who}no line matching {pattern.pattern!r} in {self.path} after "
                               f"offset {self.offset}: {why}\n--- {self.path} (end) ---\n"
                               f"{self.tail()}")
