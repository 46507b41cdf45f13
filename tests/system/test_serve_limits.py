#!/usr/bin/env python3
"""System test: `mkd-migrate serve` holds against its peers (issue 13).

Two lab hosts with mkd-memfs and serve (mkdsys.Cluster, default limits: --max-sessions 32,
--max-frame-bytes 1 MiB + 20, --handshake-timeout 10 s). Host h0 attacks h1's serve:
  (a) 10,000 TCP connect/close, then 1,000 idle connections (500 finish a TLS handshake with a
      valid certificate and send nothing, 500 send nothing at all) that sit for 14 s: serve's
      threads (/proc/PID/status Threads) stay bounded by --max-sessions and are back at the idle
      count within seconds, its RSS (VmRSS) grows by less than 30 MB; the idle handshakes are
      dropped after the handshake timeout while their sockets are still open;
  (b) an authenticated peer whose first frame header claims 64 MiB, eight times at once: refused
      with a RESULT naming the limit, serve's RSS does not grow;
  (c) a third certified host C (certificate CN "<h0>-c" from the same cluster CA) sends a HELLO
      and a STREAM_HELLO naming h0 as their source: both refused, logged with C's CN; and during
      a real migration h0 -> h1, C's STREAM_HELLO for the arriving VM (naming itself) is refused
      because the VM arrives from h0.
Afterwards a 256 MiB checker guest migrates h0 -> h1 with --verify (the probe of (c) runs inside
it, at the source's first-pass fault point) and its checker stays OK on h1.
The numbers (threads and RSS before, peak, after; flood time) go to stderr ("serve limits:") and
to $MKD_TEST_LOG_DIR/serve_limits.json.

Everything runs in the lab's namespaces; the Cluster stops what it started by pid, also on
failure. Run: meson test -C build serve_limits, or python3 <this file> -v.
"""

import json
import os
import subprocess
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mkdsys  # noqa: E402
from mkdsys.cluster import Cluster  # noqa: E402
from mkdsys.roundtrip import build_dir, log_dir  # noqa: E402

MAX_SESSIONS = 32  # serve's default
HANDSHAKE_TIMEOUT = 10  # s, serve's default
RSS_GROWTH_MB = 30

# The attacker: runs inside a lab host (python3 PROBE MODE ARGS...), prints one JSON line.
PROBE = r'''
import json, resource, socket, ssl, struct, sys, time

def frame(ftype, payload=b"", length=None):
    n = len(payload) if length is None else length
    return b"MKDM" + bytes([1, ftype]) + b"\0\0" + struct.pack("<I", n) + payload

def tls(addr, ca, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.load_verify_locations(ca)
    ctx.load_cert_chain(cert, key)
    host, port = addr.rsplit(":", 1)
    raw = socket.create_connection((host, int(port)), 10)
    return ctx.wrap_socket(raw)

def answer(s, timeout=15):
    """The first frame serve sends back ({"type", "payload"}), or {"closed": reason}."""
    s.settimeout(timeout)
    buf = b""
    try:
        while len(buf) < 12:
            chunk = s.recv(12 - len(buf))
            if not chunk:
                return {"closed": "eof"}
            buf += chunk
        n = struct.unpack("<I", buf[8:12])[0]
        body = b""
        while len(body) < n:
            chunk = s.recv(n - len(body))
            if not chunk:
                return {"closed": "eof in payload"}
            body += chunk
        return {"type": buf[5], "payload": body.decode(errors="replace")}
    except (OSError, ssl.SSLError) as e:
        return {"closed": repr(e)}

mode, addr = sys.argv[1], sys.argv[2]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
host, port = addr.rsplit(":", 1)
out = {}
if mode == "flood":
    count = int(sys.argv[3])
    t0 = time.monotonic()
    failed = 0
    for _ in range(count):
        try:
            s = socket.create_connection((host, int(port)), 10)
            s.close()
        except OSError:
            failed += 1
    out = {"seconds": time.monotonic() - t0, "failed": failed}
elif mode == "idle":
    # Even connections finish a TLS handshake, odd ones send nothing; all then sit, open.
    n, sit, ca, cert, key = int(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6], \
        sys.argv[7]
    t0 = time.monotonic()
    held, ok, refused = [], 0, 0
    for i in range(n):
        try:
            if i % 2 == 0:
                held.append(tls(addr, ca, cert, key))
                ok += 1
            else:
                held.append(socket.create_connection((host, int(port)), 10))
        except (OSError, ssl.SSLError):
            refused += 1
    opened = time.monotonic() - t0
    print("opened", flush=True)
    time.sleep(sit)
    # Which of the sockets serve has closed while they sat (idle handshakes must not pin it).
    closed = 0
    for s in held:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                closed += 1
        except (ssl.SSLWantReadError, BlockingIOError):
            pass
        except (OSError, ssl.SSLError):
            closed += 1
    for s in held:
        s.close()
    out = {"handshakes_ok": ok, "handshakes_refused": refused, "held": len(held),
           "closed_by_serve": closed, "open_seconds": opened,
           "seconds": time.monotonic() - t0}
elif mode == "huge":
    n, sit, ca, cert, key = int(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6], \
        sys.argv[7]
    socks = [tls(addr, ca, cert, key) for _ in range(n)]
    for s in socks:
        s.sendall(frame(1, length=64 << 20))  # HELLO "of 64 MiB", no byte of it follows
    time.sleep(sit)
    out = {"answers": [answer(s) for s in socks]}
    for s in socks:
        s.close()
elif mode == "hello":
    # argv: ca cert key type json: one frame, then serve's answer.
    ca, cert, key, ftype, payload = sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]), \
        sys.argv[7].encode()
    s = tls(addr, ca, cert, key)
    s.sendall(frame(ftype, payload))
    out = answer(s)
    s.close()
if mode == "hello" and len(sys.argv) > 8:
    with open(sys.argv[8], "w") as f:
        json.dump(out, f)
print(json.dumps(out))
'''


def proc_status(pid: int) -> dict:
    """Threads, VmRSS and VmSize (MB: address space, recorded, not asserted: glibc's per-thread
    malloc arenas reserve 64 MiB each) of a process."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key == "Threads":
                out["threads"] = int(value)
            elif key == "VmRSS":
                out["rss_mb"] = int(value.split()[0]) / 1024
            elif key == "VmSize":
                out["vm_size_mb"] = int(value.split()[0]) / 1024
    return out


class Sampler:
    """Samples a process's threads and RSS every 20 ms in a thread; keeps the peaks."""

    def __init__(self, pid: int):
        self.pid = pid
        self.peak = proc_status(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            s = proc_status(self.pid)
            for k, v in s.items():
                self.peak[k] = max(self.peak.get(k, 0), v)
            time.sleep(0.02)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


class ServeLimitsTest(unittest.TestCase):
    def setUp(self):
        self.c = Cluster(build_dir(), "lim", hosts=2)
        self.addCleanup(self.c.close)
        self.c.up()
        c = self.c
        self.probe = os.path.join(c.lab.state_dir(0), "probe.py")
        with open(self.probe, "w") as f:
            f.write(PROBE)
        self.target = f"{c.lab.address(1)}:7420"
        self.serve_pid = c.serve[1].pid
        self.numbers = {}

    # ---- helpers
    def tls_files(self, host_id: str) -> list:
        d = self.c.ca_dir
        return [os.path.join(d, "ca.crt"), os.path.join(d, f"{host_id}.crt"),
                os.path.join(d, f"{host_id}.key")]

    def run_probe(self, *args: str, timeout: float = 180) -> dict:
        cp = self.c.lab.exec(0, ["python3", self.probe, args[0], self.target, *args[1:]],
                             check=False, timeout=timeout)
        self.assertEqual(cp.returncode, 0, f"probe {args[0]}: {cp.stdout}\n{cp.stderr}")
        return json.loads(cp.stdout.strip().splitlines()[-1])

    def wait_threads(self, idle: int, within: float) -> float:
        """Waits until serve runs at most `idle` threads; returns how long it took."""
        t0 = time.monotonic()
        while proc_status(self.serve_pid)["threads"] > idle:
            self.assertLess(time.monotonic() - t0, within,
                            f"serve still runs {proc_status(self.serve_pid)} threads "
                            f"{within} s after the connections ended (idle: {idle})")
            time.sleep(0.05)
        return time.monotonic() - t0

    def record(self, name: str, before: dict, peak: dict, after: dict, **extra) -> None:
        self.numbers[name] = {"before": before, "peak": peak, "after": after, **extra}
        print(f"serve limits: {name}: " + json.dumps(self.numbers[name]), file=sys.stderr)

    def hello(self, host_id: str, vm: str, source_host: str) -> str:
        return json.dumps({"vm": vm, "epoch": 1, "lineage": vm,
                           "blocks": [{"name": "ram", "pages": self.c.memory_mib * 256}],
                           "source_host": source_host})

    # ---- the test
    def test_floods_huge_frames_and_foreign_hosts_are_refused_and_serve_still_migrates(self):
        c = self.c
        c.start_vm(0, run="checker", args=["--mb", "16", "--sweep-interval-ms", "2000"])
        serial0 = c.serial(0)
        time.sleep(2)  # serve settles (its threads at idle)
        idle = proc_status(self.serve_pid)
        self.assertLessEqual(idle["threads"], 2, idle)

        # (a) 10,000 TCP connect/close.
        with Sampler(self.serve_pid) as s:
            flood = self.run_probe("flood", "10000", timeout=300)
            settle = self.wait_threads(idle["threads"], within=5)
        after = proc_status(self.serve_pid)
        self.record("connect_close_10000", idle, s.peak, after, seconds=flood["seconds"],
                    failed=flood["failed"], threads_settled_s=settle)
        self.assertLessEqual(s.peak["threads"], idle["threads"] + MAX_SESSIONS)
        self.assertLess(after["rss_mb"] - idle["rss_mb"], RSS_GROWTH_MB)

        # (a) 1,000 idle connections: 500 TLS handshakes that then send nothing, 500 nothing.
        before = proc_status(self.serve_pid)
        with Sampler(self.serve_pid) as s:
            p = subprocess.Popen(
                c.lab.command(0, ["python3", self.probe, "idle", self.target, "1000",
                                  str(HANDSHAKE_TIMEOUT + 4), *self.tls_files(c.lab.host_id(0))]),
                env=c.lab.env(0), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                self.assertEqual(p.stdout.readline().strip(), "opened")
                # Every socket is still open; the handshake timeout has freed the threads.
                time.sleep(HANDSHAKE_TIMEOUT + 2)
                during = proc_status(self.serve_pid)
                out, err = p.communicate(timeout=120)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            self.assertEqual(p.returncode, 0, err)
            idle_out = json.loads(out.strip().splitlines()[-1])
            settle = self.wait_threads(before["threads"], within=5)
        after = proc_status(self.serve_pid)
        self.record("idle_1000", before, s.peak, after, while_sockets_open=during,
                    threads_settled_s=settle, **idle_out)
        self.assertLessEqual(s.peak["threads"], before["threads"] + MAX_SESSIONS)
        self.assertLessEqual(during["threads"], before["threads"],
                             "idle handshakes still pin threads after the handshake timeout")
        self.assertGreater(idle_out["handshakes_ok"], 0)
        self.assertLess(after["rss_mb"] - idle["rss_mb"], RSS_GROWTH_MB)
        self.assertIn("refused a connection from", c.serve_log(1))
        self.assertIn("--max-sessions 32", c.serve_log(1))

        # (b) Headers claiming 64 MiB from an authenticated peer: refused, nothing allocated.
        before = proc_status(self.serve_pid)
        with Sampler(self.serve_pid) as s:
            huge = self.run_probe("huge", "8", "2", *self.tls_files(c.lab.host_id(0)))
        after = proc_status(self.serve_pid)
        self.record("huge_frame_x8", before, s.peak, after)
        for a in huge["answers"]:
            self.assertEqual(a.get("type"), 10, a)  # RESULT
            self.assertIn("over this host's limit", a["payload"])
            self.assertIn("--max-frame-bytes", a["payload"])
        self.assertLess(s.peak["rss_mb"] - before["rss_mb"], 8, "a claimed frame was allocated")

        # (c) Host C, certified by the same CA, speaks for h0: refused (control and stream).
        host_c = c.lab.host_id(0) + "-c"
        subprocess.run([str(mkdsys.repo_root() / "scripts" / "mkd-ca"), "host", c.ca_dir, host_c],
                       check=True, capture_output=True)
        files_c = self.tls_files(host_c)
        r = self.run_probe("hello", *files_c, "1", self.hello(host_c, c.vm_uuid,
                                                               c.lab.host_id(0)))
        self.assertEqual(r.get("type"), 10, r)
        self.assertIn(f"from {host_c} names '{c.lab.host_id(0)}' as its source host", r["payload"])
        stream_hello = json.dumps({"vm": c.vm_uuid, "source_host": c.lab.host_id(0)})
        r = self.run_probe("hello", *files_c, "12", stream_hello)
        self.assertIn("closed", r)
        log = c.serve_log(1)
        self.assertIn(f"{host_c} (", log)
        self.assertIn(f"STREAM_HELLO from {host_c} names '{c.lab.host_id(0)}'", log)
        self.assertIsNone(c.qemu_status(1), "a refused HELLO started a QEMU")

        # A real migration; while its pages flow, C offers the VM's device state as itself.
        serial0.wait_for(r"^MKD checker ready mb=16 ", timeout=120)
        serial0.wait_for(r"^MKD checker OK sweep=\d+$", timeout=60, fail_on=r"STALE|CORRUPT")
        during_out = os.path.join(c.lab.state_dir(0), "stream-probe.json")
        own_stream = json.dumps({"vm": c.vm_uuid, "source_host": host_c})
        probe_cmd = " ".join(["python3", self.probe, "hello", self.target, *files_c, "12",
                              "'" + own_stream + "'", during_out, ">/dev/null"])
        before = proc_status(self.serve_pid)
        t0 = time.monotonic()
        cp = c.migrate(0, 1, "--verify",
                       env=dict(os.environ, MKD_FAULT_POINTS=f"source.first_pass=exec:{probe_cmd}"))
        migrate_s = time.monotonic() - t0
        self.assertEqual(cp.returncode, 0, f"{cp.stderr}\n{c.serve_log(1)[-3000:]}")
        report = c.report(cp)
        self.assertTrue(report["verified"])
        with open(during_out) as f:
            self.assertIn("closed", json.load(f))
        self.assertIn(f"QEMU stream from {host_c} for VM {c.vm_uuid}, which is arriving from "
                      f"{c.lab.host_id(0)}", c.serve_log(1))
        serial1 = c.serial(1)
        serial1.wait_for(r"^MKD checker OK sweep=\d+$", timeout=90, fail_on=r"STALE|CORRUPT")
        c.wait_serve_idle(1)
        self.wait_threads(before["threads"], within=10)
        after = proc_status(self.serve_pid)
        self.record("migration_after", before, {}, after, seconds=migrate_s,
                    wire_bytes=report["bytes"]["wire"])
        with open(os.path.join(log_dir(), "serve_limits.json"), "w") as f:
            json.dump(self.numbers, f, indent=2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
