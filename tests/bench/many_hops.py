#!/usr/bin/env python3
"""Nothing lost over many hops (issue 14): a 256 MiB checker guest hops between two lab hosts N
times (default 50), each hop pre-copy or post-copy at random (seeded), every hop with --verify,
the checker confirming every page after each hop; return hops within 1.05 x the pages written
since + 1 MiB (mkdsys/roundtrip.py checks all of it). The hops go to
build/meson-logs/many_hops.json.

Usage: python3 tests/bench/many_hops.py [--hops N] [--seed S] [--precopy-only]
Needs root and a build in build/ (MKD_BUILD_DIR, MKD_GUEST_BUILD_DIR as for the system tests).
"""

import argparse
import os
import random
import sys
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "system"))
from mkdsys.roundtrip import RoundTripTest  # noqa: E402

ARGS = argparse.Namespace()


class ManyHops(RoundTripTest):
    lab_name = "hops"

    def test_many_hops(self):
        rng = random.Random(ARGS.seed)
        modes = ["precopy" if ARGS.precopy_only or rng.random() < 0.7 else "postcopy"
                 for _ in range(ARGS.hops)]
        print(f"many hops: {modes.count('precopy')} pre-copy, {modes.count('postcopy')} "
              f"post-copy (seed {ARGS.seed})", file=sys.stderr)
        self.round_trips(modes, "many_hops.json")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hops", type=int, default=50)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--precopy-only", action="store_true")
    ARGS = ap.parse_args()
    os.environ.setdefault("MKD_BUILD_DIR", os.path.join(os.path.dirname(os.path.dirname(HERE)),
                                                        "build"))
    os.environ.setdefault("MKD_GUEST_BUILD_DIR", os.environ["MKD_BUILD_DIR"])
    unittest.main(argv=[sys.argv[0], "-v"])
