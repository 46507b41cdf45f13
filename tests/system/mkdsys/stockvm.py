"""Stock QEMU migration between the hosts of a Cluster's lab: the baseline of the benchmarks.

The VM's RAM is a file on a tmpfs per host (mounted on the lab host's mount_dir), the VM is started
by mkd-vm from a definition like the Cluster's (same image, kernel command line, memory size), and
it migrates with QEMU's own migration over TCP between the hosts: pre-copy, or post-copy (the
`postcopy-ram` capability on both ends and `migrate-start-postcopy` right after `migrate`). QEMU's
default bandwidth cap is lifted so the lab's link is the limit.

    with Cluster(build_dir, "bench") as c, StockVm(c) as vm:
        vm.start(0, run="login", args=[])
        hop = vm.migrate(0, 1)        # bytes (QEMU's count and the link's), times, downtime

Everything it starts is stopped in close() (also on failure): QEMU on each host, the tmpfs mounts.
"""

import os
import time
import uuid
from typing import List, Optional, Sequence

from .cluster import write_vm_definition
from .qmp import QmpClient
from .serial import SerialLog, send_line

MIGRATION_PORT = 4444


class StockError(RuntimeError):
    pass


class StockVm:
    def __init__(self, cluster, tmpfs_size: str = "2g"):
        self.c = cluster
        self.lab = cluster.lab
        self.tmpfs_size = tmpfs_size
        self.vm_uuid = str(uuid.uuid4())
        self.mounted: List[int] = []

    def __enter__(self) -> "StockVm":
        try:
            for i in range(self.c.hosts):
                self.lab.exec(i, ["mount", "-t", "tmpfs", "-o", f"size={self.tmpfs_size}",
                                  "mkd-stock-tmpfs", self.lab.mount_dir(i)])
                self.mounted.append(i)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for i in range(self.c.hosts):
            self.stop(i)
        for i in self.mounted:
            self.lab.exec(i, ["umount", "-l", self.lab.mount_dir(i)], check=False)
        self.mounted = []

    # ---- paths and the VM
    def definition(self, i: int) -> str:
        return os.path.join(self.lab.state_dir(i), f"stock-{self.vm_uuid}.json")

    def run_path(self, i: int, name: str) -> str:
        return os.path.join(self.lab.state_dir(i), "stock-run", self.vm_uuid, name)

    def serial(self, i: int) -> SerialLog:
        return SerialLog(self.run_path(i, "serial.log"))

    def send_line(self, i: int, text: str) -> None:
        send_line(self.run_path(i, "serial.sock"), text)

    def _write_definitions(self, run: str, args: List[str], kernel_args: Sequence[str]) -> None:
        for i in range(self.c.hosts):
            write_vm_definition(self.definition(i), self.vm_uuid, f"{self.c.name}-stock",
                                self.c.memory_mib, self.c.image, run, args, kernel_args,
                                {"type": "tmpfs", "dir": self.lab.mount_dir(i)},
                                os.path.join(self.lab.state_dir(i), "stock-run"))

    def _mkd_vm(self, i: int, *args: str) -> None:
        cp = self.lab.exec(i, [self.c.mkd_vm, *args], check=False, timeout=120)
        if cp.returncode != 0:
            raise StockError(f"mkd-vm {' '.join(args)} on h{i}: {cp.stdout}{cp.stderr}")

    def start(self, i: int, run: str, args: List[str], kernel_args: Sequence[str] = ()) -> None:
        """Cold-boots the VM on host i running guest program `run` (kernel_args: as Cluster's)."""
        self._write_definitions(run, args, kernel_args)
        self._mkd_vm(i, "start", "--accel", "tcg", self.definition(i))

    def stop(self, i: int) -> None:
        if os.path.exists(self.definition(i)):
            self.lab.exec(i, [self.c.mkd_vm, "stop", self.definition(i)], check=False, timeout=60)

    def ram_file(self, i: int) -> str:
        return os.path.join(self.lab.mount_dir(i), self.vm_uuid, "ram")

    def compare_ram(self, src: int, dst: int) -> list:
        """Page numbers whose content differs between the source's and the destination's RAM
        files (both QEMUs paused)."""
        differ = []
        chunk = 256 * 4096
        at = 0
        with open(self.ram_file(src), "rb") as a, open(self.ram_file(dst), "rb") as b:
            while True:
                x, y = a.read(chunk), b.read(chunk)
                if not x and not y:
                    break
                if x != y:
                    for p in range(0, max(len(x), len(y)), 4096):
                        if x[p:p + 4096] != y[p:p + 4096]:
                            differ.append((at + p) // 4096)
                at += chunk
        return differ

    def migrate(self, src: int, dst: int, postcopy: bool = False,
                timeout: float = 300, verify: bool = False) -> dict:
        """QEMU's migration src -> dst; the source QEMU is stopped afterwards. Returns the hop:
        bytes (QEMU's `ram.transferred`), link_bytes, seconds (from `migrate`, the destination
        QEMU was started before: pre-copy until the destination runs, post-copy until QEMU's
        total-time), running_seconds (until the destination QEMU runs), downtime_ms.

        verify (pre-copy): the destination is started paused (-S), so at completion both QEMUs
        are paused; the RAM files are compared page by page before the destination continues.
        The hop then has "differing_pages" (0: exact) and its times end at completion (the
        destination would have run then)."""
        if verify and postcopy:
            raise ValueError("verify is for pre-copy hops")
        self.stop(dst)
        self._mkd_vm(dst, "start", "--accel", "tcg", "--incoming",
                     *(["--paused"] if verify else []), self.definition(dst))
        qd = QmpClient.connect(self.run_path(dst, "qmp.sock"))
        qs = QmpClient.connect(self.run_path(src, "qmp.sock"))
        try:
            if postcopy:
                caps = {"capabilities": [{"capability": "postcopy-ram", "state": True}]}
                qd.execute("migrate-set-capabilities", caps)
                qs.execute("migrate-set-capabilities", caps)
            uri = f"tcp:{self.lab.address(dst)}:{MIGRATION_PORT}"
            qd.execute("migrate-incoming", {"uri": uri})
            qs.execute("migrate-set-parameters", {"max-bandwidth": 1 << 30})
            before = self.c.link_bytes()
            started = time.monotonic()
            qs.execute("migrate", {"uri": uri})
            if postcopy:
                qs.execute("migrate-start-postcopy")
            info: dict = {}
            running_at: Optional[float] = None
            deadline = started + timeout
            while time.monotonic() < deadline:
                info = qs.execute("query-migrate")
                if running_at is None and qd.execute("query-status").get("status") == "running":
                    running_at = time.monotonic()
                if info.get("status") in ("completed", "failed", "cancelled"):
                    if verify and info.get("status") == "completed":
                        running_at = time.monotonic()  # it would run now; -S holds it
                    break
                time.sleep(0.02)
            if info.get("status") in ("failed", "cancelled"):
                raise StockError(f"stock migration h{src}->h{dst} {info['status']}: {info}")
            if info.get("status") != "completed":
                qs.execute("migrate_cancel")  # still iterating: did not converge in time
                raise StockError(f"stock migration h{src}->h{dst} did not complete within "
                                 f"{timeout:.0f} s: {info}")
            differing, first_differing = None, []
            if verify:
                # Wait until the destination has loaded everything (paused, not inmigrate).
                while qd.execute("query-status").get("status") == "inmigrate":
                    if time.monotonic() > deadline:
                        raise StockError(f"stock destination h{dst} never finished loading")
                    time.sleep(0.02)
                pages = self.compare_ram(src, dst)
                differing = len(pages)
                first_differing = pages[:20]
                qd.execute("cont")
            while running_at is None:
                if qd.execute("query-status").get("status") == "running":
                    running_at = time.monotonic()
                elif time.monotonic() > deadline:
                    raise StockError(f"stock destination h{dst} never ran")
                else:
                    time.sleep(0.02)
            link = self.c.link_bytes() - before
        finally:
            qs.close()
            qd.close()
        self.stop(src)
        # Pre-copy ends, as for mkd-migrate, when the VM runs at the destination (QEMU's
        # total-time stops a little earlier, when the source finished); post-copy when the last
        # page was sent (total-time).
        total = info["total-time"] / 1000
        return {"bytes": info["ram"]["transferred"], "link_bytes": link,
                "seconds": total if postcopy else running_at - started, "qemu_total_seconds": total,
                "setup_seconds": 0.0,
                "running_seconds": running_at - started, "downtime_ms": info.get("downtime", 0),
                "mode": "postcopy" if postcopy else "precopy",
                **({"differing_pages": differing, "first_differing": first_differing}
                   if verify else {})}
