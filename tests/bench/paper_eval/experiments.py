"""The experiments of the paper's section 5 (and 6.3), each run on one system in a fresh lab.

Every function takes the build directory, a system name (systems.SYSTEMS) and a Scale (the full
evaluation or the quick smoke run) and returns a plain dict for the results JSON. A destination
guest that does not go on working after a hop raises Broken: stock QEMU under TCG sometimes
delivers such a guest (docs/qemu-config.md, "Known issue"); the driver then repeats the run with a
fresh lab and counts the broken attempts in the results.

  login        table 3: boot to a prompt on A, A->B, log in (login.sh) on B, B->A; the session
               writes M MiB of random data, or of text (issue 16)
  micro        figure 3: the page writer fills --mb MB on A, A->B, rewrites `rate` pages/s on B,
               B->A after 10 s of writes (the writes go on during the hop, as in the paper); and
               for reuse a variant with generations only (--no-content-reuse, issue 16)
  web          figure 4: web.sh (busybox httpd + mkd-loadgen in the guest), out at 30 s after the
               load started, back at 60 s; pre-copy or post-copy
  write_speed  section 6.3.1: the page writer's first touch and rewrite speed on the host's RAM
               file system (memfs for miyakodori, tmpfs for stock), no migration
  sibling      issue 16: a VM's first hop A->B while a sibling booted from the same image runs
               on B (sibling.py); here no-reuse is reuse by generation only
               (--no-content-reuse) and reuse adds reuse by content (B's serve --content-scope
               host)
  plan         issue 16: `mkd-migrate plan` before a first hop to a sibling's host and before
               the return hop, against the bytes each hop then sent (plan.py); ours only: reuse
               plans and migrates with reuse by content, no-reuse with generations only
"""

import re
import time
from dataclasses import dataclass
from typing import List, Sequence

from . import plan as planning
from . import sibling as sib
from .systems import HopFailed, Lab

# In the order they run; eval_paper.py's --only picks from these.
EXPERIMENTS = ("login", "micro", "converge", "web", "speed", "sibling", "plan")


class Broken(RuntimeError):
    """The destination guest did not go on working after a completed hop."""


@dataclass
class Scale:
    """Sizes of one evaluation: the paper's (full) or a smoke run's (quick)."""
    name: str
    login_mib: int = 256
    login_mbs: tuple = (16, 0)    # MiB the login session writes to /tmp (16: login.sh's default)
    login_text_mb: int = 16       # and a run writing this much text instead of random (0: none)
    micro_mib: int = 1024
    micro_mb: int = 500
    micro_rates: tuple = (200, 1000, 5000)
    converge_rates: tuple = (7500, 10000, 30000)  # one repetition (the first)
    write_seconds: float = 10.0
    web_mib: int = 640
    web_files: int = 1024
    web_rate: int = 100
    web_out_s: float = 30.0
    web_back_s: float = 60.0
    web_connections: int = 10240
    speed_mib: int = 1024
    speed_mb: int = 500
    speed_seconds: int = 35       # rewrite passes for this long (past the 30 s write-back period)
    sibling_mib: int = 256        # the sibling experiment's VM and sibling (as login's: quick too)
    sibling_login_mb: int = 16    # MiB of random data each one's login session writes to /tmp
    sibling_settle_s: float = 5.0  # both sit this long after their session, before the hop


FULL = Scale("full")
QUICK = Scale("quick", micro_mib=256, micro_mb=100, micro_rates=(1000,),
              converge_rates=(20000,), write_seconds=5.0, web_mib=256, web_files=64,
              web_rate=20, web_out_s=8.0, web_back_s=16.0, web_connections=500, speed_mib=256,
              speed_mb=100, speed_seconds=5)


def wait_working(serial, regex: str, timeout: float, what: str):
    """Waits for the workload's next line on a destination; Broken if it does not come."""
    try:
        return serial.wait_for(regex, timeout=timeout, fail_on=r"soft lockup|Kernel panic")
    except AssertionError as e:  # SerialTimeout
        raise Broken(f"the guest did not go on after the hop ({what}): {str(e)[:300]}") from None


def login(build_dir: str, system: str, scale: Scale, mb: int, data: str = "random") -> dict:
    """data: what the session writes to /tmp (login.sh --data: random or text)."""
    with Lab(build_dir, system, scale.login_mib) as s:
        s.start(0, "login", ["--mb", str(mb), "--data", data], kernel_args=["mkd.wait=1"])
        s.serial(0).wait_for(r"^MKD init waiting", timeout=120)
        time.sleep(2)  # the prompt: the guest sits idle
        out = s.migrate(0, 1)
        serial = s.serial(1)
        s.send_line(1, "login")
        done = wait_working(serial, r"^MKD login done .*seconds=([\d.]+)", 120, "login on B")
        time.sleep(2)
        back = s.migrate(1, 0)
        return {"hops": [out, back], "login_seconds": float(done.group(1))}


def _writer_rate(text: str) -> float:
    """Pages/s the page writer reached: from its last two progress lines."""
    rows = [(int(a), int(b)) for a, b in
            re.findall(r"MKD pagewriter progress second=(\d+) written=(\d+)", text)]
    if len(rows) < 2:
        return 0.0
    (s0, w0), (s1, w1) = rows[-2], rows[-1]
    return (w1 - w0) / (s1 - s0) if s1 > s0 else 0.0


def micro(build_dir: str, system: str, scale: Scale, rate: int, return_timeout: float = 300,
          extra: Sequence[str] = ()) -> dict:
    """extra: more mkd-migrate arguments for both hops (ours only; the generation-only variant's
    --no-content-reuse)."""
    hop_args = {"extra": list(extra)} if extra else {}
    with Lab(build_dir, system, scale.micro_mib) as s:
        s.start(0, "pagewriter", ["--mb", str(scale.micro_mb), "--rate", str(rate), "--seconds",
                                  "1000000", "--wait-input"])
        filled = s.serial(0).wait_for(r"^MKD pagewriter filled mb=\d+ pages=\d+ seconds=([\d.]+)",
                                      timeout=600)
        s.serial(0).wait_for(r"^MKD pagewriter waiting", timeout=30)
        time.sleep(1)
        out = s.migrate(0, 1, **hop_args)
        serial = s.serial(1)
        s.send_line(1, "go")
        started = time.monotonic()
        wait_working(serial, r"^MKD pagewriter progress", 30, "page writer on B")
        time.sleep(max(0.0, scale.write_seconds - (time.monotonic() - started)))
        achieved = _writer_rate(serial.text())
        result = {"rate": rate, "fill_seconds": float(filled.group(1)),
                  "achieved_rate": achieved, "hops": [out]}
        try:
            result["hops"].append(s.migrate(1, 0, timeout=return_timeout, **hop_args,
                                            **({} if system == "stock" else {"changed": True})))
        except HopFailed as e:
            result["return_failed"] = str(e)[-500:]
        return result


def _loadgen_seconds(text: str) -> List[dict]:
    return [{"second": int(t), "ok": int(ok), "max_ms": int(mx), "errors": int(err)}
            for t, ok, mx, err in re.findall(
                r"MKD loadgen second=(\d+) ok=(\d+) bytes=\d+ max_ms=(\d+) errors=(\d+)", text)]


def web(build_dir: str, system: str, scale: Scale, postcopy: bool) -> dict:
    with Lab(build_dir, system, scale.web_mib) as s:
        s.start(0, "web", ["--files", str(scale.web_files), "--rate", str(scale.web_rate),
                           "--connections", str(scale.web_connections)])
        s.serial(0).wait_for(r"^MKD loadgen start", timeout=600)
        t0 = time.monotonic()
        hops, marks = [], []
        segments = []  # the serial log of each stay (a QEMU's log starts anew on each host)
        for src, dst, at in ((0, 1, scale.web_out_s), (1, 0, scale.web_back_s)):
            time.sleep(max(0.0, at - (time.monotonic() - t0)))
            begin = time.monotonic() - t0
            hop = s.migrate(src, dst, postcopy=postcopy)
            segments.append(s.serial(src).text())
            marks.append({"start": begin, "running": begin + hop["setup_seconds"] +
                          hop["running_seconds"], "end": time.monotonic() - t0})
            hops.append(hop)
            wait_working(s.serial(dst), r"^MKD loadgen second=", 60, "web server on the "
                         "destination")
        done = s.serial(0).wait_for(r"^MKD loadgen done connections=(\d+) ok=(\d+) errors=(\d+)",
                                    timeout=scale.web_connections / scale.web_rate + 120)
        segments.append(s.serial(0).text())
        seconds = {}
        for text in segments:  # a second's line appears once; later segments win ties
            for row in _loadgen_seconds(text):
                seconds[row["second"]] = row
        return {"postcopy": postcopy, "hops": hops, "marks": marks,
                "seconds": [seconds[k] for k in sorted(seconds)],
                "connections": int(done.group(1)), "ok": int(done.group(2)),
                "errors": int(done.group(3))}


def write_speed(build_dir: str, system: str, scale: Scale) -> dict:
    with Lab(build_dir, system, scale.speed_mib) as s:
        s.start(0, "pagewriter", ["--mb", str(scale.speed_mb), "--rewrite-passes", "1000000",
                                  "--rewrite-seconds", str(scale.speed_seconds), "--seconds", "0",
                                  "--exit"])
        serial = s.serial(0)
        mapped = serial.wait_for(r"^MKD pagewriter mapped mb=(\d+) seconds=([\d.]+)", timeout=600)
        filled = serial.wait_for(r"^MKD pagewriter filled mb=(\d+) pages=\d+ seconds=([\d.]+)",
                                 timeout=600)
        done = serial.wait_for(r"^MKD pagewriter rewritten passes=(\d+) seconds=([\d.]+) mb=(\d+)",
                               timeout=scale.speed_seconds + 300)
        mb = int(mapped.group(1))
        passes, secs = int(done.group(1)), float(done.group(2))
        return {"mb": mb, "mapped_seconds": float(mapped.group(2)),
                "fill_seconds": float(filled.group(2)),
                "first_touch_mb_s": mb / float(filled.group(2)),
                "rewrite_mb_s": mb * passes / secs, "passes": passes}


def sibling(build_dir: str, system: str, scale: Scale) -> dict:
    """Issue 16: the VM's first hop A->B with a sibling from the same image running on B, both
    after the login session; stock (verified page by page: WrongPages), no-reuse = mkd-migrate
    --no-content-reuse (generation only), reuse = mkd-migrate with B's serve at
    --content-scope host --content-index-refresh 10."""
    setup = sib.Setup(memory_mib=scale.sibling_mib, guest="login",
                      login_mb=scale.sibling_login_mb, settle_s=scale.sibling_settle_s)
    if system == "stock":
        return {"hops": [sib.stock_hop(build_dir, setup)]}
    content = system == "reuse"
    # A host that runs siblings for their content keeps its index built (serve
    # --content-index-refresh), so the arrival does not wait for a build.
    return {"hops": [sib.our_hop(build_dir, setup, content=content,
                                 serve_args=["--content-index-refresh", "10"] if content else [])]}


def plan(build_dir: str, system: str, scale: Scale) -> dict:
    """Issue 16: plans against the hops that follow them (plan.py), the sibling experiment's
    guests; reuse = with reuse by content, no-reuse = --no-content-reuse."""
    setup = sib.Setup(memory_mib=scale.sibling_mib, guest="login",
                      login_mb=scale.sibling_login_mb, settle_s=scale.sibling_settle_s)
    return planning.plan_hops(build_dir, setup, content=system == "reuse")
