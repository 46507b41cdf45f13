#!/usr/bin/env python3
"""The lab's delay daemon: holds every packet of NFQUEUE QUEUE for a fixed time, then accepts it
(batch verdicts). create.py starts it inside a lab's switch namespace as
`python3 delayd.py --queue 0 --delay-us N` (this kernel has no sch_netem; see README.md); it
prints "ready" on stdout once bound, then logs to stderr. Standard library only, no import from
the package: it runs as a script. Touches nothing but its netlink socket.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import select
import signal
import socket
import struct
import sys
import time
from collections import deque


_NETLINK_NETFILTER = 12
_NFNL_SUBSYS_QUEUE = 3
_NFQNL_MSG_PACKET, _NFQNL_MSG_CONFIG, _NFQNL_MSG_VERDICT_BATCH = 0, 2, 3
_NLM_F_REQUEST, _NLM_F_ACK = 1, 4
_NLMSG_ERROR = 2


def _nl_attr(atype: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, atype) + payload + b"\0" * ((4 - length % 4) % 4)


def _nfq_msg(msg: int, queue: int, attrs: bytes, flags: int = _NLM_F_REQUEST, seq: int = 0,
             family: int = socket.AF_UNSPEC) -> bytes:
    body = struct.pack("=BBH", family, 0, socket.htons(queue)) + attrs
    return struct.pack("=IHHII", 16 + len(body), (_NFNL_SUBSYS_QUEUE << 8) | msg,
                       flags, seq, 0) + body


def run(queue: int, delay_us: int, maxlen: int) -> int:
    """Binds NFQUEUE `queue` and delays its packets by delay_us until SIGTERM."""
    delay = delay_us / 1e6
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_NETFILTER)
    with contextlib.suppress(OSError):
        s.setsockopt(socket.SOL_SOCKET, 33, 32 << 20)  # SO_RCVBUFFORCE
    with contextlib.suppress(OSError):
        s.setsockopt(270, 5, 1)  # SOL_NETLINK, NETLINK_NO_ENOBUFS
    s.bind((0, 0))

    def request(msg: bytes) -> None:
        s.send(msg)
        data = s.recv(65536)
        mtype = struct.unpack_from("=H", data, 4)[0]
        if mtype == _NLMSG_ERROR:
            err = struct.unpack_from("=i", data, 16)[0]
            if err != 0:
                raise OSError(-err, os.strerror(-err))

    # bind the queue; copy metadata only; a long queue; GSO packets whole
    request(_nfq_msg(_NFQNL_MSG_CONFIG, queue, _nl_attr(1, struct.pack("!BxH", 1, 0)),
                     _NLM_F_REQUEST | _NLM_F_ACK, 1))
    request(_nfq_msg(_NFQNL_MSG_CONFIG, queue,
                     _nl_attr(2, struct.pack("!IB", 0, 1)) + _nl_attr(3, struct.pack("!I", maxlen))
                     + _nl_attr(4, struct.pack("!I", 4)) + _nl_attr(5, struct.pack("!I", 4)),
                     _NLM_F_REQUEST | _NLM_F_ACK, 2))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    with contextlib.suppress(OSError):
        os.close(1)
        os.open(os.devnull, os.O_WRONLY)
    print(f"delayd: queue {queue}, delay {delay_us} us", file=sys.stderr, flush=True)

    pending: deque = deque()
    buf = bytearray(1 << 20)
    pkt_type = (_NFNL_SUBSYS_QUEUE << 8) | _NFQNL_MSG_PACKET
    total = 0
    while True:
        timeout = None if not pending else max(0.0, pending[0][0] - time.monotonic())
        r, _, _ = select.select([s], [], [], timeout)
        if r:
            now = time.monotonic()
            while True:
                try:
                    n = s.recv_into(buf, 0, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                except OSError as e:
                    if e.errno != errno.ENOBUFS:
                        raise
                    # the kernel dropped messages (and so their packets): TCP retransmits
                    print(f"delayd: recv: {e}", file=sys.stderr, flush=True)
                    continue
                off = 0
                while off + 16 <= n:
                    mlen, mtype = struct.unpack_from("=IH", buf, off)
                    if mlen < 16:
                        break
                    if mtype == pkt_type:
                        a = off + 20  # nlmsghdr + nfgenmsg
                        end = off + mlen
                        while a + 4 <= end:
                            alen, atype = struct.unpack_from("=HH", buf, a)
                            if alen < 4:
                                break
                            if (atype & 0x7FFF) == 1:  # NFQA_PACKET_HDR: be32 id
                                pending.append((now + delay, struct.unpack_from("!I", buf, a + 4)[0]))
                                total += 1
                                break
                            a += (alen + 3) & ~3
                    off += (mlen + 3) & ~3
        now = time.monotonic()
        last = None
        while pending and pending[0][0] <= now:
            last = pending.popleft()[1]
        if last is not None:
            # NF_ACCEPT every packet up to `last` (ids are increasing; the delay is constant).
            s.send(_nfq_msg(_NFQNL_MSG_VERDICT_BATCH, queue,
                            _nl_attr(2, struct.pack("!II", 1, last))))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="mkd-lab's delay daemon (started by `mkd-lab up "
                                 "--delay`; not for use by hand)")
    ap.add_argument("--queue", type=int, default=0)
    ap.add_argument("--delay-us", type=int, required=True)
    ap.add_argument("--maxlen", type=int, default=65536)
    a = ap.parse_args(argv)
    return run(a.queue, a.delay_us, a.maxlen)


if __name__ == "__main__":
    sys.exit(main())
