#!/usr/bin/env python3
"""Unit test of mkdsys.logwait: a wait for a log line sees only what was written after its mark.

Fast (a few seconds), no root, no QEMU: small Python processes append to a log in a temporary
directory, the way a restarted daemon appends to the log its predecessor left. Every process it
starts is stopped by pid at cleanup. Run: meson test -C build --suite unit mkdsys_logwait, or
python3 <this file> -v.
"""

import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from mkdsys.logwait import LogMark, LogWaitError  # noqa: E402

OLD_RUN = b"mkd-migrate serve: listening on 10.0.0.1:7420 (run 1)\nrun 1: shutting down\n"


class LogMarkTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="mkd-logwait-test-")
        self.addCleanup(self.dir.cleanup)
        self.log = os.path.join(self.dir.name, "serve.log")
        with open(self.log, "wb") as f:
            f.write(OLD_RUN)

    def append_later(self, delay: float, data: bytes, then_exit: int = 0) -> subprocess.Popen:
        """A process that appends data to the log after delay seconds, then exits."""
        code = ("import sys, time\n"
                f"time.sleep({delay})\n"
                f"f = open({self.log!r}, 'ab'); f.write({data!r}); f.close()\n"
                f"sys.exit({then_exit})\n")
        p = subprocess.Popen([sys.executable, "-c", code])
        self.addCleanup(self.stop, p)
        return p

    @staticmethod
    def stop(p: subprocess.Popen) -> None:
        if p.poll() is None:
            p.kill()
        p.wait(10)

    def test_a_line_of_an_earlier_run_does_not_satisfy_the_wait(self):
        mark = LogMark(self.log)
        p = self.append_later(0.5, b"mkd-migrate serve: listening on 10.0.0.1:7420 (run 2)\n")
        started = time.monotonic()
        m = mark.wait_for(r"listening on \S+ \(run (\d)\)", timeout=10, proc=p)
        self.assertEqual(m.group(1), "2")
        self.assertGreaterEqual(time.monotonic() - started, 0.4, "returned on the old line")

    def test_the_process_exiting_without_the_line_fails_fast_with_the_log_tail(self):
        mark = LogMark(self.log)
        p = self.append_later(0.2, b"error: cannot bind 10.0.0.1:7420\n", then_exit=3)
        started = time.monotonic()
        with self.assertRaises(LogWaitError) as cm:
            mark.wait_for(r"listening on", timeout=30, proc=p, what="serve on h1")
        self.assertLess(time.monotonic() - started, 10, "did not notice the exit")
        message = str(cm.exception)
        self.assertIn("serve on h1", message)
        self.assertIn("exited with status 3", message)
        self.assertIn("cannot bind", message)  # the tail of the log

    def test_a_line_written_just_before_the_exit_counts(self):
        mark = LogMark(self.log)
        p = self.append_later(0.0, b"listening on 10.0.0.1:7420 (run 2)\n")
        p.wait(10)
        self.assertEqual(mark.wait_for(r"\(run (\d)\)", timeout=5, proc=p).group(1), "2")

    def test_only_old_lines_time_out(self):
        mark = LogMark(self.log)
        started = time.monotonic()
        with self.assertRaises(LogWaitError) as cm:
            mark.wait_for(r"listening on", timeout=0.3)
        self.assertGreaterEqual(time.monotonic() - started, 0.3)
        self.assertIn("nothing within 0.3 s", str(cm.exception))

    def test_alive_returning_false_ends_the_wait(self):
        mark = LogMark(self.log)
        with self.assertRaises(LogWaitError) as cm:
            mark.wait_for(r"listening on", timeout=30, alive=lambda: False)
        self.assertIn("the process exited", str(cm.exception))

    def test_a_line_still_being_written_does_not_count_until_its_newline(self):
        mark = LogMark(self.log)
        with open(self.log, "ab") as f:
            f.write(b"listening o")
        self.assertIsNone(mark.search(r"listening on"))
        with open(self.log, "ab") as f:
            f.write(b"n 10.0.0.1:7420\n")
        self.assertIsNotNone(mark.search(r"listening on"))

    def test_reads_and_counts_see_only_lines_after_the_mark(self):
        mark = LogMark(self.log)
        self.assertEqual(mark.text(), "")
        self.assertEqual(mark.count(r"shutting down"), 0)
        with open(self.log, "ab") as f:
            f.write(b"run 2: shutting down\n")
        self.assertEqual(mark.lines(), ["run 2: shutting down"])
        self.assertEqual(mark.count(r"shutting down"), 1)
        self.assertIn("run 1", mark.tail())  # the tail is the whole file's

    def test_a_log_missing_at_the_mark_is_read_from_its_start(self):
        path = os.path.join(self.dir.name, "new.log")
        mark = LogMark(path)
        self.assertEqual(mark.offset, 0)
        self.assertEqual(mark.text(), "")
        with open(path, "wb") as f:
            f.write(b"mkd-memfs ready\n")
        self.assertIsNotNone(mark.wait_for(r"ready", timeout=1))

    def test_a_log_truncated_after_the_mark_is_all_new(self):
        mark = LogMark(self.log)
        with open(self.log, "wb") as f:
            f.write(b"listening on (run 2)\n")
        self.assertEqual(mark.lines(), ["listening on (run 2)"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
