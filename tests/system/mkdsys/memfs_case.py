"""The shared fixture of the mkd-memfs system tests (tests/system/test_memfs_*.py): a real FUSE
mount without a guest, where host processes (mkdsys.ramwriter) stand in for QEMU and write the
RAM files with write(2) and through a shared mmap (docs/memfs.md).

MemfsCase is the base TestCase. Every test starts its own daemon (start_memfs: mkdsys.Memfs with
its own tmpfs page store, database directory and mount point under one temporary directory) and
proves one behaviour. Nothing on the mount can hang a test: each call that touches the mount runs
on a thread with a timeout (within), each writer request has a timeout, and a per-test watchdog
aborts the FUSE connections (so a stuck call returns ENOTCONN) if a test overruns. Cleanup by pid
and path, in every case: writers, then the daemon and its mounts, then the daemon log is scanned
for error/critical lines the test did not provoke (allowed_log). Also here: the page contents the
tests write (page_bytes, content), receive frames, XXH3 digests, and decoders of the chunked
attributes (through mkd-genstore decode --json). Touches only the test's temporary directory, the
mounts in it and the processes it started.
"""

import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

from .image import repo_root
from .memfs import Memfs, abort_fuse_connection, is_mounted
from .ramwriter import FUSE_TIMEOUT, PAGE, RamWriter

MiB = 1 << 20
GEN_INVALID = 0xFFFFFFFF
TEST_DEADLINE = 240.0  # seconds a whole test may take before the watchdog aborts the mounts
# Log lines that always mean something went wrong, unless a test says it provoked them.
LOG_ERROR = re.compile(r"(?i)\b(error|critical|fatal)\b|terminate called|Assertion|"
                       r"Segmentation fault|AddressSanitizer|stack trace")


def build_dir() -> str:
    return os.environ.get("MKD_BUILD_DIR") or str(repo_root() / "build")


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


class MemfsCase(unittest.TestCase):
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
