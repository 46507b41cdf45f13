"""The sibling first hop (issue 16): a VM's first migration A->B while a sibling runs on B.

Two VMs booted from the same guest image, each with its own UUID: the sibling already runs on B,
the VM runs on A and moves A->B for the first time (B never held it: every hop gets a fresh lab,
mkdsys.Cluster with its 1 Gbit/s link). One hop per call, for one of three systems:
  stock_hop   stock QEMU pre-copy, RAM on tmpfs (systems.Stock over mkdsys.stockvm); the sibling
              is a stock VM on B's tmpfs (it shares nothing; it is there so B's CPU is as busy as
              for ours). Verified page by page (the destination starts paused, at completion the
              RAM files are compared): systems.WrongPages when pages differ, for the caller to
              count apart and run again;
  our_hop     mkd-migrate --verify, with content=False `--no-content-reuse` (today's reuse by
              generation, nothing to reuse on a first hop; --compress stays at its default,
              auto), with content=True B's serve started with `--content-scope host`: pages of
              the sibling's RAM file with the same content are taken instead of sent.

The guests (Setup.guest): "login" runs the login test's session at boot in both VMs (login.sh,
as in the evaluation's login experiment: busybox's commands, a home with a few files and
login_mb MiB of random data in /tmp), a booted guest with a used page cache and memory of its
own that no sibling can supply; "idle" boots to init's idle loop only (the most a sibling can
supply). Once both printed their end, they sit settle_s seconds before the hop.

A hop's dict: link_bytes (tx of both hosts' eth0 during the hop), bytes (mkd-migrate's wire
bytes; QEMU's ram.transferred), seconds (from the start of the hop until the VM runs on B; for
ours including the destination's setup, unlike systems.Ours' hops), setup_seconds (stock: 0),
after_setup_seconds, downtime_ms, pages_total / pages_sent / pages_content / pages_zero (stock:
non-zero and zero pages of the destination's RAM file after the hop), and for ours the content
counters, compression and CPU seconds (cpu: the source's mkd-migrate from the rusage of the
reaped child, B's serve and both memfs daemons from /proc/PID/stat, and the report's digest and
compression seconds; stock QEMU's migration CPU is inside QEMU and not counted: None).
Used by tests/bench/bench_sibling.py (scripts/bench-sibling) and experiments.sibling.
"""

import os
import resource
import time
from dataclasses import dataclass

from .systems import Stock  # (it also puts tests/system on the path, for mkdsys)
from mkdsys.cluster import Cluster  # noqa: E402
from mkdsys.stockvm import StockVm  # noqa: E402

PAGE = 4096


@dataclass
class Setup:
    """The two guests of a sibling hop."""
    memory_mib: int = 256
    guest: str = "login"     # or "idle"
    login_mb: int = 16       # MiB of random data each login session writes to /tmp
    settle_s: float = 5.0    # both VMs sit this long after their session ended, before the hop

    def program(self) -> tuple:
        """(run, args, the serial line that says the guest settled)."""
        if self.guest == "login":
            return "login", ["--mb", str(self.login_mb)], r"^MKD login done"
        return "idle", [], r"^MKD init idle"


# ---- CPU accounting
TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid) -> float:
    """CPU seconds (user + system, all threads, not children) of a live process; 0 if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def daemons_cpu(c: Cluster, dst: int) -> dict:
    return {"dest_serve": proc_cpu(c.serve[dst].pid),
            "memfs": sum(proc_cpu(m.proc.pid) for m in c.memfs if m.proc)}


# ---- the sibling (Cluster.start_sibling)
def settle(serials: list, setup: Setup) -> None:
    _, _, ready = setup.program()
    for s in serials:
        s.wait_for(ready, timeout=300, fail_on=r"Kernel panic|soft lockup")
    time.sleep(setup.settle_s)


# ---- ours
def our_hop(build_dir: str, setup: Setup, content: bool, name: str = "sib",
            serve_args: tuple = ()) -> dict:
    """mkd-migrate's first hop h0->h1: with content=False --no-content-reuse, with content=True
    B's serve at --content-scope host; serve_args: more arguments of every serve."""
    run, args, _ = setup.program()
    with Cluster(build_dir, name, hosts=2, memory_mib=setup.memory_mib,
                 serve_args=(["--content-scope", "host"] if content else []) + list(serve_args),
                 ) as c:
        sibling = c.start_sibling(1, run, args)
        c.start_vm(0, run=run, args=args)
        settle([sibling, c.serial(0)], setup)
        if content and any(a.startswith("--content-index-refresh") for a in serve_args):
            # B's serve built its first index as it started, before the sibling had memory, and
            # the next build comes S seconds later: a hop about S seconds in raced it (at
            # 6984b29, two of three hops found an empty index and took nothing). Restarted now
            # the sibling settled, its first build (logged at info) holds the sibling's pages.
            c.start_serve(1)
            c.serve_marks[1].wait_for(r"content index refreshed: [1-9]\d* pages", timeout=120)
        c.wait_serve_idle(1)
        extra = ["--verify"] + ([] if content else ["--no-content-reuse"])
        before = c.link_bytes()
        daemons = daemons_cpu(c, 1)
        cpu = children_cpu()
        cp = c.migrate(0, 1, *extra, timeout=600)
        cpu = children_cpu() - cpu
        daemons = {k: v - daemons[k] for k, v in daemons_cpu(c, 1).items()}
        link = c.link_bytes() - before
        if cp.returncode != 0:
            raise RuntimeError(f"mkd-migrate h0->h1 {' '.join(extra)}: {cp.stderr[-3000:]}\n"
                               f"serve log of h1:\n{c.serve_log(1)[-3000:]}")
        r = c.report(cp)
        if r["outcome"] != "ok" or not r["verified"]:
            raise RuntimeError(f"mkd-migrate h0->h1: outcome {r['outcome']}, verified "
                               f"{r['verified']}")
        p = r["pages"]
        return {"link_bytes": link, "bytes": r["bytes"]["wire"],
                "seconds": r["total_seconds"], "setup_seconds": r["setup_seconds"],
                "after_setup_seconds": r["total_seconds"] - r["setup_seconds"],
                "downtime_ms": r["downtime_ms"]["qemu"], "pause_ms": r["downtime_ms"]["ours"],
                "until_running_ms": r["downtime_ms"]["until_running"],
                "pages_total": p["total"], "pages_sent": p["sent"],
                "pages_content": p["content"], "pages_zero": p["zero"],
                "pages_reused": p["reused"], "content": r["content"],
                "compression": r["compression"],
                "cpu": {"source_tool": cpu, **daemons,
                        "digest": r["content"]["digest_seconds"],
                        "compress": r["compression"]["seconds"]},
                "serve_content_log": [ln for ln in c.serve_log(1).splitlines()
                                      if "by content" in ln or "content index" in ln],
                "report": r}


# ---- stock
def count_zero_pages(path: str) -> tuple:
    """(pages, zero pages) of a RAM file."""
    zero = bytes(PAGE)
    pages = zeros = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(256 * PAGE)
            if not chunk:
                break
            for at in range(0, len(chunk), PAGE):
                pages += 1
                zeros += chunk[at:at + PAGE] == zero
    return pages, zeros


def stock_hop(build_dir: str, setup: Setup, name: str = "sib") -> dict:
    """Stock QEMU's first hop h0->h1, verified page by page (WrongPages when pages differ)."""
    run, args, _ = setup.program()
    with Cluster(build_dir, name, hosts=2, memory_mib=setup.memory_mib) as c, \
            StockVm(c, tmpfs_size=f"{2 * setup.memory_mib + 512}m") as vm:
        # Its definition outside the VM directory: serve does not see it (it shares nothing).
        sibling = c.start_sibling(1, run, args, ram={"type": "tmpfs", "dir": c.lab.mount_dir(1)},
                                  definition_dir=c.lab.state_dir(1), prefix="stock-")
        vm.start(0, run, args)
        settle([sibling, vm.serial(0)], setup)
        hop = Stock(c, vm).migrate(0, 1, timeout=600, verify=True)
        total, zero = count_zero_pages(vm.ram_file(1))
        hop.update({"after_setup_seconds": hop["seconds"] - hop["setup_seconds"],
                    "pages_total": total, "pages_sent": total - zero, "pages_content": 0,
                    "pages_zero": zero, "pages_reused": 0, "until_running_ms": None,
                    "cpu": None})
        return hop
