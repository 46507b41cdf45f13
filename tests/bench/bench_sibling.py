#!/usr/bin/env python3
"""The sibling first hop (issue 16): a VM's first migration to a host where a sibling runs.

Two 256 MiB VMs booted from the same guest image, each with its own UUID: the sibling already
runs on B, the VM runs on A and moves A->B for the first time (B never held it: every system
gets a fresh lab). Three systems in the same run, the sibling running on B for each:
  stock       stock QEMU pre-copy, RAM on tmpfs (mkdsys.stockvm); the sibling is a stock VM on
              B's tmpfs too (it shares nothing; it is there so B's CPU is as busy as for ours);
  generation  mkd-migrate --no-content-reuse: today's reuse by generation, which has nothing to
              reuse on a first hop (--compress stays at its default, auto);
  content     mkd-migrate with B's serve started with --content-scope host: pages of the
              sibling's RAM file with the same content are taken instead of sent.
The hops are paper_eval/sibling.py's (the paper evaluation's sibling experiment makes the same
ones: scripts/eval-paper --only sibling). Our hops run with --verify. Stock hops are verified
page by page as in bench-pipe and the paper evaluation (StockVm.migrate(verify=True): the
destination QEMU starts with -S, at completion both QEMUs are paused and their RAM files
compared): a stock run whose destination differs from its source (stock QEMU 7.2 under TCG here
sometimes delivers wrong pages) is counted apart, reported, and run again (up to
--stock-attempts times), never averaged in.

The guests (--guest, default login): both VMs run the login test's session at boot (login.sh,
as in the paper evaluation's login experiment and bench-compress): busybox's commands run, a
home with a few files, and --login-mb MiB (default 16, login.sh's own) of random data in /tmp.
That is a booted guest with a used page cache, quiet once the session ended, and each VM has
memory of its own that no sibling can supply: the case the issue is about (same image, not the
same VM). `--guest idle` boots to init's idle loop only: the most a sibling can supply.
After both VMs printed their session's end (or `MKD init idle`) they sit --settle seconds.

Printed per system (medians over --reps, min-max): bytes on the lab's link (tx of both hosts'
eth0 during the hop: TCP/IP and TLS included, as bench-migrate counts them) and the tool's
(mkd-migrate's bytes.wire, QEMU's ram.transferred), the hop's time (for ours from the start,
with the destination's setup; stock's from `migrate`, its destination QEMU started before: so
"time after setup" is the comparable one), QEMU's downtime, pages sent / taken by content /
zero (stock: pages non-zero / zero in the destination's RAM file after the hop), and the
ratios content/stock, content/generation, generation/stock. Then CPU: the source's
mkd-migrate (user+sys of the process, from the rusage of the reaped child), the destination's
serve and both memfs daemons (from /proc/PID/stat), the report's digest and compression seconds
(the source's CPU for those), and all of it per GiB of guest RAM moved and per GiB on the link.
Stock QEMU's migration CPU is inside QEMU and not counted.

--serve-arg ARG (repeatable) adds ARG to B's serve of the content system, e.g.
--serve-arg=--content-index-refresh=10 (the index built in the background before the hop).
Usage: scripts/bench-sibling [--reps N] [--guest login|idle] [--login-mb M] [--serve-arg ARG]
                             [--out FILE]
"""

import argparse
import json
import os
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from paper_eval import sibling  # noqa: E402
from paper_eval.report import content_line, cpu_table, sibling_ratios, sibling_table  # noqa: E402
from paper_eval.systems import WrongPages  # noqa: E402

SYSTEMS = ("stock", "generation", "content")


def hop(build_dir: str, system: str, setup: sibling.Setup, serve_args: list) -> dict:
    if system == "stock":
        return sibling.stock_hop(build_dir, setup)
    return sibling.our_hop(build_dir, setup, content=system == "content",
                           serve_args=serve_args if system == "content" else [])


def show(res: dict, a: argparse.Namespace) -> None:
    guest = (f"login session (--mb {a.login_mb})" if a.guest == "login" else "idle")
    print(f"\nsibling first hop A->B at 1 Gbit/s: {sibling.Setup.memory_mib} MiB guests from the "
          f"same image, {guest}, the sibling running on B; median of {a.reps} (min-max)\n")
    print("\n".join(sibling_table([(s, res[s], "no run") for s in SYSTEMS])))
    print("\nratios of the medians (per repetition: min-max):")
    print("\n".join(sibling_ratios([(f"{n}/{d}", res[n], res[d]) for n, d in
                                    (("content", "stock"), ("content", "generation"),
                                     ("generation", "stock"))])))
    if res["content"]:
        print(f"\ncontent: {content_line(res['content'])}; stopped: "
              f"{sorted({h['content']['stopped'] or '-' for h in res['content']})}")
    print("\nCPU seconds of the hop, median (min-max):")
    print("\n".join(cpu_table([(system, res[system]) for system in ("generation", "content")])))
    print("(stock: QEMU's migration thread, not counted)")
    n_broken = len(res["stock_broken"])
    print(f"\nstock runs with wrong pages (counted apart, not averaged in): {n_broken} of "
          f"{n_broken + len(res['stock'])}")
    for b in res["stock_broken"]:
        print(f"  repetition {b['rep']}: {b['broken'][:300]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--guest", choices=("login", "idle"), default="login")
    ap.add_argument("--login-mb", type=int, default=16,
                    help="MiB of random data each VM's login session writes to /tmp")
    ap.add_argument("--settle", type=float, default=5.0,
                    help="seconds both VMs sit after booting, before the hop")
    ap.add_argument("--stock-attempts", type=int, default=3,
                    help="stock runs per repetition until one delivers the right pages")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--serve-arg", action="append", default=[],
                    help="one more argument of B's serve for the content system (repeatable)")
    a = ap.parse_args()
    if a.reps < 1:
        ap.error("--reps must be at least 1")
    setup = sibling.Setup(guest=a.guest, login_mb=a.login_mb, settle_s=a.settle)
    res = {"args": vars(a), **{s: [] for s in SYSTEMS}, "stock_broken": []}
    for rep in range(a.reps):
        order = SYSTEMS[rep % 3:] + SYSTEMS[:rep % 3]  # rotates, so drift hits every system
        for system in order:
            for attempt in range(a.stock_attempts if system == "stock" else 1):
                print(f"[{time.strftime('%H:%M:%S')}] repetition {rep + 1}/{a.reps}: {system}"
                      f"{f' (again: attempt {attempt + 1})' if attempt else ''}", flush=True)
                try:
                    h = hop(a.build_dir, system, setup, a.serve_arg)
                except WrongPages as e:
                    print(f"  {str(e)[:400]}: counted apart, run again", flush=True)
                    res["stock_broken"].append({"rep": rep + 1, "broken": str(e)[:2000]})
                    continue
                h["rep"] = rep + 1
                res[system].append(h)
                print(f"  {h['link_bytes'] / 1e6:.1f} MB on the link, {h['bytes'] / 1e6:.1f} "
                      f"MB (tool), {h['seconds']:.2f} s, downtime {h['downtime_ms']:.0f} ms, "
                      f"pages {h['pages_sent']} sent + {h['pages_content']} by content + "
                      f"{h['pages_zero']} zero" +
                      (f"; content {json.dumps(h['content'])}" if "content" in h else ""),
                      flush=True)
                for line in h.get("serve_content_log", []):
                    print(f"  serve h1: {line.strip()[:400]}", flush=True)
                break
    if a.out:
        with open(a.out, "w") as f:
            json.dump(res, f, indent=1)
    show(res, a)
    if a.out:
        print(f"\nJSON: {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
