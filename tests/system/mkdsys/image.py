"""The guest image: kernel and initramfs from tests/guest/build-image (cached outside the repo).

build_guest_image() runs build-image once per process and set of arguments; build-image verifies
the cache entry's manifest on every call and rebuilds a missing or damaged entry. The first call
on a machine downloads the kernel package with apt-get (tens of MB); later calls take ~0.3 s.
"""

import functools
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

_PROGRAMS = ("mkd-pagewriter", "mkd-checker", "mkd-loadgen")


@dataclass(frozen=True)
class GuestImage:
    kernel: str          # path of vmlinuz in the cache
    initrd: str          # path of initramfs.cpio.gz in the cache
    kernel_package: str  # e.g. linux-image-6.1.0-56-cloud-amd64
    kernel_version: str  # the package version
    kernel_release: str  # uname -r in the guest
    key: str             # the cache key (hash of all inputs)
    cache_hit: bool


def repo_root() -> Path:
    return Path(__file__).resolve().parents[3]


def find_build_dir() -> Path:
    """The Meson build directory holding the guest programs.

    $MKD_GUEST_BUILD_DIR (set by the meson test), else the first of build-guest/ and build/ in the
    repository whose tests/guest holds all guest programs.
    """
    env = os.environ.get("MKD_GUEST_BUILD_DIR")
    if env:
        return Path(env)
    for name in ("build-guest", "build"):
        candidate = repo_root() / name / "tests" / "guest"
        if all((candidate / p).is_file() for p in _PROGRAMS):
            return candidate
    raise FileNotFoundError(
        "no Meson build directory with the guest programs; build them "
        "(meson setup build-guest && meson compile -C build-guest) or set MKD_GUEST_BUILD_DIR")


@functools.lru_cache(maxsize=None)
def build_guest_image(build_dir: Optional[str] = None, cache_dir: Optional[str] = None,
                      timeout: float = 900.0) -> GuestImage:
    """Builds or finds the guest image; raises RuntimeError with build-image's message."""
    argv = [str(repo_root() / "tests" / "guest" / "build-image")]
    if cache_dir:
        argv += ["--cache-dir", cache_dir]
    argv.append(str(build_dir or find_build_dir()))
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"build-image failed ({result.returncode}):\n{result.stderr}")
    values = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    try:
        return GuestImage(kernel=values["KERNEL"], initrd=values["INITRD"],
                          kernel_package=values["KERNEL_PACKAGE"],
                          kernel_version=values["KERNEL_VERSION"],
                          kernel_release=values["KERNEL_RELEASE"], key=values["KEY"],
                          cache_hit=values["CACHE"] == "hit")
    except KeyError as missing:
        raise RuntimeError(f"build-image printed no {missing}:\n{result.stdout}") from None
