"""The PNG figures of the evaluation, drawn by gnuplot (Debian's gnuplot-nox, pngcairo) from the
results JSON, in the style of the paper's figures:

  fig3.png            the micro-benchmark's return hop: bytes (left) and time (right) against the
                      page writer's rate, one bar per system (paper figure 3)
  fig4.png            the web workload's bytes per hop (out, back) per system, pre-copy (left)
                      and post-copy (right) (paper figure 4)
  web-throughput.png  connections completed per second over the web run (first repetition),
                      the hops marked

make_all() returns the names of the figures it wrote; a figure without data is skipped.
"""

import os
import subprocess
from typing import Dict, List

from .report import med, runs_of
from .systems import SYSTEMS

STYLE = """set terminal pngcairo size 1000,420 font "DejaVu Sans,10"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key outside bottom center horizontal
set yrange [0:*]
"""
COLORS = {"reuse": "#1b9e77", "no-reuse": "#d95f02", "stock": "#7570b3"}


def _block(name: str, rows: List[List]) -> str:
    lines = [f"${name} << EOD"] + [" ".join(str(c) for c in row) for row in rows] + ["EOD"]
    return "\n".join(lines) + "\n"


def _bars(block: str, columns: int, offset: int = 2) -> str:
    return ", ".join(f'{block} using {offset + i}:xtic(1) title "{s}" lc rgb "{COLORS[s]}"'
                     for i, s in enumerate(SYSTEMS[:columns]))


def _gnuplot(script: str) -> None:
    subprocess.run(["gnuplot"], input=script, text=True, check=True, capture_output=True,
                   timeout=60)


def fig3(res: dict, path: str) -> bool:
    rows_b, rows_t = [], []
    for rate in res["scale"]["micro_rates"]:
        b, t = [str(rate)], [str(rate)]
        for s in SYSTEMS:
            rs = [r for r in runs_of(res, "micro", s, rate=rate) if len(r["hops"]) > 1]
            b.append(round((med([r["hops"][1]["link_bytes"] for r in rs]) or 0) / 1e6, 2))
            t.append(round(med([r["hops"][1]["seconds"] for r in rs]) or 0, 3))
        rows_b.append(b)
        rows_t.append(t)
    if not rows_b:
        return False
    _gnuplot(STYLE + _block("bytes", rows_b) + _block("time", rows_t) + f"""
set output "{path}"
set multiplot layout 1,2 title "Return hop B->A after rewriting pages on B (paper figure 3)"
set xlabel "memory update rate (pages/s)"
set ylabel "transferred data (MB)"
plot {_bars("$bytes", 3)}
set ylabel "total migration time (s)"
plot {_bars("$time", 3)}
unset multiplot
""")
    return True


def fig4(res: dict, path: str) -> bool:
    blocks, plots = "", []
    for pc, name in ((False, "pre"), (True, "post")):
        rows = []
        for h, label in ((0, "out"), (1, "back")):
            row = [label]
            for s in SYSTEMS:
                rs = runs_of(res, "web", s, postcopy=pc)
                row.append(round((med([r["hops"][h]["link_bytes"] for r in rs]) or 0) / 1e6, 2))
            rows.append(row)
        blocks += _block(name, rows)
        plots.append(f'set title "{name}-copy"\nplot {_bars("$" + name, 3)}')
    if not any(runs_of(res, "web", s, postcopy=pc) for s in SYSTEMS for pc in (False, True)):
        return False
    _gnuplot(STYLE + blocks + f"""
set output "{path}"
set multiplot layout 1,2 title "Web workload: transferred data per migration (paper figure 4)"
set ylabel "transferred data (MB)"
""" + "\n".join(plots) + "\nunset multiplot\n")
    return True


def web_throughput(res: dict, path: str) -> bool:
    blocks, panels, marks = "", [], []
    for pc in (False, True):
        plot = []
        for s in SYSTEMS:
            rs = runs_of(res, "web", s, postcopy=pc)
            if not rs:
                continue
            name = f"{s}{'p' if pc else ''}".replace("-", "")
            blocks += _block(name, [[x["second"], x["ok"]] for x in rs[0]["seconds"]])
            plot.append(f'${name} using 1:2 with lines lw 1.5 lc rgb "{COLORS[s]}" title "{s}"')
            if not marks:
                marks = [m["start"] for m in rs[0]["marks"]]
        if plot:
            panels.append(f'set title "{"post" if pc else "pre"}-copy"\nplot ' + ", ".join(plot))
    if not panels:
        return False
    arrows = "".join(f"set arrow from {x:.1f}, graph 0 to {x:.1f}, graph 1 nohead dt 2 lc "
                     f"rgb 'grey'\n" for x in marks)
    _gnuplot(f"""set terminal pngcairo size 1000,420 font "DejaVu Sans,10"
set output "{path}"
set multiplot layout 1,2 title "Web workload: connections completed per second (first repetition; dashed: the hops start)"
set xlabel "seconds since the load started (guest clock)"
set ylabel "connections/s"
set grid
set key outside bottom center horizontal
set yrange [0:*]
""" + blocks + arrows + "\n".join(panels) + "\nunset multiplot\n")
    return True


def make_all(res: dict, out_dir: str) -> Dict[str, str]:
    made = {}
    for name, fn in (("fig3.png", fig3), ("fig4.png", fig4),
                     ("web-throughput.png", web_throughput)):
        path = os.path.join(out_dir, name)
        if fn(res, path):
            made[name] = path
    return made
