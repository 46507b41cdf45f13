"""A miyakodori cluster in the lab: N lab hosts, each with its own mkd-memfs mount, a
`mkd-migrate serve` in its network namespace, host certificates from a lab CA, and the same VM
defined on every host (its RAM on that host's mount). Used by the migration system tests and by
scripts/demo.

    with Cluster(build_dir, "mig", hosts=2) as c:
        c.start_vm(0, run="checker", args=["--mb", "64"])
        report = c.migrate(0, 1, "--verify")      # the JSON report of mkd-migrate
        c.serial(1).wait_for(r"^MKD checker OK", 60)

Everything it starts is stopped by pid in close() (also on failure): QEMU of the VM on each
host, the serve processes (the lab kills what remains in its namespaces), the memfs daemons
(SIGTERM, their mounts aborted if needed), the page-store tmpfs, the lab itself.
"""

import json
import os
import subprocess
import sys
import time
import uuid
from typing import List, Optional, Sequence, Tuple

from . import procs
from .image import build_guest_image, repo_root
from .logwait import LogMark, LogWaitError
from .memfs import Memfs
from .qmp import QmpClient
from .serial import SerialLog, send_line

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "lab"))
import mkdlab  # noqa: E402


def first_pass_bytes(report: dict) -> int:
    """A hop's bytes on the wire without its rounds after the first pass (pages the guest wrote
    while it ran: what a plan cannot know)."""
    return report["bytes"]["wire"] - sum(r["bytes"] for r in report["rounds"][1:])


class ClusterError(RuntimeError):
    pass


def write_vm_definition(path: str, vm_uuid: str, name: str, memory_mib: int, image, run: str,
                        args: Sequence[str], kernel_args: Sequence[str], backing: dict,
                        run_dir: str) -> None:
    """Writes an mkd-vm definition booting the guest image with guest program `run` (its
    arguments as mkd.args, kernel_args as more /init parameters) and RAM on `backing`."""
    words = [*kernel_args, *(["mkd.args=" + ",".join(args)] if args else [])]
    vm = {
        "uuid": vm_uuid,
        "name": name,
        "memory_mib": memory_mib,
        "boot": {
            "kernel": image.kernel,
            "initrd": image.initrd,
            "append": " ".join(["console=ttyS0 quiet panic=-1", f"mkd.run={run}", *words]),
        },
        "memory_backing": backing,
        "run_dir": run_dir,
    }
    with open(path, "w") as f:
        json.dump(vm, f, indent=2)


class Cluster:
    def __init__(self, build_dir: str, name: str, hosts: int = 2, rate: str = "1gbit",
                 memory_mib: int = 256, store_size: str = "1g", serve_timeout: float = 30,
                 serve_args: Sequence[str] = ()):
        self.build_dir = build_dir
        self.name = name
        self.hosts = hosts
        self.rate = rate
        self.memory_mib = memory_mib
        self.store_size = store_size
        self.serve_timeout = serve_timeout
        self.serve_args = list(serve_args)  # more options of every host's serve (benchmarks)
        # (host, definition) of start_sibling's VMs, stopped by close
        self.siblings: List[Tuple[int, str]] = []
        self.vm_uuid = str(uuid.uuid4())
        self.lab: Optional[mkdlab.Lab] = None
        self.memfs: List[Memfs] = []
        self.serve: List[subprocess.Popen] = []
        self.serve_marks: List[Optional[LogMark]] = []  # where each host's current serve began
        self.mkd_vm = os.path.join(build_dir, "qemu-config", "mkd-vm")
        self.mkd_migrate = os.path.join(build_dir, "migrate-tool", "mkd-migrate")
        for b in (self.mkd_vm, self.mkd_migrate):
            if not os.access(b, os.X_OK):
                raise ClusterError(f"{b} is not built")
        self.image = None

    # ---- lifecycle
    def __enter__(self) -> "Cluster":
        try:
            return self.up()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc) -> None:
        self.close()

    def up(self) -> "Cluster":
        self.image = build_guest_image(self.build_dir)
        self.lab = mkdlab.Lab(self.name, hosts=self.hosts, rate=self.rate).up()
        self.ca_dir = os.path.join(self.lab.state_dir(0), "..", "ca")
        self.ca_dir = os.path.abspath(self.ca_dir)
        mkd_ca = str(repo_root() / "scripts" / "mkd-ca")
        if not os.path.exists(os.path.join(self.ca_dir, "ca.crt")):
            subprocess.run([mkd_ca, "init", self.ca_dir], check=True, capture_output=True)
        for i in range(self.hosts):
            host = self.lab.host_id(i)
            subprocess.run([mkd_ca, "host", self.ca_dir, host], check=True, capture_output=True)
            m = Memfs(self.build_dir, os.path.join(self.lab.state_dir(i), "memfs"), host_id=host,
                      store_size=self.store_size)
            self.memfs.append(m)
            m.start()
            os.makedirs(self.vm_dir(i), exist_ok=True)
            self.write_definition(i, run="idle", args=[])
            self.serve.append(None)
            self.serve_marks.append(None)
            self.start_serve(i)
        return self

    def start_serve(self, i: int, env: Optional[dict] = None) -> None:
        """Starts (or restarts) `mkd-migrate serve` in host i; env adds variables (fault points).
        Returns once this run (not an earlier one: the log is appended to) is listening."""
        if self.serve[i] is not None:
            procs.stop(self.serve[i], term_timeout=5, kill_timeout=5)
        self.serve_marks[i] = LogMark(self.serve_log_path(i))
        with open(self.serve_log_path(i), "ab") as log:
            self.serve[i] = self.lab.popen(
                i, [self.mkd_migrate, "serve", "--listen", f"{self.lab.address(i)}:7420",
                    "--vm-dir", self.vm_dir(i), "--tls-dir", self.ca_dir,
                    "--host-id", self.lab.host_id(i), "--accel", "tcg", "--timeout",
                    str(self.serve_timeout), "--accel-cache",
                    os.path.join(self.lab.state_dir(i), "accel.json"), *self.serve_args],
                env=dict(os.environ, **(env or {})), stdout=log, stderr=subprocess.STDOUT)
        try:
            self.serve_marks[i].wait_for(r"listening on", timeout=10, proc=self.serve[i],
                                         what=f"mkd-migrate serve on h{i}")
        except LogWaitError as e:
            raise ClusterError(f"mkd-migrate serve on h{i} did not start: {e}") from None

    def close(self) -> None:
        if self.lab is not None:
            for host, d in self.siblings:
                self.lab.exec(host, [self.mkd_vm, "stop", d], check=False, timeout=60)
            for i in range(self.hosts):
                if os.path.exists(self.definition(i)):
                    self.lab.exec(i, [self.mkd_vm, "stop", self.definition(i)], check=False,
                                  timeout=60)
            for p in self.serve:
                if p is not None:
                    procs.stop(p, term_timeout=5, kill_timeout=5)
        for m in self.memfs:
            m.destroy()
        if self.lab is not None:
            self.lab.down()
            self.lab = None

    # ---- paths
    def vm_dir(self, i: int) -> str:
        return os.path.join(self.lab.state_dir(i), "vms")

    def definition(self, i: int) -> str:
        return os.path.join(self.vm_dir(i), f"{self.vm_uuid}.json")

    def run_path(self, i: int, name: str) -> str:
        return os.path.join(self.lab.state_dir(i), "run", self.vm_uuid, name)

    def ram_file(self, i: int) -> str:
        return os.path.join(self.memfs[i].mountpoint, self.vm_uuid, "ram")

    def serial(self, i: int) -> SerialLog:
        return SerialLog(self.run_path(i, "serial.log"))

    def send_line(self, i: int, text: str) -> None:
        """Types a line on the console of the VM's QEMU on host i (the workload's stdin)."""
        send_line(self.run_path(i, "serial.sock"), text)

    def serve_log_path(self, i: int) -> str:
        """serve.log of host i: appended to by every serve started there (LogMark reads one
        run's part, or what came after a point in a test)."""
        return os.path.join(self.lab.state_dir(i), "serve.log")

    def serve_log(self, i: int) -> str:
        """The whole serve.log of host i, every run's lines."""
        try:
            with open(self.serve_log_path(i), "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    # ---- the VM
    def write_definition(self, i: int, run: str, args: List[str],
                         kernel_args: Sequence[str] = ()) -> None:
        write_vm_definition(self.definition(i), self.vm_uuid, f"{self.name}-vm", self.memory_mib,
                            self.image, run, args, kernel_args,
                            {"type": "memfs", "dir": self.memfs[i].mountpoint},
                            os.path.join(self.lab.state_dir(i), "run"))

    def start_vm(self, i: int, run: str, args: List[str], kernel_args: Sequence[str] = ()) -> None:
        """Cold-boots the VM on host i running guest program `run` (same definition everywhere);
        kernel_args are more /init parameters (e.g. "mkd.wait=1": wait for a console line)."""
        for h in range(self.hosts):
            self.write_definition(h, run, args, kernel_args)
        cp = self.lab.exec(i, [self.mkd_vm, "start", "--accel", "tcg", self.definition(i)],
                           check=False, timeout=120)
        if cp.returncode != 0:
            raise ClusterError(f"mkd-vm start on h{i}: {cp.stdout}{cp.stderr}")

    def start_sibling(self, i: int, run: str, args: List[str], ram: Optional[dict] = None,
                      definition_dir: Optional[str] = None, prefix: str = "") -> SerialLog:
        """Cold-boots a sibling of the VM on host i: another VM (its own UUID) of the same image,
        size and guest program; close() stops it. Returns its serial log. `ram`: its memory
        backing (default: host i's memfs); `definition_dir`: where its definition goes (default:
        host i's VM directory, which serve reads); `prefix`: of its definition's file name, its
        run directory and its name (siblings of different kinds on one host)."""
        sib = str(uuid.uuid4())
        run_dir = os.path.join(self.lab.state_dir(i), f"{prefix}run")
        path = os.path.join(definition_dir or self.vm_dir(i), f"{prefix}{sib}.json")
        write_vm_definition(path, sib, f"{self.name}-{prefix}sibling", self.memory_mib, self.image,
                            run, args, [],
                            ram or {"type": "memfs", "dir": self.memfs[i].mountpoint}, run_dir)
        self.siblings.append((i, path))
        cp = self.lab.exec(i, [self.mkd_vm, "start", "--accel", "tcg", path], check=False,
                           timeout=120)
        if cp.returncode != 0:
            raise ClusterError(f"mkd-vm start of a {prefix}sibling on h{i}: {cp.stdout}{cp.stderr}")
        return SerialLog(os.path.join(run_dir, sib, "serial.log"))

    def migrate(self, src: int, dst: int, *args: str, timeout: float = 300,
                env: Optional[dict] = None) -> subprocess.CompletedProcess:
        """Runs mkd-migrate on host src to host dst with --json; returns the finished process
        (stdout: the JSON report; stderr: progress and errors)."""
        argv = [self.mkd_migrate, self.definition(src), "--to", self.lab.host_id(dst),
                "--address", f"{self.lab.address(dst)}:7420", "--tls-dir", self.ca_dir,
                "--host-id", self.lab.host_id(src), "--json", *args]
        return self.lab.exec(src, argv, check=False, timeout=timeout, env=env)

    def plan(self, src: int, *hosts: int, extra: Sequence[str] = (), json_out: bool = True,
             timeout: float = 300) -> subprocess.CompletedProcess:
        """Runs `mkd-migrate plan` on host src for the hosts given (with --json unless json_out is
        false); returns the finished process."""
        argv = [self.mkd_migrate, "plan", self.definition(src), "--tls-dir", self.ca_dir,
                "--host-id", self.lab.host_id(src), *(["--json"] if json_out else []), *extra]
        for h in hosts:
            argv += ["--to", self.lab.host_id(h), "--address",
                     f"{self.lab.host_id(h)}={self.lab.address(h)}:7420"]
        return self.lab.exec(src, argv, check=False, timeout=timeout)

    def qemu_status(self, i: int) -> Optional[str]:
        """QEMU's run state of the VM on host i ("running", "paused", ...), None without QEMU."""
        sock = self.run_path(i, "qmp.sock")
        pid_file = self.run_path(i, "qemu.pid")
        try:
            with open(pid_file) as f:
                os.kill(int(f.read().strip()), 0)
        except (OSError, ValueError):
            return None
        try:
            q = QmpClient.connect(sock, timeout=5)
        except Exception:  # noqa: BLE001 - QEMU exiting, or its socket gone
            return None
        try:
            return q.execute("query-status").get("status")
        except ConnectionError:  # QEMU exited between the connect and its answer (reset, EOF)
            return None
        finally:
            q.close()

    def wait_no_qemu(self, i: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.qemu_status(i) is not None:
            if time.monotonic() > deadline:
                raise ClusterError(f"QEMU of the VM still runs on h{i} after {timeout} s")
            time.sleep(0.2)

    def wait_serve_idle(self, i: int, timeout: float = 60) -> None:
        """Waits until every incoming session of the current `mkd-migrate serve` on host i has
        ended (an aborted arrival is cleaned up before the next one can start). Sessions of an
        earlier serve there do not count: it was stopped, they ended with it."""
        mark = self.serve_marks[i]
        deadline = time.monotonic() + timeout
        while True:
            started = mark.count(r"incoming VM \S+ \(epoch")
            ended = mark.count(r": session ended")
            if ended >= started:
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"serve on h{i} still busy after {timeout} s:\n{mark.tail()}")
            time.sleep(0.1)

    def link_bytes(self) -> int:
        """Bytes all hosts' eth0 have sent so far (/proc/net/dev follows the network namespace;
        /sys does not, it shows the namespace that mounted it). The difference across a hop is
        what the hop put on the link, TCP/IP and TLS included."""
        total = 0
        for i in range(self.hosts):
            cp = self.lab.exec(i, ["cat", "/proc/net/dev"])
            for line in cp.stdout.splitlines():
                name, _, counters = line.partition(":")
                if name.strip() == "eth0":
                    total += int(counters.split()[8])
                    break
            else:
                raise ClusterError(f"h{i} has no eth0:\n{cp.stdout}")
        return total

    def report(self, cp: subprocess.CompletedProcess) -> dict:
        try:
            return json.loads(cp.stdout)
        except json.JSONDecodeError as e:
            raise ClusterError(f"mkd-migrate printed no report ({e}):\n{cp.stdout}\n{cp.stderr}")
