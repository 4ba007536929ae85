"""Helpers shared by the tests that drive real components (servers, engines, CLIs)."""

from __future__ import annotations

import socket

import pytest

from ops.core.ci import in_ci, skip_or_fail
from ops.toolchain import find

__all__ = ["free_port", "in_ci", "need", "need_tool"]


def need(reason: str) -> None:
    """Something this test needs is missing: skip on a laptop, fail in CI (ops.core.ci)."""
    skip_or_fail(reason, skip=pytest.skip, fail=pytest.fail)


def need_tool(name: str, why: str = "") -> str:
    """Path of a tool; on a laptop without it the test skips, in CI it fails."""
    path = find(name)
    if path is None:
        need(f"{name} is not installed{': ' + why if why else ''} (scripts/bootstrap --system)")
        raise AssertionError("unreachable: need() skips or fails")  # pragma: no cover
    return path


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (tests talk only to loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
