"""The lab's subnet: a 10.X.Y.0/24 derived from its name, free of the other labs' (and, when
possible, of the root namespace's routes). Only reads the root namespace's routes and addresses.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
from typing import Iterable

from .common import LabError, _run


def _root_subnets() -> list[ipaddress.IPv4Network]:
    nets = []
    cp = _run(["ip", "-j", "-4", "route", "show", "table", "all"], check=False)
    with contextlib.suppress(ValueError):
        for r in json.loads(cp.stdout or "[]"):
            dst = r.get("dst", "")
            if dst and dst != "default":
                with contextlib.suppress(ValueError):
                    nets.append(ipaddress.ip_network(dst, strict=False))
    cp = _run(["ip", "-j", "-4", "addr"], check=False)
    with contextlib.suppress(ValueError):
        for link in json.loads(cp.stdout or "[]"):
            for a in link.get("addr_info", []):
                with contextlib.suppress(ValueError, KeyError):
                    nets.append(ipaddress.ip_network(f"{a['local']}/{a['prefixlen']}", strict=False))
    return nets


def _pick_subnet(name: str, taken: Iterable[str]) -> ipaddress.IPv4Network:
    """10.X.Y.0/24 from a hash of the name; the next one if another lab already uses it. Subnets
    the root namespace routes are avoided too when possible (harmless, the namespaces are not
    connected to it, but confusing when reading addresses)."""
    used = [ipaddress.ip_network(t) for t in taken]
    root = [r for r in _root_subnets() if r.prefixlen >= 16]
    start = int.from_bytes(hashlib.sha256(name.encode()).digest()[:2], "big")
    fallback = None
    for k in range(65536):
        x, y = divmod((start + k) % 65536, 256)
        net = ipaddress.ip_network(f"10.{x}.{y}.0/24")
        if x == 0 or any(net.overlaps(u) for u in used):
            continue
        if not any(net.overlaps(r) for r in root):
            return net
        fallback = fallback or net
    if fallback is None:
        raise LabError("no free 10.X.Y.0/24 subnet")
    return fallback
