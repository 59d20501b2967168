"""Network namespaces bound to a file, as `ip netns add` does, without
forking: the calling thread unshares its network namespace, bind-mounts
/proc/thread-self/ns/net onto the file, opens a netlink socket there, and
returns to the host namespace. Namespaces are per thread in Linux, so other
threads never see the switch."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from hangu_runtime import logging as hlog

from .rtnl import Rtnl

log = hlog.get_logger("hangu.network.netns")

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MNT_DETACH = 2
_SELF = b"/proc/thread-self/ns/net"
T = TypeVar("T")


def _err(what: str) -> OSError:
    num = ctypes.get_errno()
    return OSError(num, f"{what}: {os.strerror(num)}")


def _return_home(home: int) -> None:
    if _libc.setns(home, CLONE_NEWNET) != 0:
        # A gRPC worker left in a container's namespace would do all later
        # host work in the wrong place; dying is the only safe answer.
        log.critical("setns_back_failed", errno=ctypes.get_errno())
        os._exit(70)


def create(path: Path, sysctls: Sequence[tuple[str, str]] = ()) -> Rtnl:
    """Create a namespace bound at `path`, with these /proc/sys values
    written inside it; return a netlink socket inside it (the caller closes
    it). One entry into the namespace for all of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444)
    os.close(fd)
    home = os.open(_SELF, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.unshare(CLONE_NEWNET) != 0:
            raise _err("unshare")
        try:
            if _libc.mount(_SELF, str(path).encode(), b"none", MS_BIND, None) != 0:
                raise _err(f"bind mount of the namespace on {path}")
            for name, value in sysctls:
                with open(name, "w") as fh:
                    fh.write(value)
            return Rtnl()
        finally:
            _return_home(home)
    except BaseException:
        _unbind(path)
        raise
    finally:
        os.close(home)


def bind_home(path: Path) -> None:
    """Bind the service's own (the host's) namespace at `path`, as dockerd
    binds netns/default for host-mode containers; already bound is fine."""
    if is_bound(path):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444))
    if _libc.mount(_SELF, str(path).encode(), b"none", MS_BIND, None) != 0:
        raise _err(f"bind mount of the host namespace on {path}")


@contextlib.contextmanager
def _inside(path: Path) -> Iterator[None]:
    """The calling thread inside the namespace bound at `path`, then home."""
    target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    home = os.open(_SELF, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            raise _err(f"setns {path}")
        try:
            yield
        finally:
            _return_home(home)
    finally:
        os.close(target)
        os.close(home)


def open_in(path: Path) -> Rtnl:
    """A netlink socket inside an existing bound namespace."""
    with _inside(path):
        return Rtnl()


def run_in(path: Path, make: Callable[[], T]) -> T:
    """`make()` run inside the namespace bound at `path` (sockets it makes
    stay there)."""
    with _inside(path):
        return make()


def write_sysctls(path: Path, values: list[tuple[str, str]]) -> None:
    """Write /proc/sys/net files as the namespace bound at `path` sees them
    (the sysctl tree is the opening thread's namespace's)."""
    if not values:
        return
    with _inside(path):
        for name, value in values:
            with open(name, "w") as fh:
                fh.write(value)


def _unbind(path: Path) -> None:
    if _libc.umount2(str(path).encode(), MNT_DETACH) != 0:
        num = ctypes.get_errno()
        if num not in (errno.EINVAL, errno.ENOENT):
            log.warning("netns_umount_failed", path=str(path), errno=num)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def remove(path: Path) -> None:
    """Unmount and delete; the namespace goes away with its last user."""
    _unbind(path)


def is_bound(path: Path) -> bool:
    """True if `path` is a namespace bind mount (a plain file has another
    device than the nsfs inode behind the mount)."""
    try:
        return os.stat(path).st_dev != os.stat(path.parent).st_dev
    except OSError:
        return False
