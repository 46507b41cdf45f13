"""The paper's evaluation (MIYAKODORI section 5; docs/evaluation.md; issue 7), rerun in the lab.

Modules, one responsibility each:
  systems      the three systems compared in every experiment, behind one interface: miyakodori
               with reuse, miyakodori --no-reuse, stock QEMU with RAM on tmpfs.
  experiments  the experiments: login (table 3), micro-benchmark (figure 3) and its convergence
               sweep, web (figure 4), overhead (section 6.3), the sibling first hop (issue 16).
               Each returns plain dicts.
  sibling      the sibling first hop's two VMs and its hop on each system (also used by
               tests/bench/bench_sibling.py).
  report       the Markdown report (docs/evaluation.md) from the results JSON.
  plots        the PNG figures (gnuplot) from the results JSON.
The driver is tests/bench/eval_paper.py (scripts/eval-paper).
"""
