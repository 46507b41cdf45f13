#!/usr/bin/env python3
"""System test: reuse by content (issue 16) between two lab hosts.

A 256 MiB checker guest on h0; a sibling VM (another UUID, the same guest image and program) runs
on h1. Five hops, --verify on each, the checker OK after each:
  (1) h0->h1, h1's serve with the default --content-scope vm: the sibling's pages are not the
      VM's, so nothing is taken by content (offering stops once it does not pay): the first-hop
      baseline of this run;
  (2) h1->h0, a return hop: the VM's own stored incarnation on h0 (reuse by generation, and by
      content where a page was rewritten with what it held);
  (3) the VM's stored incarnation on h1 is removed (rm, as root), h1's serve restarted with
      --content-scope host, h0->h1 again: a first hop to h1 once more, now taking the sibling's
      pages that hold the same content (kernel, init, the checker's program): at least 30 % of
      the pages offered, fewer pages sent with content than hop (1) (whose bytes are mostly the
      checker's own 32 MB, rewritten every 500 ms and resent by the rounds, so the bytes move
      with the hop's length; scripts/bench-sibling measures quiet siblings against stock QEMU). That serve runs with --content-index-refresh: the arrival
      finds the index built and does not wait for it.
  (4) h1->h0 again, (5) h1's incarnation removed, h0->h1 in post-copy: the pages that would be
      missing at the switchover are offered before the pause, and those h1 takes from the
      sibling are not missing (nor pushed).
Each hop's numbers go to stderr ("content hop:") and to $MKD_TEST_LOG_DIR/content.json.

Run: meson test -C build content, or python3 <this file> -v. Needs root.
"""

import json
import os
import re
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkdsys.cluster import Cluster  # noqa: E402
from mkdsys.roundtrip import build_dir, log_dir  # noqa: E402

CHECKER = ["--mb", "32", "--sweep-interval-ms", "500"]


class ContentTest(unittest.TestCase):
    def hop(self, c: Cluster, src: int, dst: int, name: str, hops: list,
            extra: tuple = ()) -> dict:
        cp = c.migrate(src, dst, "--verify", *extra, timeout=300)
        self.assertEqual(cp.returncode, 0, f"{name} h{src}->h{dst} failed:\n{cp.stderr}\n"
                                           f"serve log of h{dst}:\n{c.serve_log(dst)[-3000:]}")
        r = c.report(cp)
        self.assertEqual(r["outcome"], "ok")
        self.assertTrue(r["verified"])
        p = r["pages"]
        self.assertEqual(p["sent"] + p["reused"] + p["content"] + p["zero"], p["total"])
        self.assertEqual(r["content"]["taken"], r["content"]["offered"] - r["content"]["needed"])
        hop = {"hop": name, "from": f"h{src}", "to": f"h{dst}", "wire_bytes": r["bytes"]["wire"],
               "pages": p, "content": r["content"], "total_seconds": r["total_seconds"]}
        hops.append(hop)
        print("content hop: " + json.dumps(hop), file=sys.stderr)
        # The guest goes on, every page intact, on the destination.
        c.serial(dst).wait_for(r"^MKD checker OK sweep=\d+$", timeout=90, fail_on=r"STALE|CORRUPT")
        return r

    def test_a_first_hop_takes_a_sibling_vms_pages_only_with_host_scope(self):
        hops: list = []
        try:
            with Cluster(build_dir(), "cnt", hosts=2) as c:
                # The sibling on h1: its own UUID, the same image and program.
                sibling = c.start_sibling(1, "checker", CHECKER)
                c.start_vm(0, run="checker", args=CHECKER)
                for serial in (sibling, c.serial(0)):
                    serial.wait_for(r"^MKD checker OK sweep=\d+$", timeout=120,
                                    fail_on=r"STALE|CORRUPT")

                # (1) scope vm: the sibling's pages are not this VM's.
                first = self.hop(c, 0, 1, "first, scope vm", hops)
                self.assertEqual(first["content"]["taken"], 0, first["content"])
                self.assertEqual(first["pages"]["content"], 0)
                self.assertTrue(first["content"]["enabled"])
                self.assertIn("less than 1 in 32", first["content"]["stopped"])

                # (2) back to h0: its own incarnation there.
                back = self.hop(c, 1, 0, "return", hops)
                self.assertGreater(back["pages"]["reused"], back["pages"]["sent"])

                # (3) a first hop to h1 again, scope host: the sibling's pages.
                c.wait_serve_idle(1)
                os.unlink(c.ram_file(1))
                c.serve_args = ["--content-scope", "host", "--content-index-refresh", "5"]
                c.start_serve(1)
                # Its first background build logs at info; once done, the arrival waits for none.
                c.serve_marks[1].wait_for(r"content index refreshed: \d+ pages", timeout=60)
                again = self.hop(c, 0, 1, "first again, scope host", hops)
                print("content: h1's serve log:\n" + "\n".join(
                    line for line in c.serve_log(1).splitlines() if "by content" in line),
                    file=sys.stderr)
                taken = again["content"]["taken"]
                self.assertGreater(taken, 0.3 * again["content"]["offered"], again["content"])
                self.assertEqual(again["pages"]["reused"], 0, "h1 held no incarnation")
                ratio = again["bytes"]["wire"] / first["bytes"]["wire"]
                print(f"content: first hop with the sibling's pages {again['bytes']['wire']} "
                      f"bytes, without {first['bytes']['wire']}: {ratio:.2f}x",
                      file=sys.stderr)
                # The checker's 32 MB, rewritten every 500 ms, is each VM's own and dominates
                # the bytes: its rounds resend it, as often as the hop's length lets the guest
                # rewrite it (one round more or less moves the bytes by 30 MB). What is taken
                # shows in the pages sent with content (each counted once).
                self.assertLess(again["pages"]["sent"], 0.8 * first["pages"]["sent"],
                                (again["pages"], first["pages"]))
                # What the restarted serve logged (not the first hop's line of the serve
                # before it): the same counts as the report.
                log = c.serve_marks[1].text()
                self.assertRegex(log, rf"{taken} of {again['content']['offered']} pages offered "
                                      r"by content were taken from this host's pages")
                waited = re.search(r"([\d.]+) s waiting for it", log)
                self.assertIsNotNone(waited, log[-2000:])
                self.assertLess(float(waited.group(1)), 0.05, "--content-index-refresh built it")

                # (4) back to h0, (5) once more a first hop to h1, now in post-copy: the pages
                # that would be missing are offered before the pause; those taken are not.
                self.hop(c, 1, 0, "return", hops)
                c.wait_serve_idle(1)
                os.unlink(c.ram_file(1))
                post = self.hop(c, 0, 1, "first again, post-copy, scope host", hops,
                                ("--postcopy",))
                self.assertEqual(post["mode"], "postcopy")
                taken = post["content"]["taken"]
                self.assertGreater(taken, 0.3 * post["content"]["offered"], post["content"])
                self.assertGreater(post["pages"]["content"], 0)
                # What was taken (and not written again before the pause) was not missing.
                self.assertLessEqual(post["postcopy"]["missing"] + post["pages"]["content"],
                                     post["pages"]["total"] - post["pages"]["reused"])
                # Without offers every page offered would be missing; the taken ones are not
                # (a few may be written again before the pause and be missing once more).
                self.assertLess(post["postcopy"]["missing"],
                                post["content"]["offered"] - 0.5 * taken, post)
        finally:
            with open(os.path.join(log_dir(), "content.json"), "w") as f:
                json.dump(hops, f, indent=2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
