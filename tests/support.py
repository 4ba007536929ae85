"""Helpers shared by the tests that drive real components (servers, engines, CLIs)."""

from __future__ import annotations

import socket

import pytest

from ops.toolchain import find, in_ci


def need_tool(name: str, why: str = "") -> str:
    """Path of a tool; on a laptop without it the test skips, in CI it fails.

    CI installs every tool the tests use (scripts/bootstrap --system), so a missing one there is
    a broken setup, never a reason to pass quietly.
    """
    path = find(name)
    if path is None:
        reason = f"{name} is not installed{': ' + why if why else ''} (scripts/bootstrap --system)"
        if in_ci():
            pytest.fail(f"CI must run this test, but {reason}")
        pytest.skip(reason)
    return path


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (tests talk only to loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
