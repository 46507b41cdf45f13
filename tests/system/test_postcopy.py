#!/usr/bin/env python3
"""System test: mkd-migrate --postcopy with memory reuse between two lab hosts (issue 6).

A->B->A->B->A of a 256 MiB checker guest with --verify on every hop: post-copy out and back, then
pre-copy out and post-copy back (mixed). On every return hop post-copy fetches and pushes only
the pages the destination cannot reuse: at most 1.05 x (pages written since) x 4 KiB + 1 MiB on
the wire. What else is checked on each hop is in mkdsys/roundtrip.py.

Run: meson test -C build --suite system, or python3 <this file> -v.
The hops' numbers go to stderr ("round trip hop:") and to $MKD_TEST_LOG_DIR/postcopy.json.
"""

import os
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkdsys.roundtrip import RoundTripTest  # noqa: E402


class PostcopyTest(RoundTripTest):
    lab_name = "pc"

    def test_postcopy_round_trips_fetch_only_what_cannot_be_reused(self):
        self.round_trips(["postcopy", "postcopy", "precopy", "postcopy"], "postcopy.json")


if __name__ == "__main__":
    unittest.main(verbosity=2)
