"""The guest's serial console as QEMU logs it to a file, and waiting for lines in it.

Guest programs print "MKD <program> <event> key=value ..." lines (tests/guest/README.md). A
SerialLog keeps a cursor: each successful wait_for() moves it past the matched line, so a sequence
of waits proves the lines came in that order. Every wait has a timeout. Not thread-safe.
"""

import re
import socket
import time
from typing import Callable, List, Optional, Pattern, Union

Regex = Union[str, Pattern[str]]

# Lines that mean the guest went wrong, whatever the test is about.
ERROR_PATTERNS = (
    r"Kernel panic", r"\bBUG:", r"\bOops\b", r"Call Trace:", r"segfault at",
    r"general protection fault", r"Out of memory", r"oom-kill", r"MKD init error",
    r"MKD checker (STALE|CORRUPT)", r"Attempted to kill init",
)


# Terminal control sequences (the firmware and the kernel clear the screen; a line can start with
# them) and other control characters are removed before matching, so "^MKD ..." works.
_CONTROL = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[@-~])|[\x00-\x08\x0b-\x1f\x7f]")


def clean_line(line: str) -> str:
    return _CONTROL.sub("", line)


def send_line(socket_path: str, text: str, timeout: float = 10.0) -> None:
    """Types text and a newline on a guest's console through QEMU's console socket (the
    workload's stdin; mkd-vm's `serial.sock`, or mkdsys.Guest's)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(socket_path)
        sock.sendall(text.encode() + b"\n")
        # Give QEMU the bytes before the hang-up; output meanwhile also reaches us, unread.
        time.sleep(0.2)


class SerialTimeout(AssertionError):
    """A wait_for() timed out; the message holds the pattern and the end of the log."""


def scan_for_errors(text: str, patterns=ERROR_PATTERNS) -> List[str]:
    """The lines of text matching any of patterns (empty when the log looks healthy)."""
    combined = re.compile("|".join(f"(?:{p})" for p in patterns))
    return [clean_line(line) for line in text.splitlines() if combined.search(clean_line(line))]


class SerialLog:
    def __init__(self, path: str):
        self.path = path
        self.cursor = 0  # offset in text() where the next wait_for() starts looking

    def text(self) -> str:
        try:
            with open(self.path, "rb") as f:
                return f.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.text().splitlines()[-lines:])

    def find_all(self, regex: Regex) -> List["re.Match[str]"]:
        """Every match of regex in the whole log (one per line at most), from the start."""
        pattern = re.compile(regex)
        lines = (clean_line(line) for line in self.text().splitlines())
        return [m for m in (pattern.search(line) for line in lines) if m]

    def wait_for(self, regex: Regex, timeout: float, *, alive: Optional[Callable[[], bool]] = None,
                 fail_on: Optional[Regex] = None, poll: float = 0.05) -> "re.Match[str]":
        """Waits until a complete line after the cursor matches regex; returns the match.

        Raises SerialTimeout after `timeout` seconds, as soon as alive() returns False (QEMU
        exited), or when a line matching fail_on appears first.
        """
        pattern = re.compile(regex)
        failure = re.compile(fail_on) if fail_on is not None else None
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            position = self.cursor
            while True:
                end = text.find("\n", position)
                if end < 0:
                    break  # only complete lines count: the rest may still be being written
                line = clean_line(text[position:end])
                position = end + 1
                if failure is not None and failure.search(line):
                    self.cursor = position
                    raise SerialTimeout(f"{line!r} appeared while waiting for {pattern.pattern!r}"
                                        f"\n--- serial log {self.path} (end) ---\n{self.tail()}")
                match = pattern.search(line)
                if match:
                    self.cursor = position
                    return match
            if alive is not None and not alive():
                raise SerialTimeout(f"QEMU exited while waiting for {pattern.pattern!r}"
                                    f"\n--- serial log {self.path} (end) ---\n{self.tail()}")
            if time.monotonic() >= deadline:
                raise SerialTimeout(f"no line matching {pattern.pattern!r} within {timeout:.0f} s"
                                    f"\n--- serial log {self.path} (end) ---\n{self.tail()}")
            time.sleep(poll)
