"""What a stopped daemon left mounted under its own directories, found in the mount table and
removed deepest first.

Only mounts at or below the directories a caller names are touched, never anything else.
Standard library only (the unmount is umount2(2) through ctypes): root, or CAP_SYS_ADMIN, unmounts.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")
# <sys/mount.h>: detach now, let the kernel free the mount when nothing uses it any more.
MNT_DETACH = 2
# mountinfo writes a space, tab, newline and backslash in a path as a three-digit octal escape.
_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


class UnmountError(Exception):
    """A mount would not go; the message names it and what to do."""


@dataclass(frozen=True)
class Mount:
    target: Path
    fstype: str


def _unescape(field: str) -> str:
    return _OCTAL_ESCAPE.sub(lambda match: chr(int(match.group(1), 8)), field)


def mount_table(mountinfo: Path = MOUNTINFO) -> list[Mount]:
    """This process's mounts in the kernel's order: a mount stacked on another comes after it."""
    mounts = []
    for line in mountinfo.read_text().splitlines():
        fields = line.split()
        # Optional fields (shared:N, master:N) sit between the 6th field and the "-" separator.
        fstype = fields[fields.index("-") + 1]
        mounts.append(Mount(target=Path(_unescape(fields[4])), fstype=fstype))
    return mounts


def mounts_under(directories: Iterable[Path], mountinfo: Path = MOUNTINFO) -> list[Mount]:
    """The mounts at or below any of `directories` (symlinks resolved, as the table has them)."""
    roots = [Path(os.path.realpath(directory)) for directory in directories]
    return [
        mount
        for mount in mount_table(mountinfo)
        if any(mount.target == root or root in mount.target.parents for root in roots)
    ]


def _umount2(target: Path, flags: int) -> int:
    """umount2(2): 0, or the errno it failed with."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.umount2(os.fsencode(target), flags) == 0:
        return 0
    return ctypes.get_errno()


def unmount_under(directories: Iterable[Path], mountinfo: Path = MOUNTINFO) -> list[Path]:
    """Unmount everything at or below `directories`; return what was unmounted (none: []).

    Deepest first, and on one path the mount stacked last first, so each umount takes the
    mount on top. A busy mount is detached lazily (MNT_DETACH): it leaves the table at once and
    the kernel frees it when its last user goes.
    """
    directories = list(directories)
    found = mounts_under(directories, mountinfo)
    order = sorted(
        enumerate(found), key=lambda item: (len(item[1].target.parts), item[0]), reverse=True
    )
    failures = {}
    for _, mount in order:
        error = _umount2(mount.target, 0)
        if error == errno.EBUSY:
            error = _umount2(mount.target, MNT_DETACH)
        # EINVAL: no longer a mount point (a parent's lazy detach took it along); the table,
        # read again below, is the judge.
        if error not in (0, errno.EINVAL):
            failures[mount.target] = os.strerror(error)
    left = mounts_under(directories, mountinfo)
    if left:
        reasons = ", ".join(
            f"{mount.target} ({mount.fstype}: {failures.get(mount.target, 'still listed')})"
            for mount in left
        )
        raise UnmountError(
            f"still mounted: {reasons}; unmount as root (`umount --lazy PATH`) and try again"
        )
    return [mount.target for mount in found]
