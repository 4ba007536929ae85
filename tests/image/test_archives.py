"""How the image checks read archives the engine streams: only plain members, read to the end."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

from ops.image import checks


def archive_of(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for info, data in members:
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def entry(name: str, kind: bytes = tarfile.REGTYPE, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def test_only_files_and_directories_inside_the_extraction_are_extracted(tmp_path: Path) -> None:
    data = archive_of(
        [
            (entry("app", tarfile.DIRTYPE), b""),
            (entry("app/settings.py"), b"SECRET = 1\n"),
            (entry("/etc/cron.d/evil"), b"* * * * * root sh\n"),
            (entry("app/../../outside.py"), b"x\n"),
            (entry("app/link", tarfile.SYMTYPE, "/etc/shadow"), b""),
            (entry("app/hard", tarfile.LNKTYPE, "app/settings.py"), b""),
        ]
    )
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as archive:
        kept = [member.name for member in checks.plain_members(archive)]
    assert kept == ["app", "app/settings.py"]


def test_a_stream_closed_early_is_read_to_its_end() -> None:
    """docker's archive and export endpoints hold the container's lock until the whole stream is
    sent: a reader that stops early must still drain it, or removing the container waits."""
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:
        for number in range(5):
            sent.append(number)
            yield b"x" * 10

    stream = checks._StreamReader(chunks())
    with io.BufferedReader(stream, 8) as reader:
        assert reader.read(3) == b"xxx"
    assert sent == [0, 1, 2, 3, 4]
