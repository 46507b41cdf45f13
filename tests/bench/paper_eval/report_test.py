#!/usr/bin/env python3
"""Unit tests of the evaluation report (report.py) on made-up results, no lab: runs of a variant
(the micro-benchmark's reuse with generations only) stay out of the system's own rows unless
asked for, get a row of their own, and issue 16's targets against them are computed from the
medians per rate (met and missed). Run: python3 <this file> (meson suite unit)."""

import os
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from paper_eval import report  # noqa: E402


def hop(bytes_: float, seconds: float, changed: int = 1000) -> dict:
    return {"link_bytes": bytes_, "bytes": bytes_, "seconds": seconds, "dirtied_pages": changed,
            "changed_pages": changed, "bytes_per_changed_page": bytes_ / changed,
            "page_bytes": changed * 4096, "pages_sent": changed, "rounds": 2, "converged": True,
            "downtime_ms": 10, "pause_ms": 5, "metadata_bytes": 1000, "pages_total": 65536,
            "setup_seconds": 0.1, "running_seconds": seconds}


def run(system: str, rate: int, back_bytes: float, back_s: float, out_s: float = 1.0,
        variant=None) -> dict:
    r = {"experiment": "micro", "system": system, "rate": rate, "rep": 1,
         "result": {"rate": rate, "achieved_rate": rate, "fill_seconds": 1.0,
                    "hops": [hop(5e8, out_s), hop(back_bytes, back_s)]}}
    if variant:
        r["variant"] = variant
    return r


def results(runs: list) -> dict:
    return {"scale": {"micro_rates": [200, 1000], "micro_mib": 1024, "micro_mb": 500,
                      "write_seconds": 10.0}, "runs": runs}


class ReportTest(unittest.TestCase):
    def test_a_variants_runs_are_only_its_own(self):
        res = results([run("reuse", 200, 4.0e6, 1.0),
                       run("reuse", 200, 4.1e6, 1.2, variant=report.GENERATION_ONLY)])
        self.assertEqual([r["hops"][1]["bytes"] for r in report.runs_of(res, "micro", "reuse",
                                                                         rate=200)], [4.0e6])
        self.assertEqual([r["hops"][1]["bytes"] for r in report.runs_of(
            res, "micro", "reuse", rate=200, variant=report.GENERATION_ONLY)], [4.1e6])

    def test_content_targets_compare_medians_per_rate(self):
        gen = report.GENERATION_ONLY
        res = results([run("reuse", 200, 4.0e6, 1.00), run("reuse", 200, 9.0e6, 9.00),
                       run("reuse", 200, 4.2e6, 1.02),
                       run("reuse", 200, 4.1e6, 1.00, variant=gen),
                       run("reuse", 1000, 2.0e7, 2.00, out_s=1.10),
                       run("reuse", 1000, 1.9e7, 2.00, variant=gen)])
        t = report.Targets()
        report.content_targets(res, t)
        rows = {name: (measured, met) for name, measured, met, _ in t.rows}
        per_page = rows["micro: return hop bytes per changed page with reuse by content at most "
                        "generation-only's"]
        # 200: median 4.2e6 against 4.1e6; 1000: 2.0e7 against 1.9e7; both more: missed.
        self.assertIn(f"{4.2 / 4.1:.4f}x at 200", per_page[0])
        self.assertFalse(per_page[1])
        back = rows["micro: return hop time with reuse by content at most 1.03x "
                    "generation-only's"]
        self.assertTrue(back[1], back)  # 1.02 and 1.00
        first = rows["micro: first hop time with reuse by content at most 1.03x "
                     "generation-only's"]
        self.assertFalse(first[1], first)  # 1.10 at 1000
        self.assertIn("1.1000x at 1000", first[0])

    def test_without_the_variant_the_targets_are_not_measured(self):
        t = report.Targets()
        report.content_targets(results([run("reuse", 200, 4.0e6, 1.0)]), t)
        self.assertEqual({met for _, _, met, _ in t.rows}, {None})
        self.assertEqual(len(t.rows), 3)

    def test_the_micro_table_has_a_generation_only_row(self):
        res = results([run("reuse", 200, 4.0e6, 1.0),
                       run("reuse", 200, 4.1e6, 1.2, variant=report.GENERATION_ONLY)])
        text = report.section_micro(res, report.Targets(), None)
        self.assertIn("| 200 | reuse | 200 | 4.0 MB |", text)
        self.assertIn("| 200 | generation only | 200 | 4.1 MB |", text)
        self.assertNotIn("| 1000 | generation only |", text)  # no such runs: no row

    def test_the_cpu_table_adds_every_process_and_divides_by_the_gibs(self):
        h = {"pages_total": 65536, "link_bytes": 2**29,  # 256 MiB of RAM, 512 MiB on the link
             "cpu": {"source_tool": 0.5, "digest": 0.1, "compress": 0.2, "dest_serve": 0.25,
                     "memfs": 0.25}}
        rows = report.cpu_table([("content", [h]), ("stock", [dict(h, cpu=None)])])
        self.assertEqual(len(rows), 3)  # header, rule, one row: stock has no CPU counted
        self.assertEqual(rows[2], "| content | 0.50 s | 0.10 s | 0.20 s | 0.25 s | 0.25 s | "
                                  "4.0 s/GiB | 2.0 s/GiB |")


if __name__ == "__main__":
    unittest.main(verbosity=2)
