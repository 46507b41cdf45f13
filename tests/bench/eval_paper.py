#!/usr/bin/env python3
"""Reruns the paper's evaluation in the lab and writes its report and plots.

Issue 7: login test (table 3), micro-benchmark (figure 3) with its convergence sweep, web workload (figure 4) and overhead (section 6.3), each on
three systems in the same run over the same 1 Gbit/s lab link with the same guest: miyakodori
with reuse, miyakodori --no-reuse, and stock QEMU migration with RAM on tmpfs.
Issue 16: the micro-benchmark also runs reuse with generations only (--no-content-reuse, the
"generation only" rows: what reuse by content must not make worse); the sibling first hop (a
VM's first hop to a host where a sibling booted from the same image runs), where no-reuse is
reuse by generation only (--no-content-reuse) and reuse adds reuse by content (the
destination's serve at --content-scope host); and the plan experiment (what
`mkd-migrate plan` predicted against what the hop then sent, ours only).

Writes the results JSON, the Markdown report and the PNG plots (docs/evaluation.md and
docs/evaluation/ for the full run; build/eval-quick/ for --quick). Run it as scripts/eval-paper.

Usage: scripts/eval-paper [--quick] [--reps N] [--only login,micro,converge,web,speed,sibling,plan]
                          [--merge]
       scripts/eval-paper --report-only [--quick]     (report and plots again from the results JSON)
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
import traceback

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from paper_eval import experiments, plots, report  # noqa: E402
from paper_eval.report import GENERATION_ONLY  # noqa: E402
from paper_eval.systems import SYSTEMS, Lab, WrongPages  # noqa: E402

EXPERIMENTS = experiments.EXPERIMENTS
ATTEMPTS = 3  # a run whose destination guest broke (stock QEMU under TCG) is repeated this often


def log(message: str) -> None:
    print(f"eval-paper: {message}", file=sys.stderr, flush=True)


def machine(build_dir: str) -> dict:
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True,
                          text=True).stdout.splitlines()[0]
    commit = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip()
    with Lab(build_dir, "stock", 256, name="evl") as s:
        link_mb_s = s.c.lab.measure(0, 1)
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_kb / 2**20, 1),
            "kernel": platform.release(), "qemu": qemu, "accel": "tcg", "commit": commit,
            "link": "1gbit (tbf on each lab host's eth0)", "link_mb_s": round(link_mb_s, 1),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def jobs(args, scale):
    """(experiment, key, system, callable) in the order they run, for one repetition."""
    out = []
    for exp in args.only:
        for system in SYSTEMS:
            if exp == "login":
                for mb in scale.login_mbs:
                    out.append((exp, {"mb": mb}, system, lambda s=system, m=mb:
                                experiments.login(args.build_dir, s, scale, m)))
                if scale.login_text_mb:
                    out.append((exp, {"mb": scale.login_text_mb, "data": "text"}, system,
                                lambda s=system: experiments.login(
                                    args.build_dir, s, scale, scale.login_text_mb, "text")))
            elif exp == "micro":
                for rate in scale.micro_rates:
                    out.append((exp, {"rate": rate}, system, lambda s=system, r=rate:
                                experiments.micro(args.build_dir, s, scale, r)))
                    if system == "reuse":  # issue 16: against reuse by generations only
                        out.append((exp, {"rate": rate, "variant": GENERATION_ONLY}, system,
                                    lambda r=rate: experiments.micro(
                                        args.build_dir, "reuse", scale, r,
                                        extra=["--no-content-reuse"])))
            elif exp == "converge":
                for rate in scale.converge_rates:
                    out.append((exp, {"rate": rate}, system, lambda s=system, r=rate:
                                experiments.micro(args.build_dir, s, scale, r,
                                                  return_timeout=120)))
            elif exp == "web":
                for pc in (False, True):
                    out.append((exp, {"postcopy": pc}, system, lambda s=system, p=pc:
                                experiments.web(args.build_dir, s, scale, p)))
            elif exp == "speed" and system != "no-reuse":  # no-reuse runs on the same memfs
                out.append((exp, {}, system, lambda s=system:
                            experiments.write_speed(args.build_dir, s, scale)))
            elif exp == "sibling":
                out.append((exp, {}, system, lambda s=system:
                            experiments.sibling(args.build_dir, s, scale)))
            elif exp == "plan" and system != "stock":  # a plan is ours alone
                out.append((exp, {}, system, lambda s=system:
                            experiments.plan(args.build_dir, s, scale)))
    return out


def run_one(fn) -> dict:
    """Runs fn, repeating it (fresh lab) when the destination guest broke; returns the record."""
    broken = []
    for _ in range(ATTEMPTS):
        try:
            return {"result": fn(), "broken": broken}
        except (experiments.Broken, WrongPages) as e:
            broken.append(str(e)[:400])
            log(f"  broken destination, again: {e}")
        except Exception as e:  # noqa: BLE001 - one failed run must not end the evaluation
            log(f"  failed: {e}")
            return {"error": f"{type(e).__name__}: {str(e)[-1500:]}", "broken": broken,
                    "traceback": traceback.format_exc()[-3000:]}
    return {"error": f"the destination guest broke, or stock QEMU delivered wrong pages, in all "
                     f"{ATTEMPTS} attempts", "broken": broken}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[1:]))
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: small guests and workloads, 1 repetition (~10 min)")
    ap.add_argument("--reps", type=int, help="repetitions (default 3; 1 with --quick)")
    ap.add_argument("--only", default=",".join(EXPERIMENTS),
                    help=f"experiments to run, comma-separated ({','.join(EXPERIMENTS)})")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out-dir", help="where results, report and plots go (default docs/ for a "
                    "full run, build/eval-quick/ for --quick)")
    ap.add_argument("--report-only", action="store_true",
                    help="regenerate the report and plots from the results JSON")
    ap.add_argument("--merge", action="store_true",
                    help="keep the runs of the other experiments in the results JSON and redo "
                         "only those of --only (e.g. after one experiment failed); the report "
                         "shows the replaced runs beside the new ones (\"Before and after\")")
    args = ap.parse_args()
    scale = experiments.QUICK if args.quick else experiments.FULL
    reps = args.reps or (1 if args.quick else 3)
    args.only = [e.strip() for e in args.only.split(",") if e.strip()]
    for e in args.only:
        if e not in EXPERIMENTS:
            ap.error(f"unknown experiment {e!r}; one of {', '.join(EXPERIMENTS)}")
    out_dir = args.out_dir or (os.path.join(ROOT, "build", "eval-quick") if args.quick
                               else os.path.join(ROOT, "docs"))
    fig_dir = os.path.join(out_dir, "evaluation")
    os.makedirs(fig_dir, exist_ok=True)
    results_path = os.path.join(fig_dir, "results.json")
    report_path = os.path.join(out_dir, "evaluation.md")

    if not args.report_only:
        command = ("scripts/eval-paper " + " ".join(sys.argv[1:])).strip()
        results = {"scale": scale.__dict__, "reps": reps, "command": command,
                   "machine": machine(args.build_dir), "runs": []}
        if args.merge:
            with open(results_path) as f:
                old = json.load(f)
            new_scale = json.loads(json.dumps(results["scale"]))  # tuples -> lists
            # Sizes added since the file was made (a new experiment's) are not a difference.
            if old["scale"] != {k: v for k, v in new_scale.items() if k in old["scale"]}:
                ap.error(f"--merge: {results_path} was made with other sizes (--quick or not)")
            for r in old["runs"]:  # runs from before runs named their commit: the file's
                r.setdefault("commit", old["machine"]["commit"])
                r.setdefault("date", old["machine"]["date"])
            results["runs"] = [r for r in old["runs"] if r["experiment"] not in args.only]
            # The replaced runs stay for the report's "Before and after" (each names its commit).
            results["previous"] = {"runs": [r for r in old["runs"] if r["experiment"] in args.only]}
            results["command"] = old["command"]
            results["merged"] = old.get("merged", []) + [command]
            results["minutes"] = old.get("minutes", 0)
        log(f"machine: {json.dumps(results['machine'])}")
        todo = jobs(args, scale)
        started = time.monotonic()
        for rep in range(1, reps + 1):
            for n, (exp, key, system, fn) in enumerate(todo, start=1):
                if exp == "converge" and rep > 1:
                    continue  # a sweep for the rate where convergence ends: one repetition
                log(f"repetition {rep}/{reps}, run {n}/{len(todo)}: {exp} {key or ''} {system} "
                    f"({(time.monotonic() - started) / 60:.1f} min so far)")
                record = {"experiment": exp, "system": system, "rep": rep,
                          "commit": results["machine"]["commit"],
                          "date": results["machine"]["date"], **key, **run_one(fn)}
                results["runs"].append(record)
                log(f"  {json.dumps(record.get('result', record.get('error')))[:600]}")
                with open(results_path, "w") as f:  # after every run: a crash keeps the rest
                    json.dump(results, f, indent=1)
        results["minutes"] = round(results.get("minutes", 0) +
                                   (time.monotonic() - started) / 60, 1)
        with open(results_path, "w") as f:
            json.dump(results, f, indent=1)
    with open(results_path) as f:
        results = json.load(f)
    figures = plots.make_all(results, fig_dir)
    with open(report_path, "w") as f:
        f.write(report.markdown(results, figures, os.path.relpath(fig_dir, out_dir)))
    log(f"report: {report_path}; results: {results_path}; plots: {', '.join(figures)}")
    failed = [r for r in results["runs"] if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
