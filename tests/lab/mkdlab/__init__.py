"""mkdlab: a lab of emulated hosts on one machine, for miyakodori's system tests and benchmarks.

A lab NAME with N hosts is:
  * one network namespace per host, ``mkd-NAME-h<i>``, holding ``lo`` and ``eth0`` (address
    10.X.Y.<i+1>/24, the /24 derived from NAME and checked against the other labs);
  * a switch namespace ``mkd-NAME-sw`` holding the bridge ``br0`` and the far end ``h<i>`` of every
    host's veth pair (nothing is created in the root namespace except the /run/netns entries);
  * tc on every host's ``eth0``: tbf at the lab's rate (default 1 Gbit/s, the paper's cluster); with a
    delay, a small queue daemon in every host holds each packet received on ``eth0`` for the delay
    (this kernel has no sch_netem; see README.md);
  * directories /run/mkd-lab/NAME/h<i>/{mnt,state} (memory file system mount point and host state);
  * the state file /run/mkd-lab/NAME.json recording all of the above plus the creator process, so
    ``down`` removes exactly that and ``reap`` removes labs whose creator died.

Python 3 standard library only. Needs root. Use as a context manager:

    with mkdlab.Lab("mig", hosts=2) as lab:
        lab.popen(0, ["qemu-system-x86_64", ...])
        print(lab.measure())          # MB/s from h0 to h1

or from the shell: tests/lab/mkd-lab up|down|list|exec|measure|reap (``mkd-lab --help``).

The package, one concern a module (each module's docstring is its contract):
  common      constants, LabError, running commands (in a namespace), process identity, the lock
  units       tc-style rates and times
  state       the state files RUN_DIR/NAME.json
  addressing  the lab's subnet
  create      building a lab, resource by resource, recorded before created
  teardown    removing labs (down, reap), list_labs
  delayd      the delay daemon (a script run inside the switch namespace)
  owned       labs of this process, torn down at exit and on SIGTERM/SIGINT
  lab         the Lab class
  cli         the command line (mkd-lab)
This file only re-exports the public interface; names with a leading underscore are internal to
the package (shared between its modules, not for its users).
"""

from .cli import main
from .common import DEFAULT_DELAY, DEFAULT_RATE, MAX_HOSTS, RUN_DIR, LabError
from .lab import Lab
from .teardown import down, list_labs, reap
from .units import parse_rate, parse_time

__all__ = ["DEFAULT_DELAY", "DEFAULT_RATE", "MAX_HOSTS", "RUN_DIR", "Lab", "LabError", "down",
           "list_labs", "main", "parse_rate", "parse_time", "reap"]
