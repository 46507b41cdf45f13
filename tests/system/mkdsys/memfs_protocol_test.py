"""Checks mkdsys/memfs_protocol.py against the C++ library memfs-protocol/ (its owner): the
names, the parameterised names, the chunk description and the summary parser must agree with
what memfs_protocol_dump prints. Unit test (no mount, no root); fails when either side changed
without the other.

    python3 tests/system/mkdsys/memfs_protocol_test.py BUILD/memfs-protocol/memfs_protocol_dump
"""

import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from mkdsys import memfs_protocol as mp  # noqa: E402

DUMP = None  # set from argv


class MemfsProtocolTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        out = subprocess.run([DUMP], check=True, capture_output=True, text=True, timeout=30)
        cls.cpp = json.loads(out.stdout)

    def test_names_are_the_libraries(self):
        cpp = self.cpp["names"]
        self.assertTrue(cpp, "the dump lists no names")
        for key, value in cpp.items():
            self.assertEqual(getattr(mp, key, None), value, f"mp.{key}")
        python_names = {k: v for k, v in vars(mp).items()
                        if k.isupper() and isinstance(v, str) and v.startswith(mp.PREFIX)}
        self.assertEqual(set(python_names), set(cpp), "names only one side has")
        self.assertEqual(set(mp.CHUNKED), {mp.TABLE, mp.DIRTY, mp.SYNCED, mp.REUSABLE, mp.DIGESTS})

    def test_parameterised_names_agree(self):
        self.assertEqual(mp.sync_name("mig-1"), self.cpp["sync_name"])
        self.assertEqual(mp.synced_name("mig-1"), self.cpp["synced_name"])
        self.assertEqual(mp.chunk_name(mp.PEER_TABLE, 3), self.cpp["chunk_name"])
        self.assertEqual(mp.sync_name(), mp.SYNC)

    def test_chunk_description_parses(self):
        d = self.cpp["chunk_description"]
        self.assertEqual(mp.parse_chunk_description(d["value"]), d["chunks"])
        for bad in ["", "chunks=0 bytes=1", "chunks=x bytes=1", "bytes=1 chunks=2"]:
            with self.assertRaises(mp.ProtocolError, msg=bad):
                mp.parse_chunk_description(bad)

    def test_summary_parser_agrees_on_every_shape(self):
        self.assertEqual(len(self.cpp["summaries"]), 3)
        for s in self.cpp["summaries"]:
            parsed = mp.parse_summary(s["line"])
            self.assertTrue(s["fields"], s["line"])
            self.assertEqual([list(kv) for kv in parsed.items()], s["fields"], s["line"])
            self.assertEqual(mp.parse_summary(s["line"].encode()), parsed)

    def test_sync_reply_parses(self):
        s = self.cpp["sync_reply"]
        self.assertEqual(mp.parse_sync_reply(s["value"]), s["fields"])
        for bad in ["dirty_pages=1 epoch=2", "epoch=2 dirty_pages=1 syncs=3",
                    "dirty_pages=x epoch=2 syncs=3"]:
            with self.assertRaises(mp.ProtocolError, msg=bad):
                mp.parse_sync_reply(bad)

    def test_summary_parser_refuses_what_the_library_refuses(self):
        self.assertTrue(self.cpp["refused_summaries"])
        for line in self.cpp["refused_summaries"]:
            with self.assertRaises(mp.ProtocolError, msg=repr(line)):
                mp.parse_summary(line)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: memfs_protocol_test.py PATH/TO/memfs_protocol_dump [unittest args]")
    DUMP = sys.argv.pop(1)
    unittest.main()
