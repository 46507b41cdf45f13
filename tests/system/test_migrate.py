#!/usr/bin/env python3
"""System test: mkd-migrate pre-copy with memory reuse between two lab hosts (issue 5).

A->B->A->B->A of a 256 MiB checker guest, pre-copy, --verify on every hop; what is checked on
each hop (checker OK, accounting, return hops within 1.05 x pages written since + 1 MiB) is in
mkdsys/roundtrip.py.

Run: meson test -C build --suite system (sets MKD_BUILD_DIR), or python3 <this file> -v.
The hops' numbers go to stderr ("round trip hop:") and to $MKD_TEST_LOG_DIR/migrate.json.
"""

import os
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkdsys.roundtrip import RoundTripTest, build_dir, table_runs  # noqa: E402,F401


class MigrateTest(RoundTripTest):
    lab_name = "mig"

    def test_round_trips_reuse_memory_and_keep_every_page(self):
        self.round_trips(["precopy"] * 4, "migrate.json")


if __name__ == "__main__":
    unittest.main(verbosity=2)
