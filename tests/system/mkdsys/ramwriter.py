"""A RAM-file writer for mkd-memfs system tests: a host process that holds one RAM file open, as
one QEMU does for one VM, and writes it with write(2) or through a shared mmap, frees pages
(fallocate PUNCH_HOLE, MADV_REMOVE) and closes it, one request at a time over a pipe.

Each request has a timeout; when one overruns, the owning test's FUSE connections are aborted
(test.abort_mounts) so nothing stays stuck. A failed syscall raises OSError with the writer's
errno. The writer registers itself with its test (test.writers, test.addCleanup) and is stopped by
pid at cleanup. Used through mkdsys.memfs_case.MemfsCase; touches only the file it is told to
open and its stderr file in the test's work directory.
"""

import json
import os
import select
import subprocess
import sys
import time

from . import procs

PAGE = 4096
FUSE_TIMEOUT = 30.0  # seconds any single call on the mount may take

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

    def __init__(self, test, name: str):
        """test: the MemfsCase it belongs to (work directory, cleanups, abort_mounts)."""
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
