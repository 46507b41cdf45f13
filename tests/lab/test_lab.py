#!/usr/bin/env python3
"""System test of the lab (tests/lab/mkdlab/): shaping, delay, isolation, teardown, crash safety.

Needs root, iproute2, iperf3, ping and iptables; exits 77 (meson: skipped) without them.
Run: python3 tests/lab/test_lab.py   (or meson test -C build --suite system lab)
"""

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mkdlab  # noqa: E402
from mkdlab import common as lab_common, state as lab_state  # noqa: E402

TAG = f"t{os.getpid() % 100000}"  # lab names unique to this run


def root_links() -> list:
    out = subprocess.run(["ip", "-j", "link"], capture_output=True, text=True, timeout=10,
                         check=True).stdout
    return sorted((l["ifname"], l.get("link_type"), l.get("address")) for l in json.loads(out))


def root_addresses() -> list:
    out = subprocess.run(["ip", "-j", "-4", "addr"], capture_output=True, text=True, timeout=10,
                         check=True).stdout
    return [a["local"] for l in json.loads(out) for a in l.get("addr_info", [])
            if not a["local"].startswith("127.")]


def netns_named(prefix: str) -> list:
    return [n for n in lab_common._netns_list() if n.startswith(prefix)]


def alive(pid: int) -> bool:
    return lab_common._proc_start(pid) is not None


class LabTest(unittest.TestCase):
    def setUp(self):
        self.links_before = root_links()

    def assert_gone(self, name: str, pids=()):
        self.assertEqual(netns_named(f"mkd-{name}-"), [], "namespaces left behind")
        self.assertFalse(os.path.exists(lab_state._state_path(name)), "state file left behind")
        self.assertFalse(os.path.exists(os.path.join(mkdlab.RUN_DIR, name)), "dirs left behind")
        self.assertEqual(root_links(), self.links_before, "root namespace links changed")
        for pid in pids:
            self.assertFalse(alive(pid), f"process {pid} of the lab still running")

    # (a) two hosts at the default 1 Gbit/s
    def test_a_gigabit(self):
        name = f"{TAG}a"
        extra_pids = []
        with mkdlab.Lab(name, hosts=2) as lab:
            # nothing of the lab in the root namespace
            self.assertEqual(root_links(), self.links_before)
            self.assertGreater(lab.ping(0, 1), 0)
            self.assertGreater(lab.ping(1, 0), 0)
            mbs = lab.measure()
            rate = lab.rate_bps / 8e6
            print(f"\n[lab] 1gbit: measured {mbs:.1f} MB/s h0->h1 (configured {rate:.1f} MB/s)",
                  flush=True)
            self.assertLessEqual(mbs, 1.1 * rate, "shaping not in effect")
            self.assertGreaterEqual(mbs, 0.25 * rate, "far below the configured rate")

            root_ns = os.readlink("/proc/self/ns/net")
            seen = set()
            for i in range(2):
                cp = lab.exec(i, ["readlink", "/proc/self/ns/net"])
                ns = cp.stdout.strip()
                self.assertNotEqual(ns, root_ns)
                seen.add(ns)
                links = lab.exec(i, ["ip", "-j", "link"]).stdout
                self.assertEqual(sorted(l["ifname"] for l in json.loads(links)), ["eth0", "lo"])
                addrs = json.loads(lab.exec(i, ["ip", "-j", "-4", "addr"]).stdout)
                self.assertEqual(sorted(a["local"] for l in addrs for a in l["addr_info"]),
                                 sorted(["127.0.0.1", lab.address(i)]))
                routes = json.loads(lab.exec(i, ["ip", "-j", "-4", "route"]).stdout)
                self.assertEqual([r["dst"] for r in routes], [lab.subnet], "only the lab subnet")
                for addr in root_addresses():  # the machine's uplink is unreachable
                    cp = lab.exec(i, ["ping", "-c", "1", "-W", "1", addr], check=False)
                    self.assertNotEqual(cp.returncode, 0, f"h{i} reaches the root's {addr}")
                qd = lab.exec(i, ["tc", "qdisc", "show", "dev", "eth0"]).stdout
                self.assertIn("tbf", qd)
                self.assertIn("rate 1Gbit", qd)
                self.assertEqual(lab.host_id(i), f"{name}-h{i}")
                self.assertTrue(os.path.isdir(lab.mount_dir(i)))
                self.assertTrue(os.path.isdir(lab.state_dir(i)))
                env = lab.exec(i, "echo $MKD_HOST_ID $MKD_MOUNT_DIR").stdout.split()
                self.assertEqual(env, [lab.host_id(i), lab.mount_dir(i)])
            self.assertEqual(len(seen), 2, "hosts share a namespace")
            # a mount made inside a host (like memfs) is visible everywhere; down unmounts it
            lab.exec(0, ["mount", "-t", "tmpfs", "-o", "size=1m", "mkdlabtest", lab.mount_dir(0)])
            self.assertTrue(os.path.ismount(lab.mount_dir(0)))
            self.assertEqual(lab.exec(1, ["findmnt", "-n", "-o", "SOURCE", lab.mount_dir(0)])
                             .stdout.strip(), "mkdlabtest")
            # processes: one tracked, one started behind the lab's back; down kills both
            extra_pids.append(lab.popen(1, ["sleep", "300"]).pid)
            extra_pids.append(int(lab.exec(1, "sleep 300 >/dev/null 2>&1 & echo $!").stdout))
            self.assertTrue(all(alive(p) for p in extra_pids))
        self.assert_gone(name, extra_pids)

    # (b) three hosts at 100 Mbit/s with 5 ms of delay
    def test_b_delay(self):
        name = f"{TAG}b"
        with mkdlab.Lab(name, hosts=3, rate="100mbit", delay="5ms") as lab:
            for i, j in ((0, 1), (1, 2), (2, 0)):
                lab.ping(i, j, count=5)
                print(f"\n[lab] 100mbit+5ms: ping h{i}->h{j} rtt {lab.last_ping}", flush=True)
                self.assertGreaterEqual(lab.last_ping["min"], 10.0)
            mbs = lab.measure(0, 2)
            rate = lab.rate_bps / 8e6
            print(f"[lab] 100mbit+5ms: measured {mbs:.2f} MB/s h0->h2 (configured {rate:.1f} MB/s)",
                  flush=True)
            self.assertLessEqual(mbs, 1.1 * rate)
            self.assertGreaterEqual(mbs, 0.25 * rate)
            self.assertIn("rate 100Mbit", lab.exec(2, ["tc", "qdisc", "show"]).stdout)
            daemons = [r["pid"] for r in lab.state["resources"] if r["kind"] == "proc"]
            self.assertEqual(len(daemons), 1)
        self.assert_gone(name, daemons)

    # (c) crash safety: the creator is SIGKILLed; `reap` and then the next `up` clean up
    def child(self, name: str) -> tuple:
        code = textwrap.dedent(f"""
            import json, sys, time
            sys.path.insert(0, {HERE!r})
            import mkdlab
            lab = mkdlab.Lab({name!r}, hosts=2, delay="1ms").up()
            p = lab.popen(1, ["sleep", "300"])
            print(json.dumps({{"sleep": p.pid}}), flush=True)
            time.sleep(300)
        """)
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        self.assertTrue(ready, "child did not bring its lab up")
        info = json.loads(proc.stdout.readline())
        self.assertEqual(len(netns_named(f"mkd-{name}-")), 3)
        return proc, info

    def test_c_crash(self):
        name = f"{TAG}c"
        for how in ("reap", "up"):
            proc, info = self.child(name)
            state = lab_state._load_state(name)
            daemon = [r["pid"] for r in state["resources"] if r["kind"] == "proc"]
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            proc.stdout.close()
            # the lab outlives its creator...
            self.assertEqual(len(netns_named(f"mkd-{name}-")), 3)
            self.assertTrue(alive(info["sleep"]))
            self.assertIn(name, [s["name"] for s in mkdlab.list_labs() if not s["alive"]])
            if how == "reap":  # ...until `mkd-lab reap`
                cp = subprocess.run([os.path.join(HERE, "mkd-lab"), "reap"], capture_output=True,
                                    text=True, timeout=60)
                self.assertEqual(cp.returncode, 0, cp.stderr)
                self.assertIn(f"reaped {name}", cp.stdout)
                self.assert_gone(name, [info["sleep"], *daemon])
            else:  # ...or the next up of that name
                with mkdlab.Lab(name, hosts=2) as lab:
                    self.assertFalse(alive(info["sleep"]))
                    self.assertEqual(lab.pids(1), [])
                    lab.ping(0, 1)
                self.assert_gone(name, [info["sleep"], *daemon])

    # (d) SIGTERM to the creator: its handler tears the lab down before dying
    def test_d_sigterm(self):
        name = f"{TAG}d"
        code = textwrap.dedent(f"""
            import sys, time
            sys.path.insert(0, {HERE!r})
            import mkdlab
            lab = mkdlab.Lab({name!r}, hosts=2).up()
            lab.popen(0, ["sleep", "300"])
            print("up", flush=True)
            time.sleep(300)
        """)
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        self.assertTrue(ready and proc.stdout.readline().strip() == "up")
        pids = lab_common._netns_pids(f"mkd-{name}-h0")
        self.assertEqual(len(pids), 1)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=30), -signal.SIGTERM)
        proc.stdout.close()
        self.assert_gone(name, pids)


def main() -> int:
    missing = [t for t in ("ip", "tc", "iperf3", "ping", "iptables", "nsenter")
               if shutil.which(t) is None]
    if os.geteuid() != 0 or missing:
        print(f"skipped: the lab needs root{' and ' + ', '.join(missing) if missing else ''}")
        return 77
    prog = unittest.main(verbosity=2, exit=False)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
