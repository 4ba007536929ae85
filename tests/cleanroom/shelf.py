"""This machine's own builds, served to clean-room jobs on a loopback port.

A stand-in action that installs "the same pinned version" of a tool (kubectl, Helm, kubelogin, Go)
takes it from here, since no registry serves those binaries; so does a clean-room probe that needs
the image's base stand-ins. Jobs run on the host network, so 127.0.0.1 is this server; nothing but
the names below is served, read-only.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess  # nosec B404 - asks the host's go for its GOROOT
import tarfile
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from ops.toolchain import BIN_DIR, CACHE_DIR
from testkit.support import serving_on_loopback

CLEANROOM_DIR = CACHE_DIR / "cleanroom"


def host_goroot() -> Path | None:
    go = shutil.which("go")
    if go is None:
        return None
    result = subprocess.run(  # nosec B603
        [go, "env", "GOROOT"], capture_output=True, text=True, check=False
    )
    return Path(result.stdout.strip()) if result.returncode == 0 else None


def served_files() -> dict[str, Path]:
    """name -> file, for the tool stand-ins (tests/cleanroom/actions/setup-*)."""
    return {
        "kubectl": BIN_DIR / "kubectl",
        "helm": BIN_DIR / "helm",
        "kubelogin": CLEANROOM_DIR / "bin" / "kubelogin",
    }


def served_trees() -> dict[str, Path]:
    """name -> directory, sent as a tar stream."""
    trees = {"base-images": CACHE_DIR / "image"}
    goroot = host_goroot()
    if goroot is not None:
        trees["go"] = goroot
    return trees


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        kind, _, name = self.path.strip("/").partition("/")
        if kind == "file" and name in served_files() and served_files()[name].is_file():
            path = served_files()[name].resolve()
            self.send_response(200)
            self.send_header("Content-Length", str(path.stat().st_size))
            self.end_headers()
            with path.open("rb") as source:
                shutil.copyfileobj(source, self.wfile)
        elif kind == "tree" and name in served_trees() and served_trees()[name].is_dir():
            self.send_response(200)
            self.end_headers()
            with tarfile.open(fileobj=self.wfile, mode="w|") as archive:
                archive.add(served_trees()[name], arcname=".")
        else:
            self.send_error(404, f"the clean room's shelf has no {self.path}")

    def log_message(self, format: str, *args: object) -> None:
        return


def shelf() -> contextlib.AbstractContextManager[str]:
    """Serve the shelf on 127.0.0.1 while the block runs; yields its base URL."""
    return serving_on_loopback(_Handler)
