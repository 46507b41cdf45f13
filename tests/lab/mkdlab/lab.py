"""The Lab class: one lab of emulated hosts, created by up() (or `with`) and removed by down();
its facts (addresses, host ids, directories) and running things in a host (exec, popen, ping,
iperf3 measure). Processes it starts are terminated by down(), by pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import time
import uuid
from typing import Sequence

from .common import (DEFAULT_DELAY, DEFAULT_RATE, MAX_HOSTS, LabError, _global_lock, _in_ns,
                     _netns_pids)
from .create import _create
from .owned import _OWNED, _install_handlers
from .state import _check_name, _load_state
from .teardown import _teardown
from .units import parse_rate, parse_time


class Lab:
    """A lab of ``hosts`` emulated hosts. ``up()`` (or ``with``) creates it; ``down()`` removes it.

    Owned labs (the default) are torn down on context exit, at interpreter exit and on
    SIGTERM/SIGINT; a lab whose creator was SIGKILLed is removed by the next ``up`` or ``reap``.
    """

    def __init__(self, name: str, hosts: int = 2, rate: str | int = DEFAULT_RATE,
                 delay: str | int = DEFAULT_DELAY, *, owner_pid: int | None = None,
                 cleanup: bool = True):
        self.name = _check_name(name)
        if not 1 <= hosts <= MAX_HOSTS:
            raise LabError(f"hosts must be 1..{MAX_HOSTS}")
        self.hosts = hosts
        self.rate_bps = parse_rate(rate)
        self.delay_us = parse_time(delay)
        self._owner_pid = owner_pid
        self._cleanup = cleanup
        self._token = uuid.uuid4().hex
        self._state: dict | None = None
        self._procs: list[subprocess.Popen] = []
        self._is_down = False

    # -- lifecycle
    @classmethod
    def attach(cls, name: str) -> "Lab":
        """The existing lab NAME, not owned: nothing is torn down unless down() is called."""
        st = _load_state(_check_name(name))
        if st is None:
            raise LabError(f"no lab {name!r}")
        lab = cls(name, len(st["hosts"]), st["rate_bps"], st["delay_us"], cleanup=False)
        lab._state, lab._token = st, st["token"]
        return lab

    def up(self) -> "Lab":
        if self._state is not None:
            return self
        if os.geteuid() != 0:
            raise LabError("the lab needs root (network namespaces, tc)")
        if self._cleanup:
            _install_handlers()
            _OWNED.append(self)
        self._is_down = False
        try:
            self._state = _create(self.name, self.hosts, self.rate_bps, self.delay_us,
                                  self._owner_pid or os.getpid(), self._token)
        except BaseException:
            self.down()
            raise
        return self

    def down(self) -> list[str]:
        """Stops tracked processes, then everything in the namespaces, then removes the lab.
        Idempotent; never removes a same-named lab created by someone else since."""
        if self._is_down:
            return []
        self._is_down = True
        if self in _OWNED:
            _OWNED.remove(self)
        for p in self._procs:
            if p.poll() is None:
                with contextlib.suppress(OSError):
                    p.terminate()
        deadline = time.monotonic() + 3
        for p in self._procs:
            try:
                p.wait(timeout=max(0.05, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    p.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=3)
        warnings: list[str] = []
        with _global_lock():
            st = _load_state(self.name)
            if st is not None and st.get("token") == self._token:
                warnings = _teardown(st)
        self._state = None
        return warnings

    def __enter__(self) -> "Lab":
        return self.up()

    def __exit__(self, *exc) -> None:
        if self._cleanup:
            self.down()

    # -- facts
    def _host(self, i: int) -> dict:
        if self._state is None:
            raise LabError(f"lab {self.name} is not up")
        if not 0 <= i < len(self._state["hosts"]):
            raise LabError(f"lab {self.name} has no host {i}")
        return self._state["hosts"][i]

    @property
    def state(self) -> dict:
        if self._state is None:
            raise LabError(f"lab {self.name} is not up")
        return self._state

    @property
    def subnet(self) -> str:
        return self.state["subnet"]

    @property
    def switch_netns(self) -> str:
        return self.state["switch_netns"]

    def netns(self, i: int) -> str:
        return self._host(i)["netns"]

    def address(self, i: int) -> str:
        return self._host(i)["address"]

    def host_id(self, i: int) -> str:
        return self._host(i)["host_id"]

    def mount_dir(self, i: int) -> str:
        return self._host(i)["mount_dir"]

    def state_dir(self, i: int) -> str:
        return self._host(i)["state_dir"]

    def env(self, i: int, base: dict | None = None) -> dict:
        """Environment for commands in host i: base (default os.environ) plus MKD_* variables."""
        h = self._host(i)
        env = dict(os.environ if base is None else base)
        env.update(MKD_LAB=self.name, MKD_HOST_INDEX=str(i), MKD_HOST_ID=h["host_id"],
                   MKD_HOST_ADDR=h["address"], MKD_MOUNT_DIR=h["mount_dir"],
                   MKD_STATE_DIR=h["state_dir"])
        return env

    def command(self, i: int, cmd: Sequence[str] | str) -> list[str]:
        """argv running cmd (a list, or a string for sh -c) inside host i's network namespace."""
        if isinstance(cmd, str):
            cmd = ["sh", "-c", cmd]
        return _in_ns(self.netns(i), list(cmd))

    # -- running things in a host
    def exec(self, i: int, cmd: Sequence[str] | str, *, timeout: float = 60, check: bool = True,
             capture_output: bool = True, text: bool = True, env: dict | None = None,
             **kw) -> subprocess.CompletedProcess:
        """subprocess.run of cmd inside host i (with a timeout; output captured by default)."""
        try:
            return subprocess.run(self.command(i, cmd), timeout=timeout, check=check,
                                  capture_output=capture_output, text=text,
                                  env=self.env(i, env), **kw)
        except subprocess.CalledProcessError as e:
            raise LabError(f"h{i}: {cmd} failed ({e.returncode}): "
                           f"{(e.stderr or '').strip()}") from e

    def popen(self, i: int, cmd: Sequence[str] | str, *, env: dict | None = None,
              **kw) -> subprocess.Popen:
        """subprocess.Popen of cmd inside host i; terminated (then killed) by down()."""
        p = subprocess.Popen(self.command(i, cmd), env=self.env(i, env), **kw)
        self._procs.append(p)
        return p

    def pids(self, i: int) -> list[int]:
        """Every process in host i's network namespace."""
        return _netns_pids(self.netns(i))

    # -- checks
    def ping(self, i: int, j: int, count: int = 3, timeout: float = 10) -> float:
        """Pings host j from host i; returns the average round-trip time in ms (LabError if lost)."""
        cp = self.exec(i, ["ping", "-n", "-q", "-c", str(count), "-i", "0.2", "-W", "2",
                           self.address(j)], check=False, timeout=timeout)
        m = re.search(r"= ([\d.]+)/([\d.]+)/([\d.]+)/", cp.stdout)
        if cp.returncode != 0 or not m:
            raise LabError(f"ping h{i} -> h{j} ({self.address(j)}) failed: "
                           f"{cp.stdout.strip()} {cp.stderr.strip()}")
        self.last_ping = {"min": float(m.group(1)), "avg": float(m.group(2)),
                          "max": float(m.group(3))}
        return self.last_ping["avg"]

    def measure(self, src: int = 0, dst: int = 1, seconds: int = 3, port: int = 5201) -> float:
        """TCP throughput src -> dst with iperf3 for `seconds`; returns MB/s (10^6 bytes/s)."""
        server = self.popen(dst, ["iperf3", "-s", "-1", "-B", self.address(dst), "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                cp = self.exec(src, ["iperf3", "-c", self.address(dst), "-p", str(port),
                                     "-t", str(seconds), "-J"],
                               check=False, timeout=seconds + 30)
                try:
                    data = json.loads(cp.stdout)
                except ValueError:
                    data = {"error": cp.stdout + cp.stderr}
                err = data.get("error")
                if not err:
                    break
                if "refused" in err and time.monotonic() < deadline and server.poll() is None:
                    time.sleep(0.1)
                    continue
                raise LabError(f"iperf3 h{src} -> h{dst}: {err}")
            bps = data["end"]["sum_received"]["bits_per_second"]
            self.last_measure = data["end"]
            return bps / 8e6
        finally:
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=5)
            if server in self._procs:
                self._procs.remove(server)
