"""The plan experiment (issue 16): does `mkd-migrate plan` predict the migration that follows?

Three lab hosts (mkdsys.Cluster, 1 Gbit/s link, every serve at `--content-scope host`): the VM
on h0, a sibling (another VM booted from the same image, sibling.Setup's login guest) on h2, h1
empty. Two hops, each after a plan of two candidates:
  first   plan h0 -> {h1, h2}, then the hop h0 -> h2 (the sibling's host);
  return  the VM sits settle_s on h2, plan h2 -> {h0, h1}, then the hop h2 -> h0 (its last host).
With content=False the plans and hops run with --no-content-reuse (reuse by generation only).
Each hop's record: the plan for the hop's destination and for the other candidate (bytes,
pages reusable and by content, link seconds), the hop's bytes on the wire and its first pass's
(the wire bytes less its rounds after the first pass: pages the guest wrote after the plan,
which a plan cannot know), the pages it reused and took by content, and how long the plan took.
Used by experiments.plan (scripts/eval-paper --only plan).
"""

import json
import time

from .sibling import Setup, settle  # (it also puts tests/system on the path, for mkdsys)
from mkdsys.cluster import Cluster, first_pass_bytes  # noqa: E402


def _plan(c: Cluster, src: int, hosts: tuple, extra: list) -> tuple:
    """(the plan's JSON, seconds it took)."""
    t0 = time.monotonic()
    cp = c.plan(src, *hosts, extra=extra)
    seconds = time.monotonic() - t0
    if cp.returncode != 0:
        raise RuntimeError(f"mkd-migrate plan on h{src}: {cp.stdout}{cp.stderr[-2000:]}")
    return json.loads(cp.stdout), seconds


def _hop(c: Cluster, name: str, src: int, dst: int, other: int, extra: list) -> dict:
    plan, plan_seconds = _plan(c, src, (dst, other), extra)
    by_host = {h["host"]: h for h in plan["hosts"]}
    planned, alt = by_host[c.lab.host_id(dst)], by_host[c.lab.host_id(other)]
    if not planned["ok"]:
        raise RuntimeError(f"no plan for h{dst}: {planned['error']}")
    cp = c.migrate(src, dst, *extra, timeout=600)
    if cp.returncode != 0:
        raise RuntimeError(f"mkd-migrate h{src}->h{dst}: {cp.stderr[-3000:]}")
    r = c.report(cp)
    if r["outcome"] != "ok":
        raise RuntimeError(f"mkd-migrate h{src}->h{dst}: outcome {r['outcome']}")
    sent = first_pass_bytes(r)
    return {"hop": name, "from": f"h{src}", "to": f"h{dst}", "plan_seconds": plan_seconds,
            "planned_bytes": planned["bytes"], "planned_seconds": planned["link_seconds"],
            "planned_reusable": planned["pages"]["reusable"],
            "planned_by_content": planned["pages"]["by_content"],
            "other_host": f"h{other}", "other_ok": alt["ok"],
            "other_planned_bytes": alt.get("bytes"),
            "first_pass_bytes": sent, "bytes": r["bytes"]["wire"],
            "error": (planned["bytes"] - sent) / sent if sent else None,
            "reused": r["pages"]["reused"], "by_content": r["content"]["taken"],
            "seconds": r["total_seconds"], "plan": plan, "report": r}


def plan_hops(build_dir: str, setup: Setup, content: bool, name: str = "epl") -> dict:
    run, args, _ = setup.program()
    extra = [] if content else ["--no-content-reuse"]
    with Cluster(build_dir, name, hosts=3, memory_mib=setup.memory_mib,
                 serve_args=["--content-scope", "host"]) as c:
        sibling = c.start_sibling(2, run, args)
        c.start_vm(0, run=run, args=args)
        settle([sibling, c.serial(0)], setup)
        first = _hop(c, "first", 0, 2, 1, extra)
        time.sleep(setup.settle_s)
        back = _hop(c, "return", 2, 0, 1, extra)
        return {"hops": [first, back]}
