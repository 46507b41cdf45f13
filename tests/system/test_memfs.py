#!/usr/bin/env python3
"""System test of mkd-memfs on a real FUSE mount, without a guest: host processes stand in for
QEMU and write the RAM files with write(2) and through a shared mmap (docs/architecture.md,
docs/memfs.md).

Every test starts its own daemon (mkdsys.Memfs: its own tmpfs page store, database directory and
mount point under one temporary directory) and proves one behaviour. RAM files are held open by
RamWriter processes (one per file, like one QEMU per VM), driven over a pipe. Nothing on the mount
can hang the test: each call that touches the mount runs on a thread with a timeout, each writer
request has a timeout, and a per-test watchdog aborts the FUSE connections (so a stuck call
returns ENOTCONN) if a test overruns. Cleanup by pid and path, in every case: writers, then the
daemon and its mounts, then the daemon log is scanned for error/critical lines the test did not
provoke.

Run: meson test -C build --suite system (sets MKD_BUILD_DIR), or python3 <this file> -v
(MKD_BUILD_DIR defaults to <repo>/build). Needs root (FUSE mount, tmpfs).
"""

import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import re
import select
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mkdsys  # noqa: E402
from mkdsys import procs  # noqa: E402
from mkdsys.memfs import Memfs, abort_fuse_connection, is_mounted  # noqa: E402

PAGE = 4096
MiB = 1 << 20
GEN_INVALID = 0xFFFFFFFF
FUSE_TIMEOUT = 30.0  # seconds any single call on the mount may take
TEST_DEADLINE = 240.0  # seconds a whole test may take before the watchdog aborts the mounts
# Log lines that always mean something went wrong, unless a test says it provoked them.
LOG_ERROR = re.compile(r"(?i)\b(error|critical|fatal)\b|terminate called|Assertion|"
                       r"Segmentation fault|AddressSanitizer|stack trace")


def build_dir() -> str:
    return os.environ.get("MKD_BUILD_DIR") or str(mkdsys.repo_root() / "build")


def genstore_binary() -> str:
    return os.path.join(build_dir(), "genstore", "mkd-genstore")


def page_bytes(seed, page: int) -> bytes:
    """The content a test writes to `page` under `seed` (distinct per seed and page, never zero)."""
    head = ("mkd seed=%s page=%d;" % (seed, page)).encode()
    return (head * (PAGE // len(head) + 1))[:PAGE]


def content(seed, offset: int, length: int) -> bytes:
    """What lies at [offset, offset+length) when every page was written under `seed` (None: 0s)."""
    if seed is None:
        return bytes(length)
    pages = range(offset // PAGE, -(-(offset + length) // PAGE))
    data = b"".join(page_bytes(seed, p) for p in pages)
    return data[offset % PAGE:offset % PAGE + length]


RECEIVE_PAGES, RECEIVE_ZERO = 0, 1


def receive_frame(kind: int, first: int, count: int, gen: int, data: bytes = b"",
                  magic: bytes = b"MKDR") -> bytes:
    """A user.mkd.receive value (docs/formats.md, "Receive frame"), written as given."""
    return magic + struct.pack("<BBHQII", 1, kind, 0, first, count, gen) + data


_xxh3 = None


def xxh3_64(data: bytes) -> int:
    """XXH3-64 (seed 0), the page digest of docs/formats.md, from the libxxhash the build uses."""
    global _xxh3
    if _xxh3 is None:
        lib = ctypes.CDLL(ctypes.util.find_library("xxhash") or "libxxhash.so.0")
        _xxh3 = lib.XXH3_64bits
        _xxh3.restype = ctypes.c_uint64
        _xxh3.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    return _xxh3(data, len(data))


def digests_of(chunks) -> list:
    """The digests in the chunks of user.mkd.digests, one per page (MKDC chunks of an MKDD
    envelope, version 1 raw or version 2 extents of non-zero digests, docs/formats.md; the
    checksums are mkd-genstore decode's business, this only reads the fields)."""
    blob = b"".join(c[36:36 + struct.unpack_from("<I", c, 32)[0]] for c in chunks)
    version = struct.unpack_from("<H", blob, 4)[0]
    pages = struct.unpack_from("<Q", blob, 28)[0]
    body = blob[37 + blob[36]:len(blob) - 8]
    if version == 1:
        assert len(body) == 8 * pages, (len(body), pages)
        return list(struct.unpack(f"<{pages}Q", body))
    assert version == 2, version
    digests, at = [xxh3_64(bytes(PAGE))] * pages, 0
    while at < len(body):
        first, count = struct.unpack_from("<QI", body, at)
        digests[first:first + count] = struct.unpack_from(f"<{count}Q", body, at + 12)
        at += 12 + 8 * count
    return digests


# The RAM-file writer: a host process that opens one RAM file as QEMU does and, on request (one JSON
# line on stdin, one JSON reply on stdout), writes it with write(2) or through a shared mmap, frees
# pages with fallocate(PUNCH_HOLE) or madvise(MADV_REMOVE), closes it. page_bytes()/content() are
# repeated here so it runs with `python3 -c` and imports nothing from the test.
WRITER_SCRIPT = r'''
import ctypes, json, mmap, os, sys
PAGE = 4096
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
PUNCH_HOLE_KEEP_SIZE = 3  # FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE

def page_bytes(seed, page):
    head = ("mkd seed=%s page=%d;" % (seed, page)).encode()
    return (head * (PAGE // len(head) + 1))[:PAGE]

def content(seed, offset, length):
    if seed is None:
        return bytes(length)
    pages = range(offset // PAGE, -(-(offset + length) // PAGE))
    data = b"".join(page_bytes(seed, p) for p in pages)
    return data[offset % PAGE:offset % PAGE + length]

fd = -1
m = None
for line in sys.stdin:
    req = json.loads(line)
    op = req["op"]
    reply = {"ok": True}
    try:
        if op == "open":
            fd = os.open(req["path"], req["flags"], 0o600)
        elif op == "ftruncate":
            os.ftruncate(fd, req["size"])
        elif op == "pwrite":
            reply["written"] = os.pwrite(fd, content(req.get("seed"), req["offset"], req["length"]),
                                         req["offset"])
        elif op == "mmap":
            m = mmap.mmap(fd, os.fstat(fd).st_size, mmap.MAP_SHARED,
                          mmap.PROT_READ | mmap.PROT_WRITE)
        elif op == "mmap_write":
            for p in req["pages"]:
                m[p * PAGE:(p + 1) * PAGE] = content(req.get("seed"), p * PAGE, PAGE)
        elif op == "mmap_read_all":
            reply["sum"] = sum(m[off] for off in range(0, len(m), PAGE))
        elif op == "madvise_remove":
            m.madvise(mmap.MADV_REMOVE, req["offset"], req["length"])
        elif op == "punch":
            if libc.fallocate(fd, PUNCH_HOLE_KEEP_SIZE, req["offset"], req["length"]) != 0:
                e = ctypes.get_errno()
                raise OSError(e, os.strerror(e))
        elif op == "fsync":
            os.fsync(fd)
        elif op == "close":
            if m is not None:
                m.close()
                m = None
            os.close(fd)
            fd = -1
        elif op != "exit":
            raise ValueError("unknown op " + op)
    except OSError as e:
        reply = {"ok": False, "errno": e.errno, "error": str(e)}
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
    if op == "exit":
        break
'''


class RamWriter:
    """A host process holding one RAM file open (the part of QEMU memfs sees). Each method is one
    request with a timeout; a failed syscall raises OSError with the writer's errno. Stopped by pid
    at cleanup."""

    def __init__(self, test: "MemfsTest", name: str):
        self.test = test
        self.name = name
        self.stderr_path = os.path.join(test.workdir, f"writer-{name}-{len(test.writers)}.stderr")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = procs.spawn([sys.executable, "-c", WRITER_SCRIPT], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=self._stderr)
        self._buf = b""
        test.writers.append(self)
        test.addCleanup(self.stop)

    def call(self, op: str, timeout: float = FUSE_TIMEOUT, **args) -> dict:
        if self.proc.poll() is not None:
            raise AssertionError(f"writer {self.name} exited ({self.proc.returncode}): "
                                 f"{self.stderr()}")
        self.proc.stdin.write((json.dumps(dict(op=op, **args)) + "\n").encode())
        self.proc.stdin.flush()
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.test.abort_mounts(f"writer {self.name}: {op} {args} took over {timeout} s")
                raise AssertionError(f"writer {self.name}: {op} did not finish within {timeout} s "
                                     "(FUSE connections aborted)")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise AssertionError(f"writer {self.name} died during {op}: {self.stderr()}")
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        reply = json.loads(line)
        if not reply["ok"]:
            raise OSError(reply["errno"], f"writer {self.name}: {op}: {reply['error']}")
        return reply

    # The requests.
    def open(self, path: str, flags: int) -> None:
        self.call("open", path=path, flags=flags)

    def ftruncate(self, size: int) -> None:
        self.call("ftruncate", size=size)

    def pwrite(self, offset: int, length: int, seed) -> int:
        return self.call("pwrite", offset=offset, length=length, seed=seed)["written"]

    def write_pages(self, first: int, count: int, seed) -> None:
        """Whole pages with write(2), at most 1 MiB per call (one FUSE request each)."""
        for start in range(first, first + count, 256):
            n = min(256, first + count - start)
            self.test.assertEqual(self.pwrite(start * PAGE, n * PAGE, seed), n * PAGE)

    def mmap(self) -> None:
        self.call("mmap")

    def mmap_write(self, pages, seed) -> None:
        self.call("mmap_write", pages=sorted(pages), seed=seed)

    def mmap_read_all(self) -> int:
        return self.call("mmap_read_all", timeout=60)["sum"]

    def madvise_remove(self, offset: int, length: int) -> None:
        self.call("madvise_remove", offset=offset, length=length)

    def punch(self, offset: int, length: int) -> None:
        self.call("punch", offset=offset, length=length)

    def close(self) -> None:
        self.call("close")

    def stderr(self) -> str:
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")[-2000:]
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.call("exit", timeout=5)
            except (AssertionError, OSError):
                pass
        procs.stop(self.proc, term_timeout=5, kill_timeout=5)
        for f in (self.proc.stdin, self.proc.stdout, self._stderr):
            try:
                f.close()
            except OSError:
                pass


class MemfsTest(unittest.TestCase):
    # ------------------------------------------------------------------ fixture
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="mkd-test-memfs-")
        self.addCleanup(self._remove_workdir)  # runs last
        self.filesystems = []
        self.writers = []
        self.allowed_log = []  # regexes of error lines this test provokes on purpose
        self.aborted = []
        self.watchdog = threading.Timer(TEST_DEADLINE, self.abort_mounts,
                                        args=(f"the test ran over {TEST_DEADLINE} s",))
        self.watchdog.daemon = True
        self.watchdog.start()
        self.addCleanup(self._report_aborts)
        self.addCleanup(self.watchdog.cancel)

    def assert_stops_cleanly(self, fs: Memfs, when: str) -> None:
        """The daemon exits with 0 within 15 s and its mount is gone."""
        try:
            rc = fs.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.fail(f"mkd-memfs did not stop {when}:\n" + fs.log())
        self.assertEqual(rc, 0, fs.log())
        self.assertFalse(is_mounted(fs.mountpoint))

    def start_memfs(self, name: str = "a", **kwargs) -> Memfs:
        """A daemon of this test: stopped, its mounts removed and its log scanned at cleanup."""
        fs = Memfs(build_dir(), os.path.join(self.workdir, name), host_id=f"host-{name}", **kwargs)
        self.filesystems.append(fs)
        self.addCleanup(self._check_log, fs)
        self.addCleanup(fs.destroy)
        fs.start()
        return fs

    def abort_mounts(self, why: str) -> None:
        """Aborts this test's FUSE connections: any call stuck on them returns ENOTCONN."""
        self.aborted.append(why)
        for fs in self.filesystems:
            if is_mounted(fs.mountpoint):
                abort_fuse_connection(fs.mountpoint)

    def _report_aborts(self) -> None:
        if self.aborted:
            self.fail("FUSE connections were aborted: " + "; ".join(self.aborted))

    def _check_log(self, fs: Memfs) -> None:
        allowed = [re.compile(p) for p in self.allowed_log]
        bad = [line for line in fs.log().splitlines()
               if LOG_ERROR.search(line) and not any(a.search(line) for a in allowed)]
        self.assertEqual(bad, [], f"unexpected error lines in the log of {fs.log_path}")

    def _remove_workdir(self) -> None:
        with open("/proc/self/mountinfo") as f:
            left = [line.split()[4] for line in f
                    if line.split()[4].startswith(os.path.realpath(self.workdir) + "/")]
        if left:
            print(f"leaving {self.workdir}: still mounted: {left}", file=sys.stderr)
            return
        subprocess.run(["rm", "-rf", "--one-file-system", self.workdir], check=False,
                       timeout=60)

    # ------------------------------------------------------------------ calls on the mount
    def within(self, fn, *args, timeout: float = FUSE_TIMEOUT):
        """fn(*args) on a thread; if it does not return in time the mounts are aborted."""
        result = {}

        def run():
            try:
                result["value"] = fn(*args)
            except BaseException as e:  # handed to the caller
                result["error"] = e

        t = threading.Thread(target=run, daemon=True)
        t.start()
        t.join(timeout)
        if t.is_alive():
            what = f"{getattr(fn, '__name__', fn)}{args!r}"
            self.abort_mounts(f"{what} hung")
            t.join(10)
            self.fail(f"{what} did not return within {timeout} s (FUSE connections aborted)")
        if "error" in result:
            raise result["error"]
        return result.get("value")

    def assertErrno(self, expected, fn, *args):
        """fn(*args) (a call on the mount, with a timeout) must fail with errno in `expected`."""
        expected = (expected,) if isinstance(expected, int) else tuple(expected)
        names = "/".join(errno.errorcode.get(e, str(e)) for e in expected)
        try:
            value = self.within(fn, *args)
        except OSError as e:
            self.assertIn(e.errno, expected,
                          f"{getattr(fn, '__name__', fn)}{args!r}: expected {names}, got {e!r}")
            return e
        self.fail(f"{getattr(fn, '__name__', fn)}{args!r}: expected {names}, got {value!r}")

    def stat(self, path: str) -> os.stat_result:
        return self.within(os.stat, path)

    def read(self, path: str, offset: int, length: int) -> bytes:
        def do():
            fd = os.open(path, os.O_RDONLY)
            try:
                out = bytearray()
                while len(out) < length:
                    chunk = os.pread(fd, length - len(out), offset + len(out))
                    if not chunk:
                        break
                    out += chunk
                return bytes(out)
            finally:
                os.close(fd)
        return self.within(do, timeout=60)

    def read_pages(self, path: str, first: int, count: int) -> bytes:
        return self.read(path, first * PAGE, count * PAGE)

    def digest(self, path: str) -> str:
        return hashlib.sha256(self.read(path, 0, self.stat(path).st_size)).hexdigest()

    def content_view(self, fs: Memfs, path: str):
        """(sha256 of every page whose generation is valid, pages that read as EIO): what a
        stored incarnation serves. Invalid pages are read one by one; each must fail."""
        gens = self.table(fs, path)

        def do():
            fd = os.open(path, os.O_RDONLY)
            h, eio, p = hashlib.sha256(), set(), 0
            try:
                while p < len(gens):
                    invalid = gens[p] == GEN_INVALID
                    q = p
                    while q < len(gens) and (gens[q] == GEN_INVALID) == invalid and q - p < 256:
                        q += 1
                    if invalid:
                        for page in range(p, q):
                            try:
                                os.pread(fd, PAGE, page * PAGE)
                            except OSError as e:
                                if e.errno != errno.EIO:
                                    raise
                                eio.add(page)
                    else:
                        data = os.pread(fd, (q - p) * PAGE, p * PAGE)
                        if len(data) != (q - p) * PAGE:
                            raise OSError(errno.EIO, f"short read at page {p}")
                        h.update(data)
                    p = q
            finally:
                os.close(fd)
            return h.hexdigest(), eio
        return self.within(do, timeout=60)

    def summary(self, fs: Memfs, path: str) -> dict:
        return self.within(fs.summary, path)

    def sync(self, path: str) -> dict:
        """One dirty-log sync through user.mkd.sync: {"dirty_pages": N, "epoch": E, "syncs": S}."""
        text = self.within(os.getxattr, path, "user.mkd.sync").decode()
        return {k: int(v) for k, v in (kv.split("=", 1) for kv in text.split())}

    def setx(self, path: str, name: str, value: bytes) -> None:
        self.within(os.setxattr, path, name, value)

    def wait_summary(self, fs: Memfs, path: str, timeout: float = 10.0, **want) -> dict:
        """Polls the summary until every key=value of `want` holds (the daemon stores a block
        after the kernel's RELEASE, which close(2) does not wait for)."""
        deadline = time.monotonic() + timeout
        while True:
            s = self.summary(fs, path)
            if all(s.get(k) == str(v) for k, v in want.items()):
                return s
            if time.monotonic() > deadline:
                self.fail(f"{path}: summary never had {want}: {s}")
            time.sleep(0.05)

    def new_vm(self, fs: Memfs) -> str:
        vm = str(uuid.uuid4())  # lower case, as the daemon requires
        self.within(os.mkdir, fs.vm_dir(vm))
        return vm

    def new_ram(self, fs: Memfs, vm: str, name: str = "ram", size: int = 16 * MiB) -> RamWriter:
        """A new RAM file of `size` bytes, held open for writing by a new writer process."""
        w = RamWriter(self, f"{vm[:8]}-{name}")
        w.open(os.path.join(fs.vm_dir(vm), name), os.O_RDWR | os.O_CREAT)
        w.ftruncate(size)
        return w

    def store_file(self, fs: Memfs, vm: str, name: str = "ram", size: int = 16 * MiB,
                   writes=((0, 64, "s"),)) -> str:
        """A RAM file whose VM wrote `writes` ((first page, count, seed), ...) and left: stored."""
        w = self.new_ram(fs, vm, name, size)
        for first, count, seed in writes:
            w.write_pages(first, count, seed)
        w.close()
        path = os.path.join(fs.vm_dir(vm), name)
        self.wait_summary(fs, path, state="stored")
        return path

    def arrive(self, fs: Memfs, vm: str, path: str, epoch: int) -> RamWriter:
        """The stored `path` of `vm` becomes incoming: an arrival of the same lineage in `epoch`,
        then a writer opens the file as the destination QEMU does (kept open, returned)."""
        lineage = self.summary(fs, path)["lineage"]
        self.setx(fs.vm_dir(vm), "user.mkd.arrive",
                  json.dumps({"epoch": epoch, "lineage": lineage}).encode())
        w = RamWriter(self, "dest")
        w.open(path, os.O_RDWR)
        self.assertEqual(self.summary(fs, path)["state"], "incoming")
        return w

    # ------------------------------------------------------------------ decoded xattrs
    def decode(self, chunks) -> dict:
        """mkd-genstore decode --json of the chunks of one encoded table or bitmap."""
        d = tempfile.mkdtemp(dir=self.workdir, prefix="chunks-")
        paths = []
        for i, c in enumerate(chunks):
            paths.append(os.path.join(d, f"c.{i}"))
            with open(paths[-1], "wb") as f:
                f.write(c)
        cp = subprocess.run([genstore_binary(), "decode", "--json", *paths], capture_output=True,
                            text=True, timeout=60)
        self.assertEqual(cp.returncode, 0, f"mkd-genstore decode --json: {cp.stderr}")
        return json.loads(cp.stdout)

    def chunks(self, fs: Memfs, path: str, base: str):
        return self.within(fs.chunks, path, base)

    def table(self, fs: Memfs, path: str) -> list:
        """The block's generation table, one entry per page."""
        doc = self.decode(self.chunks(fs, path, "user.mkd.table"))
        self.assertEqual(doc["kind"], "table")
        gens = []
        for first, count, gen in doc["runs"]:
            self.assertEqual(first, len(gens))
            gens.extend([gen] * count)
        self.assertEqual(len(gens), doc["pages"])
        return gens

    def bitmap(self, fs: Memfs, path: str, base: str) -> set:
        """The pages set in a bitmap attribute (user.mkd.dirty, .synced, .reusable)."""
        doc = self.decode(self.chunks(fs, path, base))
        self.assertEqual(doc["kind"], "bitmap")
        return {p for first, count in doc["runs"] for p in range(first, first + count)}

    def pages_with(self, gens: list, gen: int) -> set:
        return {p for p, g in enumerate(gens) if g == gen}

    # ================================================================== 1. namespace
    def test_vm_directory_must_be_named_by_lower_case_uuid(self):
        fs = self.start_memfs()
        vm = str(uuid.uuid4())
        for bad in ("not-a-uuid", vm.upper(), vm.replace("-", ""), "ram"):
            self.assertErrno(errno.EINVAL, os.mkdir, os.path.join(fs.mountpoint, bad))
        self.within(os.mkdir, fs.vm_dir(vm))
        self.assertErrno(errno.EEXIST, os.mkdir, fs.vm_dir(vm))
        self.assertEqual(self.within(os.listdir, fs.mountpoint), [vm])
        self.assertTrue(stat.S_ISDIR(self.stat(fs.vm_dir(vm)).st_mode))
        # Nothing but VM directories at the top, nothing but RAM files in them.
        self.assertErrno(errno.EPERM, os.mkdir, os.path.join(fs.vm_dir(vm), "sub"))
        self.assertErrno(errno.EPERM, os.open, os.path.join(fs.mountpoint, "ram"),
                         os.O_RDWR | os.O_CREAT)
        self.assertErrno(errno.EINVAL, os.open, os.path.join(fs.vm_dir(vm), "bad name"),
                         os.O_RDWR | os.O_CREAT)
        self.assertErrno(errno.EPERM, os.rename, fs.vm_dir(vm),
                         os.path.join(fs.mountpoint, str(uuid.uuid4())))
        s = self.summary(fs, fs.vm_dir(vm))
        self.assertEqual((s["vm"], s["blocks"], s["arrival"]), (vm, "none", "none"))
        self.within(os.rmdir, fs.vm_dir(vm))
        self.assertEqual(self.within(os.listdir, fs.mountpoint), [])

    def test_ram_files_show_their_size_and_resident_pages_in_stat_du_and_ls(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        ram = self.new_ram(fs, vm, "ram", 16 * MiB)
        node1 = self.new_ram(fs, vm, "ram-node1", 32 * MiB)
        ram.write_pages(0, 10, "a")
        node1.write_pages(1000, 100, "b")
        ram_path, node1_path = (os.path.join(fs.vm_dir(vm), n) for n in ("ram", "ram-node1"))
        for path, size, pages in ((ram_path, 16 * MiB, 10), (node1_path, 32 * MiB, 100)):
            st = self.stat(path)
            self.assertEqual(st.st_size, size)
            self.assertEqual(st.st_blocks * 512, pages * PAGE, f"st_blocks of {path}")
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)  # live
            du = subprocess.run(["du", "-B4096", path], capture_output=True, text=True,
                                timeout=FUSE_TIMEOUT)
            self.assertEqual(du.returncode, 0, du.stderr)
            self.assertEqual(du.stdout.split()[0], str(pages), f"du of {path}")
            s = self.summary(fs, path)
            self.assertEqual((s["resident"], s["pages"]), (str(pages), str(size // PAGE)))
        ls = subprocess.run(["ls", "-l", fs.vm_dir(vm)], capture_output=True, text=True,
                            timeout=FUSE_TIMEOUT)
        self.assertEqual(ls.returncode, 0, ls.stderr)
        listed = {line.split()[-1]: line.split()[4] for line in ls.stdout.splitlines()[1:]}
        self.assertEqual(listed, {"ram": str(16 * MiB), "ram-node1": str(32 * MiB)})
        self.assertEqual(sorted(self.within(os.listdir, fs.vm_dir(vm))), ["ram", "ram-node1"])
        s = self.summary(fs, fs.vm_dir(vm))
        self.assertEqual(s["blocks"], "ram:live,ram-node1:live")

    # ================================================================== 2. page store
    def test_never_written_pages_read_as_zeros_and_take_no_memory(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        path = os.path.join(fs.vm_dir(vm), "ram")
        self.assertEqual(self.read(path, 0, 16 * MiB), bytes(16 * MiB))
        w.mmap()
        self.assertEqual(w.mmap_read_all(), 0)  # every page faulted in through the mapping
        self.assertEqual(self.stat(path).st_blocks, 0)
        self.assertEqual(self.summary(fs, path)["resident"], "0")
        w.close()
        self.wait_summary(fs, path, state="stored")
        self.assertEqual(self.read(path, 0, 16 * MiB), bytes(16 * MiB))
        self.assertEqual(self.stat(path).st_blocks, 0)
        self.assertEqual(self.pages_with(self.table(fs, path), 0), set(range(4096)))

    def test_written_pages_are_stored_and_all_zero_pages_are_not(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        path = os.path.join(fs.vm_dir(vm), "ram")
        w.write_pages(0, 8, "x")      # content
        w.write_pages(8, 8, None)     # zeros
        self.assertEqual(self.stat(path).st_blocks * 512, 8 * PAGE)
        w.mmap()
        w.mmap_write(range(100, 104), "y")
        w.mmap_write(range(200, 204), None)
        self.sync(path)
        self.assertEqual(self.stat(path).st_blocks * 512, 12 * PAGE)
        w.write_pages(0, 4, None)     # content overwritten with zeros: freed
        self.assertEqual(self.stat(path).st_blocks * 512, 8 * PAGE)
        s = self.summary(fs, path)
        self.assertEqual((s["resident"], s["pages_written"], s["zero_pages_written"]),
                         ("8", "12", "16"))
        self.assertEqual(self.read_pages(path, 0, 16), bytes(4 * PAGE) + content(
            "x", 4 * PAGE, 4 * PAGE) + bytes(8 * PAGE))
        self.assertEqual(self.read_pages(path, 100, 4), content("y", 100 * PAGE, 4 * PAGE))
        self.assertEqual(self.read_pages(path, 200, 4), bytes(4 * PAGE))
        # Written pages carry the epoch even when their content is zero (the guest wrote them).
        gens = self.table(fs, path)
        written = set(range(16)) | set(range(100, 104)) | set(range(200, 204))
        self.assertEqual(self.pages_with(gens, 1), written)

    # ================================================================== 3. dirty tracking
    def test_sync_reports_exactly_the_pages_written_through_mmap_since_the_last_sync(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        path = os.path.join(fs.vm_dir(vm), "ram")
        w.mmap()
        w.mmap_read_all()  # like a guest that has read all of its memory
        self.assertEqual(self.sync(path)["dirty_pages"], 0)
        rounds = [{0, 1, 2, 17, 511, 512, 2048, 4095}, {1, 3, 1000}, set(range(300, 364))]
        for i, pages in enumerate(rounds):
            w.mmap_write(pages, f"r{i}")
            result = self.sync(path)
            self.assertEqual(result["dirty_pages"], len(pages), f"round {i}")
            self.assertEqual(result["epoch"], 1)
            self.assertEqual(self.bitmap(fs, path, "user.mkd.synced"), pages, f"round {i}")
        self.assertEqual(self.sync(path)["dirty_pages"], 0)
        self.assertEqual(self.bitmap(fs, path, "user.mkd.synced"), set())
        everything = set().union(*rounds)
        self.assertEqual(self.bitmap(fs, path, "user.mkd.dirty"), everything)
        gens = self.table(fs, path)
        self.assertEqual(self.pages_with(gens, 1), everything)
        self.assertEqual(self.pages_with(gens, 0), set(range(4096)) - everything)
        # getfattr runs exactly one sync too (it asks for the size first, which must not sync).
        w.mmap_write({5, 6}, "cli")
        cp = subprocess.run(["getfattr", "--only-values", "-n", "user.mkd.sync", path],
                            capture_output=True, text=True, timeout=FUSE_TIMEOUT)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertRegex(cp.stdout, r"^dirty_pages=2 epoch=1 syncs=\d+")
        self.assertEqual(self.read_pages(path, 5, 2), content("cli", 5 * PAGE, 2 * PAGE))

    def test_sync_reports_exactly_the_pages_written_with_write2(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        path = os.path.join(fs.vm_dir(vm), "ram")
        self.assertEqual(w.pwrite(10 * PAGE + 100, 10, "p"), 10)            # inside page 10
        self.assertEqual(w.pwrite(20 * PAGE + 4000, 2 * PAGE, "q"), 2 * PAGE)  # pages 20-22
        w.write_pages(30, 4, "r")                                            # pages 30-33
        expected = {10, 20, 21, 22, 30, 31, 32, 33}
        self.assertEqual(self.sync(path)["dirty_pages"], len(expected))
        self.assertEqual(self.bitmap(fs, path, "user.mkd.synced"), expected)
        self.assertEqual(self.pages_with(self.table(fs, path), 1), expected)
        self.assertEqual(self.sync(path)["dirty_pages"], 0)
        page10 = bytearray(PAGE)
        page10[100:110] = content("p", 10 * PAGE + 100, 10)
        self.assertEqual(self.read_pages(path, 10, 1), bytes(page10))
        self.assertEqual(self.read(path, 20 * PAGE + 4000, 2 * PAGE),
                         content("q", 20 * PAGE + 4000, 2 * PAGE))
        self.assertEqual(self.read_pages(path, 30, 4), content("r", 30 * PAGE, 4 * PAGE))
        self.assertEqual(self.stat(path).st_blocks * 512, len(expected) * PAGE)

    # ================================================================== 4. incarnations
    def test_closing_the_last_writer_stores_the_incarnation_read_only(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        path = os.path.join(fs.vm_dir(vm), "ram")
        w.write_pages(0, 100, "v")
        before = self.summary(fs, path)
        self.assertEqual((before["state"], before["incarnation"], before["epoch"]),
                         ("live", "1", "1"))
        w.close()
        after = self.wait_summary(fs, path, state="stored")
        for key in ("vm", "block", "incarnation", "epoch", "lineage", "pages", "resident"):
            self.assertEqual(after[key], before[key], key)
        self.assertIn("left_unix_ms", after)
        st = self.stat(path)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o400)
        self.assertEqual(st.st_blocks * 512, 100 * PAGE)
        self.assertEqual(self.read_pages(path, 0, 101), content("v", 0, 100 * PAGE) + bytes(PAGE))
        root = self.summary(fs, fs.mountpoint)
        self.assertEqual((root["live"], root["stored"]), ("0", "1"))
        # Nothing changes a stored incarnation: its size, its mode, a read-only descriptor.
        self.assertErrno(errno.EPERM, os.truncate, path, 32 * MiB)
        self.assertErrno(errno.EPERM, os.chmod, path, 0o600)

        def write_readonly():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.pwrite(fd, b"x", 0)
            finally:
                os.close(fd)
        self.assertErrno(errno.EBADF, write_readonly)
        self.assertEqual(self.digest(path), hashlib.sha256(
            content("v", 0, 100 * PAGE) + bytes(16 * MiB - 100 * PAGE)).hexdigest())

    def test_returning_vm_arrives_incoming_refuses_kernel_writes_and_commits_live(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        path = self.store_file(fs, vm, writes=((0, 100, "e1"),))
        stored = self.summary(fs, path)
        arrival = {"epoch": 2, "lineage": stored["lineage"]}
        self.setx(fs.vm_dir(vm), "user.mkd.arrive", json.dumps(arrival).encode())
        self.assertEqual(json.loads(self.within(os.getxattr, fs.vm_dir(vm), "user.mkd.arrive")),
                         arrival)
        self.assertIn("user.mkd.arrive", self.within(os.listxattr, fs.vm_dir(vm)))
        # The destination QEMU opens the file: the stored incarnation becomes the incoming base.
        w = RamWriter(self, "dest")
        w.open(path, os.O_RDWR)
        s = self.summary(fs, path)
        self.assertEqual((s["state"], s["incarnation"], s["lineage"], s["resident"]),
                         ("incoming", str(int(stored["incarnation"]) + 1), stored["lineage"],
                          "100"))
        self.assertEqual(stat.S_IMODE(self.stat(path).st_mode), 0o600)
        # Writes of the kernel (QEMU's own page writes) are refused while the migration runs.
        for i in range(3):
            with self.assertRaises(OSError) as cm:
                w.pwrite(i * PAGE, PAGE, "refused")
            self.assertEqual(cm.exception.errno, errno.EROFS)
        s = self.summary(fs, path)
        self.assertEqual((s["refused_writes"], s["pages_written"]), ("3", "0"))
        self.assertEqual(self.read_pages(path, 0, 100), content("e1", 0, 100 * PAGE))
        self.setx(fs.vm_dir(vm), "user.mkd.commit", b"1")
        s = self.summary(fs, path)
        self.assertEqual((s["state"], s["epoch"], s["incarnation"]), ("live", "2", "2"))
        self.assertErrno(errno.ENODATA, os.getxattr, fs.vm_dir(vm), "user.mkd.arrive")
        self.assertEqual(self.summary(fs, fs.vm_dir(vm))["arrival"], "none")
        # Live in epoch 2: writes are taken and carry generation 2; the base keeps generation 1.
        w.write_pages(50, 100, "e2")
        gens = self.table(fs, path)
        self.assertEqual(self.pages_with(gens, 1), set(range(50)))
        self.assertEqual(self.pages_with(gens, 2), set(range(50, 150)))
        self.assertEqual(self.bitmap(fs, path, "user.mkd.dirty"), set(range(50, 150)))
        w.close()
        s = self.wait_summary(fs, path, state="stored")
        self.assertEqual((s["epoch"], s["incarnation"], s["lineage"]),
                         ("2", "2", stored["lineage"]))
        self.assertEqual(self.read_pages(path, 0, 150),
                         content("e1", 0, 50 * PAGE) + content("e2", 50 * PAGE, 100 * PAGE))

    def test_aborted_arrival_leaves_the_incarnation_stored(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        path = self.store_file(fs, vm, writes=((0, 100, "base"),))
        stored = self.summary(fs, path)
        table_before = self.table(fs, path)
        self.setx(fs.vm_dir(vm), "user.mkd.arrive",
                  json.dumps({"epoch": 2, "lineage": stored["lineage"]}).encode())
        w = RamWriter(self, "dest")
        w.open(path, os.O_RDWR)
        self.assertEqual(self.summary(fs, path)["state"], "incoming")
        self.setx(fs.vm_dir(vm), "user.mkd.abort", b"1")
        s = self.summary(fs, path)
        self.assertEqual((s["state"], s["incarnation"], s["epoch"], s["lineage"]),
                         ("stored", "2", "1", stored["lineage"]))
        self.assertEqual(self.summary(fs, fs.vm_dir(vm))["arrival"], "none")
        # The destination QEMU still has it open: its writes go nowhere.
        with self.assertRaises(OSError) as cm:
            w.pwrite(0, PAGE, "late")
        self.assertEqual(cm.exception.errno, errno.EROFS)
        w.close()
        time.sleep(0.2)
        s = self.summary(fs, path)
        self.assertEqual((s["state"], s["incarnation"]), ("stored", "2"))
        self.assertEqual(stat.S_IMODE(self.stat(path).st_mode), 0o400)
        self.assertEqual(self.table(fs, path), table_before)
        self.assertEqual(self.read_pages(path, 0, 100), content("base", 0, 100 * PAGE))
        self.assertErrno(errno.EBUSY, os.setxattr, fs.vm_dir(vm), "user.mkd.commit", b"1")

    def test_writer_open_of_a_stored_file_without_arrival_is_a_cold_boot(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        path = self.store_file(fs, vm, writes=((0, 100, "old"),))
        stored = self.summary(fs, path)
        w = RamWriter(self, "reboot")
        w.open(path, os.O_RDWR)
        s = self.summary(fs, path)
        self.assertEqual((s["state"], s["epoch"], s["incarnation"], s["resident"]),
                         ("live", "1", str(int(stored["incarnation"]) + 1), "0"))
        self.assertNotEqual(s["lineage"], stored["lineage"])
        self.assertEqual(self.stat(path).st_blocks, 0)
        self.assertEqual(self.read_pages(path, 0, 128), bytes(128 * PAGE))
        self.assertEqual(self.pages_with(self.table(fs, path), 0), set(range(4096)))
        w.write_pages(0, 10, "new")
        w.close()
        s = self.wait_summary(fs, path, state="stored")
        self.assertEqual(self.read_pages(path, 0, 11), content("new", 0, 10 * PAGE) + bytes(PAGE))

    def test_arrival_of_another_life_of_the_vm_starts_empty(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        path = self.store_file(fs, vm, writes=((0, 100, "old"),))
        stored = self.summary(fs, path)
        other = str(uuid.uuid4())
        self.setx(fs.vm_dir(vm), "user.mkd.arrive",
                  json.dumps({"epoch": 3, "lineage": other}).encode())
        w = RamWriter(self, "dest")
        w.open(path, os.O_RDWR)
        s = self.summary(fs, path)
        self.assertEqual((s["state"], s["lineage"], s["resident"], s["incarnation"]),
                         ("incoming", other, "0", str(int(stored["incarnation"]) + 1)))
        self.assertEqual(self.pages_with(self.table(fs, path), 0), set(range(4096)))
        self.assertEqual(self.read_pages(path, 0, 100), bytes(100 * PAGE))

    def test_several_vms_with_several_blocks_keep_their_own_incarnations(self):
        fs = self.start_memfs()
        vms = [self.new_vm(fs) for _ in range(2)]
        writers = {}
        for i, vm in enumerate(vms):
            for j, name in enumerate(("ram", "ram-node1")):
                w = self.new_ram(fs, vm, name, (16 + 16 * j) * MiB)
                w.write_pages(10 * j, 50 + i * 10 + j, f"{vm}/{name}")
                writers[vm, name] = w
        # The first VM leaves; the second keeps running.
        for name in ("ram", "ram-node1"):
            writers[vms[0], name].close()
        for name in ("ram", "ram-node1"):
            self.wait_summary(fs, os.path.join(fs.vm_dir(vms[0]), name), state="stored")
        root = self.summary(fs, fs.mountpoint)
        self.assertEqual((root["vms"], root["live"], root["stored"], root["incoming"]),
                         ("2", "2", "2", "0"))
        self.assertEqual(sorted(self.within(os.listdir, fs.mountpoint)), sorted(vms))
        self.assertEqual(self.summary(fs, fs.vm_dir(vms[0]))["blocks"],
                         "ram:stored,ram-node1:stored")
        self.assertEqual(self.summary(fs, fs.vm_dir(vms[1]))["blocks"], "ram:live,ram-node1:live")
        lineages = set()
        for i, vm in enumerate(vms):
            for j, name in enumerate(("ram", "ram-node1")):
                path = os.path.join(fs.vm_dir(vm), name)
                pages = 50 + i * 10 + j
                s = self.summary(fs, path)
                self.assertEqual((s["vm"], s["block"], s["incarnation"], s["resident"],
                                  s["pages"]),
                                 (vm, name, "1", str(pages), str((16 + 16 * j) * MiB // PAGE)))
                lineages.add((vm, s["lineage"]))
                self.assertEqual(self.read_pages(path, 10 * j, pages),
                                 content(f"{vm}/{name}", 10 * j * PAGE, pages * PAGE))
                self.assertEqual(self.pages_with(self.table(fs, path), 1),
                                 set(range(10 * j, 10 * j + pages)))
        # One lineage per VM: its blocks booted together, in one life (an arrival names one).
        self.assertEqual(len(lineages), 2)
        self.assertEqual({vm for vm, _ in lineages}, set(vms))

    def test_returning_vm_with_several_blocks_reuses_each_stored_block(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        paths = [os.path.join(fs.vm_dir(vm), name) for name in ("ram", "ram-node1")]
        booted = [self.new_ram(fs, vm, os.path.basename(p)) for p in paths]  # one QEMU, cold boot
        for i, (w, p) in enumerate(zip(booted, paths)):
            w.write_pages(0, 40 + i, os.path.basename(p))
        for w in booted:
            w.close()
        stored = [self.wait_summary(fs, p, state="stored") for p in paths]
        self.assertEqual(stored[0]["lineage"], stored[1]["lineage"])
        self.setx(fs.vm_dir(vm), "user.mkd.arrive",
                  json.dumps({"epoch": 2, "lineage": stored[0]["lineage"]}).encode())
        writers = []
        for p in paths:
            writers.append(RamWriter(self, os.path.basename(p)))
            writers[-1].open(p, os.O_RDWR)
        for p, before in zip(paths, stored):
            s = self.summary(fs, p)
            self.assertEqual((s["state"], s["incarnation"], s["lineage"], s["resident"]),
                             ("incoming", "2", before["lineage"], before["resident"]), p)
        self.setx(fs.vm_dir(vm), "user.mkd.commit", b"1")
        for i, p in enumerate(paths):
            self.assertEqual(self.summary(fs, p)["epoch"], "2")
            self.assertEqual(self.read_pages(p, 0, 40 + i),
                             content(os.path.basename(p), 0, (40 + i) * PAGE))

    # ================================================================== 5. xattrs
    def test_getfattr_dump_shows_summary_table_and_dirty(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        w.write_pages(0, 3, "g")
        path = os.path.join(fs.vm_dir(vm), "ram")

        def dump(p):
            cp = subprocess.run(["getfattr", "--absolute-names", "-d", "-m", "user.mkd", p],
                                capture_output=True, text=True, timeout=FUSE_TIMEOUT)
            self.assertEqual(cp.returncode, 0, cp.stderr)
            return dict(re.findall(r'^(user\.mkd\.[\w.]+)="(.*)"$', cp.stdout, re.M))

        attrs = dump(path)
        self.assertRegex(attrs.get("user.mkd.summary", ""),
                         rf"^state=live vm={vm} block=ram incarnation=1 epoch=1 .*resident=3 ")
        self.assertRegex(attrs.get("user.mkd.table", ""), r"^chunks=1 bytes=\d+ \(read ")
        self.assertRegex(attrs.get("user.mkd.dirty", ""), r"^chunks=1 bytes=\d+ \(read ")
        self.assertNotIn("user.mkd.sync", attrs)  # a dump must not run syncs
        self.assertRegex(dump(fs.vm_dir(vm)).get("user.mkd.summary", ""),
                         rf"^vm={vm} blocks=ram:live arrival=none$")
        self.assertRegex(dump(fs.mountpoint).get("user.mkd.summary", ""),
                         r"^host=host-a vms=1 live=1 incoming=0 stored=0 ")
        self.assertEqual(self.bitmap(fs, path, "user.mkd.dirty"), {0, 1, 2})

    def test_peer_table_upload_yields_the_reusable_pages(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        path = self.store_file(fs, vm, writes=((0, 200, "e1"),))
        lineage = self.summary(fs, path)["lineage"]
        peer_chunks = self.chunks(fs, path, "user.mkd.table")  # epoch 1: pages 0-199 gen 1
        # The VM comes back (epoch 2), and rewrites pages 150-249.
        self.setx(fs.vm_dir(vm), "user.mkd.arrive",
                  json.dumps({"epoch": 2, "lineage": lineage}).encode())
        w = RamWriter(self, "back")
        w.open(path, os.O_RDWR)
        self.setx(fs.vm_dir(vm), "user.mkd.commit", b"1")
        w.write_pages(150, 100, "e2")
        self.assertErrno(errno.ENODATA, os.getxattr, path, "user.mkd.reusable")
        self.assertNotIn("user.mkd.reusable", self.within(os.listxattr, path))
        for i, chunk in enumerate(peer_chunks):
            self.setx(path, f"user.mkd.peer_table.{i}", chunk)
        self.assertIn("user.mkd.reusable", self.within(os.listxattr, path))
        self.assertEqual(self.bitmap(fs, path, "user.mkd.reusable"), set(range(150)))
        # Against its own current table, every written page is reusable.
        own = self.chunks(fs, path, "user.mkd.table")
        for i, chunk in enumerate(own):
            self.setx(path, f"user.mkd.peer_table.{i}", chunk)
        self.assertEqual(self.bitmap(fs, path, "user.mkd.reusable"), set(range(250)))

    def test_malformed_peer_table_chunk_is_einval(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        ram = self.new_ram(fs, vm, "ram")
        node1 = self.new_ram(fs, vm, "ram-node1")
        ram.write_pages(0, 10, "r")
        node1.write_pages(0, 10, "n")
        path = os.path.join(fs.vm_dir(vm), "ram")
        good = self.chunks(fs, path, "user.mkd.table")
        self.assertEqual(len(good), 1)
        corrupt = bytearray(good[0])
        corrupt[len(corrupt) // 2] ^= 0xFF
        for name, value in (("user.mkd.peer_table.0", b"not a chunk"),
                            ("user.mkd.peer_table.0", b""),
                            ("user.mkd.peer_table.0", bytes(corrupt)),
                            ("user.mkd.peer_table.1", good[0]),      # chunk 0 under name .1
                            ("user.mkd.peer_table.x", good[0])):
            self.assertErrno(errno.EINVAL, os.setxattr, path, name, value)
        # A well-formed table of another block of the same VM is not a peer of this one.
        other = self.chunks(fs, os.path.join(fs.vm_dir(vm), "ram-node1"), "user.mkd.table")
        self.assertErrno(errno.EINVAL, os.setxattr, path, "user.mkd.peer_table.0", other[0])
        self.assertErrno(errno.ENODATA, os.getxattr, path, "user.mkd.reusable")
        self.allowed_log.append(r"warning: setxattr user\.mkd\.peer_table")

    def test_received_frames_are_served_after_commit_with_their_generations(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        path = self.store_file(fs, vm, writes=((0, 100, "base"),))  # 16 MiB, pages 0-99 gen 1
        w = self.arrive(fs, vm, path, epoch=3)
        # The receiver: 15 pages the VM wrote in epoch 2, pages 10-19 it zeroed in epoch 2, pages
        # 30-31 it never wrote (generation 0), and the last page of the block.
        received = content("recv", 200 * PAGE, 15 * PAGE)
        last = content("last", 4095 * PAGE, PAGE)
        for frame in (receive_frame(RECEIVE_PAGES, 200, 15, 2, received),
                      receive_frame(RECEIVE_ZERO, 10, 10, 2),
                      receive_frame(RECEIVE_ZERO, 30, 2, 0),
                      receive_frame(RECEIVE_PAGES, 4095, 1, 2, last)):
            self.setx(path, "user.mkd.receive", frame)
        s = self.summary(fs, path)
        self.assertEqual((s["state"], s["pages_received"]), ("incoming", "16"))
        gens = self.table(fs, path)
        self.assertEqual(self.pages_with(gens, GEN_INVALID),
                         set(range(10, 20)) | {30, 31} | set(range(200, 215)) | {4095},
                         "provisional until the commit")
        self.setx(fs.vm_dir(vm), "user.mkd.commit", b"1")
        s = self.summary(fs, path)
        self.assertEqual((s["state"], s["epoch"]), ("live", "3"))
        gens = self.table(fs, path)
        self.assertEqual(self.pages_with(gens, 1), set(range(10)) | set(range(20, 30)) |
                         set(range(32, 100)))
        self.assertEqual(self.pages_with(gens, 2),
                         set(range(10, 20)) | set(range(200, 215)) | {4095})
        self.assertEqual(self.pages_with(gens, GEN_INVALID), set())
        expected = (content("base", 0, 10 * PAGE) + bytes(10 * PAGE) +
                    content("base", 20 * PAGE, 10 * PAGE) + bytes(2 * PAGE) +
                    content("base", 32 * PAGE, 68 * PAGE) + bytes(100 * PAGE) + received +
                    bytes(PAGE))
        self.assertEqual(self.read_pages(path, 0, 216), expected)
        self.assertEqual(self.read_pages(path, 4095, 1), last)
        w.close()
        self.wait_summary(fs, path, state="stored")
        self.assertEqual(self.read_pages(path, 0, 216), expected)
        self.assertEqual(self.table(fs, path), gens)

    def test_receive_outside_an_incoming_file_is_ebusy_and_has_no_value(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        path = self.store_file(fs, vm, writes=((0, 10, "st"),))
        frame = receive_frame(RECEIVE_PAGES, 0, 1, 2, content("x", 0, PAGE))
        self.assertErrno(errno.EBUSY, os.setxattr, path, "user.mkd.receive", frame)  # stored
        self.assertErrno(errno.EBUSY, os.setxattr, path, "user.mkd.receive",
                         receive_frame(RECEIVE_ZERO, 0, 1, 2))
        other = self.new_vm(fs)
        w = self.new_ram(fs, other)
        live = os.path.join(fs.vm_dir(other), "ram")
        self.assertErrno(errno.EBUSY, os.setxattr, live, "user.mkd.receive", frame)  # live
        for p in (path, live):
            self.assertErrno(errno.ENODATA, os.getxattr, p, "user.mkd.receive")
            self.assertNotIn("user.mkd.receive", self.within(os.listxattr, p))
        self.assertEqual(self.read_pages(path, 0, 10), content("st", 0, 10 * PAGE))
        self.assertEqual(self.summary(fs, path)["pages_received"], "0")
        self.assertRegex(fs.log(), rf"warning: setxattr user\.mkd\.receive: {vm}/ram: .*not "
                         r"incoming.*set user\.mkd\.arrive")
        w.close()
        self.allowed_log.append(r"warning: setxattr user\.mkd\.receive")

    def test_digests_are_the_xxh3_of_every_page_in_every_state(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm, size=64 * MiB)  # 16,384 pages, 100 with content: 1 chunk
        path = os.path.join(fs.vm_dir(vm), "ram")
        w.write_pages(0, 100, "d1")
        w.write_pages(50, 10, None)  # zeros written: holes
        w.write_pages(9000, 10, "d2")
        self.assertNotIn("user.mkd.digests", self.within(os.listxattr, path))  # costly: by name
        # Sparse (version 2): 8 bytes per page with content, not per page of the file.
        self.assertRegex(self.within(os.getxattr, path, "user.mkd.digests").decode(),
                         r"^chunks=1 bytes=\d{3} \(read user\.mkd\.digests\.0 \.\. "
                         r"user\.mkd\.digests\.0; ")
        zero = xxh3_64(bytes(PAGE))
        self.assertEqual(zero, 0x93d76fe148c689ba)  # docs/formats.md

        def check(state):
            if state == "live":
                self.sync(path)  # the page store catches up with the page cache
            self.assertEqual(self.summary(fs, path)["state"], state)
            chunks = self.chunks(fs, path, "user.mkd.digests")
            self.assertEqual(len(chunks), 1)
            doc = self.decode(chunks)
            self.assertEqual((doc["kind"], doc["vm"], doc["block"], doc["pages"]),
                             ("digests", vm, "ram", 16384))
            digests = digests_of(chunks)
            data = self.read(path, 0, 64 * MiB)
            pages = [data[i:i + PAGE] for i in range(0, len(data), PAGE)]
            self.assertEqual(digests, [xxh3_64(p) for p in pages], state)
            self.assertEqual(doc["zero_pages"], 16384 - 100, state)
            self.assertEqual(digests[55], zero)  # written with zeros: the digest of a hole
            return digests

        live = check("live")
        w.close()
        self.wait_summary(fs, path, state="stored")
        self.assertEqual(check("stored"), live)
        self.arrive(fs, vm, path, epoch=2)
        self.assertEqual(check("incoming"), live)

    def test_unknown_mkd_attribute_is_enodata(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        w.write_pages(0, 1, "u")
        path = os.path.join(fs.vm_dir(vm), "ram")
        for p, name in ((path, "user.mkd.nonsense"), (path, "user.mkd.table.7"),
                        (path, "user.mkd.tablex"), (path, "user.mkd.synced"),
                        (path, "user.other"), (fs.vm_dir(vm), "user.mkd.table"),
                        (fs.vm_dir(vm), "user.mkd.arrive"), (fs.mountpoint, "user.mkd.dirty")):
            self.assertErrno(errno.ENODATA, os.getxattr, p, name)

    def test_setting_a_non_mkd_attribute_is_enotsup(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        path = os.path.join(fs.vm_dir(vm), "ram")
        for p in (path, fs.vm_dir(vm), fs.mountpoint):
            self.assertErrno((errno.ENOTSUP, errno.EOPNOTSUPP), os.setxattr, p, "user.other",
                             b"1")
        self.assertErrno((errno.ENOTSUP, errno.EOPNOTSUPP), os.removexattr, path,
                         "user.mkd.summary")
        # A user.mkd.* name that cannot be set is a bad argument, not a missing feature.
        self.assertErrno(errno.EINVAL, os.setxattr, path, "user.mkd.summary", b"1")
        w.close()
        self.allowed_log.append(r"warning: (setxattr|removexattr) user\.")

    # ================================================================== 6. freeing
    def test_punch_hole_frees_pages_and_invalidates_their_generations(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        path = os.path.join(fs.vm_dir(vm), "ram")
        w.write_pages(0, 64, "h")
        self.assertEqual(self.stat(path).st_blocks * 512, 64 * PAGE)
        self.sync(path)
        w.punch(10 * PAGE, 20 * PAGE)  # pages 10-29
        self.assertEqual(self.stat(path).st_blocks * 512, 44 * PAGE)
        gens = self.table(fs, path)
        self.assertEqual(self.pages_with(gens, GEN_INVALID), set(range(10, 30)))
        self.assertEqual(self.pages_with(gens, 1), set(range(64)) - set(range(10, 30)))
        s = self.summary(fs, path)
        self.assertEqual((s["pages_punched"], s["resident"]), ("20", "44"))
        self.assertEqual(self.sync(path)["dirty_pages"], 20)  # freed pages changed: dirty
        self.assertEqual(self.read_pages(path, 8, 24),
                         content("h", 8 * PAGE, 2 * PAGE) + bytes(20 * PAGE) +
                         content("h", 30 * PAGE, 2 * PAGE))
        # Stored, the freed pages stay invalid: never served, never reused.
        w.close()
        self.wait_summary(fs, path, state="stored")
        self.assertEqual(self.pages_with(self.table(fs, path), GEN_INVALID), set(range(10, 30)))
        self.assertErrno(errno.EIO, self.read_pages, path, 15, 1)
        self.assertEqual(self.read_pages(path, 0, 10), content("h", 0, 10 * PAGE))

    def test_madvise_remove_frees_pages_and_invalidates_their_generations(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        path = os.path.join(fs.vm_dir(vm), "ram")
        w.mmap()
        w.mmap_write(range(64), "m")
        self.assertEqual(self.sync(path)["dirty_pages"], 64)
        self.assertEqual(self.stat(path).st_blocks * 512, 64 * PAGE)
        w.madvise_remove(32 * PAGE, 16 * PAGE)  # pages 32-47
        self.assertEqual(self.stat(path).st_blocks * 512, 48 * PAGE)
        gens = self.table(fs, path)
        self.assertEqual(self.pages_with(gens, GEN_INVALID), set(range(32, 48)))
        self.assertEqual(self.summary(fs, path)["pages_punched"], "16")
        self.assertEqual(self.read_pages(path, 31, 18),
                         content("m", 31 * PAGE, PAGE) + bytes(16 * PAGE) +
                         content("m", 48 * PAGE, PAGE))

    def test_budget_evicts_the_least_recently_left_incarnation_first(self):
        fs = self.start_memfs(extra_args=["--budget", "8M"])
        vm_a, vm_b = self.new_vm(fs), self.new_vm(fs)
        path_a = self.store_file(fs, vm_a, writes=((0, 1536, "a"),))  # 6 MiB
        self.assertEqual(self.summary(fs, path_a)["resident"], "1536")  # within the budget
        time.sleep(0.05)  # B leaves strictly later
        path_b = self.store_file(fs, vm_b, writes=((0, 1536, "b"),))  # 6 MiB: 4 MiB over
        a = self.wait_summary(fs, path_a, resident=512)
        self.assertEqual(a["pages_evicted"], "1024")
        b = self.summary(fs, path_b)
        self.assertEqual((b["resident"], b["pages_evicted"]), ("1536", "0"))
        self.assertEqual(self.summary(fs, fs.mountpoint)["stored_held"], "8MiB")
        gens = self.table(fs, path_a)
        evicted = self.pages_with(gens, GEN_INVALID)
        self.assertEqual(len(evicted), 1024)
        self.assertEqual(self.pages_with(gens, 1), set(range(1536)) - evicted)
        kept = min(set(range(1536)) - evicted)
        self.assertErrno(errno.EIO, self.read_pages, path_a, min(evicted), 1)
        self.assertEqual(self.read_pages(path_a, kept, 1), content("a", kept * PAGE, PAGE))
        self.assertEqual(self.read_pages(path_b, 0, 1536), content("b", 0, 1536 * PAGE))

    def test_budget_never_evicts_pages_of_a_live_vm(self):
        fs = self.start_memfs(extra_args=["--budget", "8M"])
        vm_live, vm_b = self.new_vm(fs), self.new_vm(fs)
        live = self.new_ram(fs, vm_live)
        live.write_pages(0, 3072, "live")  # 12 MiB, above the budget on its own
        live_path = os.path.join(fs.vm_dir(vm_live), "ram")
        path_b = self.store_file(fs, vm_b, writes=((0, 2560, "b"),))  # 10 MiB: 2 MiB over
        self.wait_summary(fs, path_b, resident=2048, pages_evicted=512)
        s = self.summary(fs, live_path)
        self.assertEqual((s["state"], s["resident"], s["pages_evicted"]), ("live", "3072", "0"))
        self.assertEqual(self.pages_with(self.table(fs, live_path), 1), set(range(3072)))
        self.assertEqual(self.read_pages(live_path, 0, 3072), content("live", 0, 3072 * PAGE))

    # ================================================================== 7. restart and stop
    def test_restart_after_kill9_recovers_stored_incarnations_and_drops_live_ones(self):
        fs = self.start_memfs()
        vm1, vm2, vm3 = (self.new_vm(fs) for _ in range(3))
        paths = [self.store_file(fs, vm1, "ram", writes=((0, 300, "1r"),)),
                 self.store_file(fs, vm1, "ram-node1", 32 * MiB, writes=((5, 50, "1n"),))]
        w2 = self.new_ram(fs, vm2)
        w2.write_pages(0, 200, "2r")
        w2.punch(50 * PAGE, 10 * PAGE)  # invalid generations survive too
        w2.close()
        paths.append(os.path.join(fs.vm_dir(vm2), "ram"))
        self.wait_summary(fs, paths[-1], state="stored")
        live = self.new_ram(fs, vm3)  # running when the daemon dies
        live.write_pages(0, 20, "3r")
        keys = ("state", "vm", "block", "incarnation", "epoch", "lineage", "pages", "resident",
                "left_unix_ms")
        before = {}
        for p in paths:
            s = self.summary(fs, p)
            before[p] = ({k: s.get(k) for k in keys}, self.decode(
                self.chunks(fs, p, "user.mkd.table")), self.content_view(fs, p))
        self.assertEqual(before[paths[2]][2][1], set(range(50, 60)))  # punched: EIO
        live_store_file = os.path.join(fs.store, vm3, "ram.1")
        self.assertTrue(os.path.exists(live_store_file))

        fs.kill9()
        self.assertEqual(fs.proc.returncode, -signal.SIGKILL)
        live.stop()
        fs.stop()  # nothing left to stop: closes the log, checks the mount is gone
        fs.start()
        self.assertEqual(sorted(self.within(os.listdir, fs.mountpoint)), sorted([vm1, vm2]))
        self.assertFalse(self.within(os.path.exists, fs.vm_dir(vm3)))
        self.assertFalse(os.path.exists(live_store_file))
        for p in paths:
            s = self.summary(fs, p)
            summary, table, digest = before[p]
            self.assertEqual({k: s.get(k) for k in keys}, summary, p)
            self.assertEqual(self.decode(self.chunks(fs, p, "user.mkd.table")), table, p)
            self.assertEqual(self.content_view(fs, p), digest, p)
        self.assertEqual(self.summary(fs, fs.vm_dir(vm1))["blocks"], "ram:stored,ram-node1:stored")
        log = fs.log()
        self.assertRegex(log, rf"VM {vm3} block ram incarnation 1: was live when the daemon "
                              r"stopped")
        self.assertIn("3 stored incarnation(s) recovered", log)
        # And they still work: the VM of the first file comes back and commits.
        self.setx(fs.vm_dir(vm1), "user.mkd.arrive", json.dumps(
            {"epoch": 2, "lineage": before[paths[0]][0]["lineage"]}).encode())
        w = RamWriter(self, "back")
        w.open(paths[0], os.O_RDWR)
        self.assertEqual(self.summary(fs, paths[0])["incarnation"], "2")
        self.setx(fs.vm_dir(vm1), "user.mkd.commit", b"1")
        self.assertEqual(self.summary(fs, paths[0])["state"], "live")

    def test_sigterm_with_no_file_open_unmounts_cleanly_and_exits_0(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        self.store_file(fs, vm)  # a stored incarnation is no reason to stay
        fs.proc.send_signal(signal.SIGTERM)
        self.assert_stops_cleanly(fs, "within 15 s of SIGTERM")
        self.assertRegex(fs.log(), r"mkd-memfs stopped \(unmounted ")

    def test_sigterm_while_a_file_is_open_for_writing_is_refused_until_repeated(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        w.write_pages(0, 10, "t")
        path = os.path.join(fs.vm_dir(vm), "ram")
        fs.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while "not stopping" not in fs.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertRegex(fs.log(), r"warning: signal 15: not stopping, 1 RAM block\(s\) are in use")
        time.sleep(1.0)
        self.assertIsNone(fs.proc.poll(), "mkd-memfs stopped on the first SIGTERM")
        self.assertTrue(is_mounted(fs.mountpoint))
        self.assertEqual(self.summary(fs, path)["state"], "live")
        self.assertEqual(self.read_pages(path, 0, 10), content("t", 0, 10 * PAGE))
        fs.proc.send_signal(signal.SIGTERM)  # within 10 s of the first: stops anyway
        self.assert_stops_cleanly(fs, "on the second SIGTERM")
        self.assertRegex(fs.log(), r"signal 15: stopping")

    # ================================================================== 8. bad input
    def test_write_past_the_end_is_efbig(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        path = os.path.join(fs.vm_dir(vm), "ram")
        for offset, length in ((16 * MiB, PAGE), (16 * MiB - PAGE, 2 * PAGE), (32 * MiB, 1)):
            with self.assertRaises(OSError) as cm:
                w.pwrite(offset, length, "far")
            self.assertEqual(cm.exception.errno, errno.EFBIG, (offset, length))
        self.assertEqual(self.stat(path).st_size, 16 * MiB)
        self.assertEqual(self.stat(path).st_blocks, 0)
        self.assertEqual(w.pwrite(16 * MiB - PAGE, PAGE, "last"), PAGE)  # the last page is fine
        self.allowed_log.append(r"warning: write \d+\+\d+ to ram: File too large")

    def test_truncate_to_a_size_not_multiple_of_4096_is_einval(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = RamWriter(self, "t")
        path = os.path.join(fs.vm_dir(vm), "ram")
        w.open(path, os.O_RDWR | os.O_CREAT)
        for size in (5000, 4095, PAGE + 1):
            with self.assertRaises(OSError) as cm:
                w.ftruncate(size)
            self.assertEqual(cm.exception.errno, errno.EINVAL, size)
        # Over 1 TiB is over any --max-file-size (default: the host's memory): EFBIG.
        with self.assertRaises(OSError) as cm:
            w.ftruncate((1 << 40) + PAGE)
        self.assertEqual(cm.exception.errno, errno.EFBIG)
        self.assertEqual(self.stat(path).st_size, 0)
        w.ftruncate(16 * MiB)
        self.assertEqual(self.stat(path).st_size, 16 * MiB)
        self.allowed_log.append(r"warning: truncate (\S+/)?ram to \d+ bytes: refused")

    def test_changing_the_size_of_a_sized_file_is_eperm(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        path = os.path.join(fs.vm_dir(vm), "ram")
        for size in (32 * MiB, 8 * MiB, 0):
            with self.assertRaises(OSError) as cm:
                w.ftruncate(size)
            self.assertEqual(cm.exception.errno, errno.EPERM, size)
        self.assertErrno(errno.EPERM, os.truncate, path, 8 * MiB)
        w.ftruncate(16 * MiB)  # the same size: nothing changes, nothing refused
        self.assertEqual(self.stat(path).st_size, 16 * MiB)
        w.write_pages(0, 10, "keep")
        w.close()
        self.wait_summary(fs, path, state="stored")
        # O_TRUNC is a size change too; it must not cold-boot (and so wipe) the stored memory.
        self.assertErrno(errno.EPERM, os.open, path, os.O_RDWR | os.O_TRUNC)
        s = self.summary(fs, path)
        self.assertEqual((s["state"], s["incarnation"], s["resident"]), ("stored", "1", "10"))
        self.assertEqual(self.read_pages(path, 0, 10), content("keep", 0, 10 * PAGE))
        self.allowed_log.append(r"warning: (truncate ram to \d+ bytes|open \S+: O_TRUNC): refused")

    def test_second_writer_open_of_a_live_file_is_ebusy(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        w.write_pages(0, 4, "first")
        path = os.path.join(fs.vm_dir(vm), "ram")
        second = RamWriter(self, "second")
        for flags in (os.O_RDWR, os.O_WRONLY, os.O_RDWR | os.O_CREAT):
            with self.assertRaises(OSError) as cm:
                second.open(path, flags)
            self.assertEqual(cm.exception.errno, errno.EBUSY, flags)
        self.assertErrno(errno.EEXIST, os.open, path, os.O_RDWR | os.O_CREAT | os.O_EXCL)
        self.assertEqual(self.read_pages(path, 0, 4), content("first", 0, 4 * PAGE))  # readers ok
        s = self.summary(fs, path)
        self.assertEqual((s["state"], s["incarnation"]), ("live", "1"))
        self.allowed_log.append(r"warning: open \S+ for writing: refused")

    def test_malformed_arrival_is_einval(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        lineage = str(uuid.uuid4())
        for value in (b"", b"not json", b"[1, 2]", b'{"epoch": 2}',
                      json.dumps({"lineage": lineage}).encode(),
                      json.dumps({"epoch": 0, "lineage": lineage}).encode(),
                      json.dumps({"epoch": 0xFFFFFFFF, "lineage": lineage}).encode(),
                      json.dumps({"epoch": -1, "lineage": lineage}).encode(),
                      json.dumps({"epoch": "2", "lineage": lineage}).encode(),
                      json.dumps({"epoch": 2, "lineage": "not-a-uuid"}).encode(),
                      json.dumps({"epoch": 2, "lineage": str(uuid.UUID(int=0))}).encode(),
                      json.dumps({"epoch": 2, "lineage": lineage, "extra": 1}).encode(),
                      b'{"epoch": 2, "lineage": "' + b"x" * 2000 + b'"}'):
            self.assertErrno(errno.EINVAL, os.setxattr, fs.vm_dir(vm), "user.mkd.arrive", value)
        self.assertErrno(errno.ENODATA, os.getxattr, fs.vm_dir(vm), "user.mkd.arrive")
        # Well-formed but impossible: the VM runs here (EBUSY); commit with nothing pending.
        w = self.new_ram(fs, vm)
        self.assertErrno(errno.EBUSY, os.setxattr, fs.vm_dir(vm), "user.mkd.arrive",
                         json.dumps({"epoch": 2, "lineage": lineage}).encode())
        self.assertErrno(errno.EBUSY, os.setxattr, fs.vm_dir(vm), "user.mkd.commit", b"1")
        self.assertEqual(self.summary(fs, os.path.join(fs.vm_dir(vm), "ram"))["state"], "live")
        w.close()
        self.allowed_log.append(r"warning: setxattr user\.mkd\.(arrive|commit)")

    def test_malformed_receive_frame_is_einval_and_the_mount_keeps_working(self):
        fs = self.start_memfs()
        vm = self.new_vm(fs)
        path = self.store_file(fs, vm, writes=((0, 20, "base"),))  # 4,096 pages
        w = self.arrive(fs, vm, path, epoch=2)
        good = receive_frame(RECEIVE_PAGES, 5, 15, 1, content("good", 5 * PAGE, 15 * PAGE))
        for what, frame in (
                ("bad magic", receive_frame(RECEIVE_PAGES, 5, 1, 1, bytes(PAGE), magic=b"MKDX")),
                ("empty", b""),
                ("truncated header", good[:20]),
                ("truncated data", good[:-1]),
                ("trailing byte", good + b"x"),
                ("16 pages", receive_frame(RECEIVE_PAGES, 5, 16, 1, good[24:])),
                ("kind 2", receive_frame(2, 5, 1, 1, bytes(PAGE))),
                ("invalid generation", receive_frame(RECEIVE_ZERO, 5, 1, GEN_INVALID)),
                ("content with generation 0", receive_frame(RECEIVE_PAGES, 5, 1, 0, bytes(PAGE))),
                ("past the end", receive_frame(RECEIVE_PAGES, 4095, 2, 1, bytes(2 * PAGE))),
                ("zero pages past the end", receive_frame(RECEIVE_ZERO, 4096, 1, 1)),
                ("overflow", receive_frame(RECEIVE_ZERO, 2**64 - 1, 1, 1))):
            with self.subTest(what):
                self.assertErrno(errno.EINVAL, os.setxattr, path, "user.mkd.receive", frame)
        # 16 whole pages do not fit one xattr value: the kernel refuses them before the daemon.
        self.assertErrno(errno.E2BIG, os.setxattr, path, "user.mkd.receive",
                         receive_frame(RECEIVE_PAGES, 5, 16, 1, bytes(16 * PAGE)))
        self.assertIsNone(fs.proc.poll(), "mkd-memfs died")
        self.assertEqual(self.summary(fs, path)["pages_received"], "0")
        self.assertRegex(fs.log(), rf"warning: setxattr user\.mkd\.receive: {vm}/ram: "
                         r"user\.mkd\.receive: bad magic")
        self.assertRegex(fs.log(), rf"warning: setxattr user\.mkd\.receive: {vm}/ram: "
                         r"user\.mkd\.receive: pages 4095\+2 are outside the block of 4096")
        # The same file still takes a good frame, commits and serves it.
        self.setx(path, "user.mkd.receive", good)
        self.setx(fs.vm_dir(vm), "user.mkd.commit", b"1")
        self.assertEqual(self.read_pages(path, 0, 21), content("base", 0, 5 * PAGE) +
                         content("good", 5 * PAGE, 15 * PAGE) + bytes(PAGE))
        w.close()
        self.allowed_log.append(r"warning: setxattr user\.mkd\.receive")

    def test_full_page_store_fails_the_write_and_lost_pages_read_as_eio(self):
        fs = self.start_memfs(store_size="4m")
        vm = self.new_vm(fs)
        w = self.new_ram(fs, vm)
        path = os.path.join(fs.vm_dir(vm), "ram")
        written, failed = [], []
        for chunk in range(8):  # 1 MiB each: the 4 MiB store fills up on the way
            try:
                self.assertEqual(w.pwrite(chunk * MiB, MiB, "full"), MiB)
                written.append(chunk)
            except OSError as e:
                self.assertIn(e.errno, (errno.ENOSPC, errno.EIO), e)
                failed.append(chunk)
        self.assertGreaterEqual(len(written), 3, (written, failed))
        self.assertTrue(failed, "the 4 MiB page store took 8 MiB")
        self.assertEqual(written, list(range(len(written))))  # once full, full
        self.assertIsNone(fs.proc.poll(), "mkd-memfs died")
        self.assertRegex(fs.log(), r"error: write \d+\+\d+ to ram: the page store is full")
        s = self.summary(fs, path)
        self.assertEqual((s["state"], s["lost"], s["failed_writes"]),
                         ("live", str(256 * len(failed)), str(len(failed))))
        for chunk in written:
            self.assertEqual(self.read(path, chunk * MiB, MiB), content("full", chunk * MiB, MiB))
        for chunk in failed:
            for page in (0, 100, 255):  # never wrong data, never zeros: an error
                self.assertErrno(errno.EIO, self.read, path, chunk * MiB + page * PAGE, PAGE)
        # Free 1 MiB of the page store; the first lost chunk can then be written again.
        w.punch(0, MiB)
        lost_chunk = failed[0]
        self.assertEqual(w.pwrite(lost_chunk * MiB, MiB, "again"), MiB)
        self.assertEqual(self.read(path, lost_chunk * MiB, MiB),
                         content("again", lost_chunk * MiB, MiB))
        self.assertEqual(self.summary(fs, path)["lost"], str(256 * (len(failed) - 1)))
        for chunk in failed[1:]:
            self.assertErrno(errno.EIO, self.read, path, chunk * MiB, PAGE)
        self.assertEqual(self.sync(path)["epoch"], 1)  # still serving requests
        self.allowed_log.append(r"error: write \d+\+\d+ to ram: the page store is full")

    def test_full_page_store_evicts_stored_memory_to_make_room(self):
        fs = self.start_memfs(store_size="4m")
        vm_old, vm_new = self.new_vm(fs), self.new_vm(fs)
        old = self.store_file(fs, vm_old, writes=((0, 512, "old"),))  # 2 of the 4 MiB
        w = self.new_ram(fs, vm_new)
        w.write_pages(0, 768, "new")  # 3 MiB: fits only if stored memory goes
        path = os.path.join(fs.vm_dir(vm_new), "ram")
        s = self.summary(fs, path)
        # The request that made room succeeded on its retry: it is not a failed write.
        self.assertEqual((s["resident"], s["lost"], s["failed_writes"]), ("768", "0", "0"))
        self.assertEqual(self.read_pages(path, 0, 768), content("new", 0, 768 * PAGE))
        o = self.summary(fs, old)
        self.assertGreaterEqual(int(o["pages_evicted"]), 256)
        self.assertEqual(int(o["resident"]), 512 - int(o["pages_evicted"]))
        gens = self.table(fs, old)
        evicted = self.pages_with(gens, GEN_INVALID)
        self.assertEqual(len(evicted), int(o["pages_evicted"]))
        self.assertErrno(errno.EIO, self.read_pages, old, min(evicted), 1)
        self.assertRegex(fs.log(), r"eviction: \d+ pages of VM " + vm_old)


    # ================================================================== 9. limits and lock-down
    def test_a_large_empty_ram_file_costs_what_was_written_not_its_size(self):
        fs = self.start_memfs(extra_args=["--max-file-size", "64G"])
        vm = self.new_vm(fs)
        db_before = sum(os.path.getsize(os.path.join(r, f))
                        for r, _, fl in os.walk(fs.db) for f in fl)
        w = self.new_ram(fs, vm, size=64 << 30)  # 64 GiB, as QEMU sizes it, nothing written
        w.write_pages(1000, 3, "few")
        t0 = time.monotonic()
        w.close()
        path = os.path.join(fs.vm_dir(vm), "ram")
        s = self.wait_summary(fs, path, timeout=10, state="stored", record="saved")
        self.assertLess(time.monotonic() - t0, 5.0)  # was 14 s of digesting holes
        self.assertEqual((s["pages"], s["resident"]), (str(16 << 20), "3"))
        db_after = sum(os.path.getsize(os.path.join(r, f)) for r, _, fl in os.walk(fs.db)
                       for f in fl)
        self.assertLess(db_after - db_before, 1 << 20)  # was a 128 MiB digest value
        self.assertEqual(self.read_pages(path, 1000, 3), content("few", 1000 * PAGE, 3 * PAGE))
        # The digests are sparse too (docs/formats.md, version 2) and decode as before.
        doc = self.decode(self.chunks(fs, path, "user.mkd.digests"))
        self.assertEqual((doc["pages"], doc["zero_pages"]), (16 << 20, (16 << 20) - 3))
        # Above the limit: EFBIG, and the log names the limit.
        big = self.new_vm(fs)
        w2 = RamWriter(self, "too-big")
        w2.open(os.path.join(fs.vm_dir(big), "ram"), os.O_RDWR | os.O_CREAT)
        with self.assertRaises(OSError) as cm:
            w2.ftruncate((64 << 30) + PAGE)
        self.assertEqual(cm.exception.errno, errno.EFBIG)
        self.assertRegex(fs.log(), r"refused \(EFBIG\): the largest RAM file is 68719476736 "
                                   r"bytes \(--max-file-size\)")
        self.assertEqual(self.summary(fs, fs.mountpoint)["max_file_size"], str(64 << 30))
        w2.close()

    def test_a_second_daemon_on_the_same_store_or_db_is_refused_and_the_first_keeps_its_pages(self):
        fs = self.start_memfs("a")
        vm = self.new_vm(fs)
        path = self.store_file(fs, vm, writes=((0, 64, "first"),))
        files = sorted(os.listdir(os.path.join(fs.store, vm)))
        for name, shared in (("b", "store"), ("c", "db")):
            other = Memfs(build_dir(), os.path.join(self.workdir, name), host_id="host-a")
            own = (other.store, other.db)
            self.addCleanup(other.destroy)
            setattr(other, shared, getattr(fs, shared))
            try:
                with self.assertRaises(mkdsys.memfs.MemfsError):
                    other.start(timeout=10)
                self.assertNotEqual(other.proc.returncode, 0)
                self.assertRegex(other.log(), rf"--{shared} {re.escape(getattr(fs, shared))} is "
                                 rf"in use by another mkd-memfs \(pid {fs.proc.pid}, mount "
                                 rf"{re.escape(fs.mountpoint)}")
            finally:
                other.stop()
                other.store, other.db = own  # destroy() unmounts its own tmpfs only
            self.assertFalse(is_mounted(other.mountpoint))
        self.assertEqual(sorted(os.listdir(os.path.join(fs.store, vm))), files)
        self.assertEqual(self.summary(fs, path)["state"], "stored")
        self.assertEqual(self.read_pages(path, 0, 64), content("first", 0, 64 * PAGE))

    def test_a_full_db_disk_is_reported_truthfully_and_memfs_recovers_when_space_returns(self):
        # The database on its own small tmpfs, filled up and freed again (cleanup by path).
        db = os.path.join(self.workdir, "a", "db")
        os.makedirs(db)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "mkd-test-db", db], check=True,
                       timeout=30)
        self.addCleanup(subprocess.run, ["umount", "-l", db], check=False, timeout=30)
        ballast = os.path.join(db, "ballast")
        with open(ballast, "wb") as f:
            f.write(b"\xff" * (8 << 20))
        fs = self.start_memfs("a")
        self.assertEqual(fs.db, db)
        vm, vm2 = self.new_vm(fs), self.new_vm(fs)
        kept = self.store_file(fs, vm2, writes=((0, 8, "kept"),))
        w = self.new_ram(fs, vm)
        w.write_pages(0, 100, "full")
        filler = os.path.join(db, "filler")
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\xff" * (1 << 20))
                    f.flush()
            except OSError as e:
                self.assertEqual(e.errno, errno.ENOSPC)
        w.close()  # the VM leaves: its record cannot be written
        path = os.path.join(fs.vm_dir(vm), "ram")
        s = self.wait_summary(fs, path, state="stored", record="failed")
        self.assertEqual(self.summary(fs, fs.mountpoint)["unsaved"], "1")
        self.assertRegex(fs.log(), r"error: VM \S+ block ram incarnation 1: the VM left, but "
                                   r"writing its record to the database failed")
        self.assertEqual(self.read_pages(path, 0, 100), content("full", 0, 100 * PAGE))
        vm3 = self.new_vm(fs)
        self.assertErrno(errno.EIO, os.open, os.path.join(fs.vm_dir(vm3), "ram"),
                         os.O_RDWR | os.O_CREAT)
        self.assertErrno(errno.EIO, os.unlink, kept)
        os.unlink(filler)  # space returns: the record is written, create and rm work again
        os.unlink(ballast)
        self.wait_summary(fs, path, timeout=15, state="stored", record="saved")
        self.assertEqual(self.summary(fs, fs.mountpoint)["unsaved"], "0")
        w3 = self.new_ram(fs, vm3)
        w3.close()
        self.within(os.unlink, kept)
        self.assertFalse(self.within(os.path.exists, kept))
        self.assertRegex(fs.log(), r"record written to the database after all")
        # And what the summary said was stored is stored: it survives a restart.
        fs.stop()
        fs.start()
        s = self.summary(fs, path)
        self.assertEqual((s["state"], s["record"], s["resident"]), ("stored", "saved", "100"))
        self.assertEqual(self.read_pages(path, 0, 100), content("full", 0, 100 * PAGE))
        self.allowed_log += [r"error: VM \S+ block ram incarnation 1: the VM left, but writing",
                             r"error: create \S+/ram:", r"error: unlink \S+/ram:",
                             r"the --db disk \S+ is full"]

    def test_the_daemon_asks_the_oom_killer_to_spare_it_and_says_when_it_cannot(self):
        fs = self.start_memfs()
        with open(f"/proc/{fs.proc.pid}/oom_score_adj") as f:
            value = int(f.read())
        if value != -1000:
            # Lowering it needs CAP_SYS_RESOURCE (not in every container): then it says so,
            # with the value it really has, instead of claiming -1000.
            self.assertRegex(fs.log(), rf"warning: could not set oom_score_adj to -1000 \(.*; it "
                                       rf"is {value}\)")
        else:
            self.assertNotIn("could not set oom_score_adj", fs.log())

    def test_a_non_empty_mount_point_is_refused(self):
        fs = Memfs(build_dir(), os.path.join(self.workdir, "a"), host_id="host-a")
        self.addCleanup(fs.destroy)
        with open(os.path.join(fs.mountpoint, "someone's file"), "w") as f:
            f.write("still here")
        with self.assertRaises(mkdsys.memfs.MemfsError):
            fs.start(timeout=10)
        self.assertEqual(fs.proc.returncode, 2)
        self.assertRegex(fs.log(), rf"error: mount point {re.escape(fs.mountpoint)} is not empty: "
                                   r"mounting over it would hide its files")
        self.assertFalse(is_mounted(fs.mountpoint))
        with open(os.path.join(fs.mountpoint, "someone's file")) as f:
            self.assertEqual(f.read(), "still here")


if __name__ == "__main__":
    unittest.main()
