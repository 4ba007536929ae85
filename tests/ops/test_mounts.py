"""ops.core.mounts on a mount table written here: which mounts count, and the unmount order.

The real unmounts of a real dockerd's leftovers are tests/sandbox/test_engine.py's.
"""

from __future__ import annotations

import errno
from collections.abc import Collection
from pathlib import Path

import pytest

from ops.core import mounts

TABLE = """\
21 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
36 21 0:4 net:[4026531833] /x/engine/exec/netns/default rw - nsfs nsfs rw
37 21 254:0 /x/engine/data /x/engine/data rw,relatime shared:1 - ext4 /dev/vda rw
38 21 0:5 / /x/engine/data2 rw - tmpfs tmpfs rw
39 37 0:6 / /x/engine/data/overlay2/l/merged rw master:2 - overlay overlay rw
40 21 0:7 / /x/engine/exec/with\\040space rw - tmpfs tmpfs rw
41 36 0:4 net:[4026531833] /x/engine/exec/netns/default rw - nsfs nsfs rw
42 21 0:8 / /x rw - tmpfs tmpfs rw
"""
ENGINE_DIRS = [Path("/x/engine/data"), Path("/x/engine/exec")]


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "mountinfo"
    path.write_text(TABLE)
    return path


def test_only_mounts_at_or_below_the_directories_count(table: Path) -> None:
    found = [str(mount.target) for mount in mounts.mounts_under(ENGINE_DIRS, table)]
    assert found == [
        "/x/engine/exec/netns/default",
        "/x/engine/data",
        "/x/engine/data/overlay2/l/merged",
        "/x/engine/exec/with space",
        "/x/engine/exec/netns/default",
    ]


class FakeKernel:
    """umount2 on the table file: removes the last entry on the path, as the kernel does."""

    def __init__(self, table: Path, busy: Collection[str] = (), stuck: Collection[str] = ()):
        self.table, self.busy, self.stuck = table, busy, stuck
        self.calls: list[tuple[str, int]] = []

    def __call__(self, target: Path, flags: int) -> int:
        self.calls.append((str(target), flags))
        if str(target) in self.stuck:
            return errno.EPERM
        if str(target) in self.busy and not flags & mounts.MNT_DETACH:
            return errno.EBUSY
        lines = self.table.read_text().splitlines()
        on_target = [
            i for i, line in enumerate(lines) if f" {target} " in line.replace("\\040", " ")
        ]
        if not on_target:
            return errno.EINVAL
        del lines[on_target[-1]]
        self.table.write_text("\n".join(lines) + "\n")
        return 0


def test_deepest_first_stacked_ones_each_and_busy_ones_lazily(
    table: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kernel = FakeKernel(table, busy={"/x/engine/data/overlay2/l/merged"})
    monkeypatch.setattr(mounts, "_umount2", kernel)

    unmounted = mounts.unmount_under(ENGINE_DIRS, table)

    assert len(unmounted) == 5
    assert kernel.calls == [
        ("/x/engine/data/overlay2/l/merged", 0),
        ("/x/engine/data/overlay2/l/merged", mounts.MNT_DETACH),
        ("/x/engine/exec/netns/default", 0),
        ("/x/engine/exec/netns/default", 0),
        ("/x/engine/exec/with space", 0),
        ("/x/engine/data", 0),
    ]
    assert mounts.mounts_under(ENGINE_DIRS, table) == []
    remaining = table.read_text()
    # Beside, above and outside the directories: untouched.
    for untouched in (" /x/engine/data2 ", " /x rw", " / / "):
        assert untouched in remaining


def test_nothing_mounted_is_a_no_op(table: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kernel = FakeKernel(table)
    monkeypatch.setattr(mounts, "_umount2", kernel)
    assert mounts.unmount_under([Path("/elsewhere")], table) == []
    assert kernel.calls == []


def test_a_mount_that_stays_is_named_with_the_reason_and_the_fix(
    table: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mounts, "_umount2", FakeKernel(table, stuck={"/x/engine/data"}))
    with pytest.raises(mounts.UnmountError) as raised:
        mounts.unmount_under(ENGINE_DIRS, table)
    message = str(raised.value)
    assert "/x/engine/data (ext4: Operation not permitted)" in message
    assert "umount --lazy" in message
    assert "netns" not in message
