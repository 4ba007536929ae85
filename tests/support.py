"""Helpers shared by the tests that drive real components (servers, engines, CLIs)."""

from __future__ import annotations

import socket
from typing import NoReturn

import pytest

from ops.toolchain import find, in_ci


def unavailable(reason: str) -> NoReturn:
    """A real component the test needs is missing: skip on a laptop, fail in CI.

    CI installs every tool the tests use (scripts/bootstrap --system), so a missing one there is
    a broken setup, never a reason to pass quietly.
    """
    if in_ci():
        pytest.fail(f"CI must run this test, but {reason}")
    pytest.skip(reason)


def need_tool(name: str, why: str = "") -> str:
    """Path of a tool; on a laptop without it the test skips, in CI it fails."""
    path = find(name)
    if path is None:
        unavailable(
            f"{name} is not installed{': ' + why if why else ''} (scripts/bootstrap --system)"
        )
    return path


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (tests talk only to loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
