"""Helpers shared by the tests that drive real components (servers, engines, CLIs)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest.mock import Mock

import pytest
import requests
from invoke import Config, MockContext, Result

from ops.core import processes, web
from ops.core.ci import in_ci, skip_or_fail
from ops.core.ports import free_port
from ops.core.run import Runner
from ops.core.wait import NotYet
from ops.envconfig import REPO_ROOT
from ops.toolchain import find

__all__ = [
    "context_answering",
    "free_port",
    "in_ci",
    "invoke",
    "invoke_argv",
    "need",
    "need_tool",
    "recorded_commands",
    "recorded_run",
    "serving_on_loopback",
    "wait_for_http",
]


def need(reason: str) -> None:
    """Something this test needs is missing: skip on a laptop, fail in CI (ops.core.ci)."""
    __tracebackhide__ = True
    skip_or_fail(reason, skip=pytest.skip, fail=pytest.fail)


def need_tool(name: str, why: str = "") -> str:
    """Path of a tool; on a laptop without it the test skips, in CI it fails.

    CI installs every tool the tests use (scripts/bootstrap --system), so a missing one there is
    a broken setup, never a reason to pass quietly.
    """
    __tracebackhide__ = True
    path = find(name)
    if path is None:
        need(f"{name} is not installed{': ' + why if why else ''} (scripts/bootstrap --system)")
        raise AssertionError("unreachable: need() skips or fails")  # pragma: no cover
    return path


@contextlib.contextmanager
def serving_on_loopback(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """`handler` served on 127.0.0.1 (a free port) while the block runs; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def wait_for_http(url: str, process: processes.Process, timeout: float = 30.0) -> None:
    """Poll a server the test started until `url` answers 200; a ProcessError with its log's
    last lines if it exits first or never answers."""

    def answers() -> bool:
        try:
            status = web.get(url, timeout=2).status_code
        except requests.RequestException as exc:
            raise NotYet(str(exc)) from exc
        if status != 200:
            raise NotYet(f"HTTP {status}")
        return True

    processes.wait_ready(
        process, answers, what=f"{process.name} ready at {url}", timeout=timeout, interval=0.1
    )


def invoke_argv(*args: str) -> list[str]:
    """The command line of `invoke ...` with this venv's invoke: for a test that needs the
    process itself (Popen, to read its output while it runs); otherwise use invoke()."""
    return [sys.executable, "-m", "invoke", *args]


# Of the 180 s an interrupted session's pytest gets (noxfile TEARDOWN_GRACE_S), what a task it
# runs may take to stop: the rest is for the session's own fixtures.
CHILD_TEARDOWN_S = 120


def invoke(
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float | None = 300,
    stdin: str | None = None,
    repo: Path = REPO_ROOT,
) -> subprocess.CompletedProcess[str]:
    """`invoke ...` as a person types it, from the repository root, in a process of its own:
    the one way tests run a task as a process.

    `env` is the whole environment of that process (default: this one's); `stdin`, when given,
    is written to its standard input (then closed). `repo`: another checkout, run with its own
    .venv (a benchmark comparing two revisions).
    """
    argv = invoke_argv(*args)
    if repo != REPO_ROOT:
        argv[0] = str(repo / ".venv" / "bin" / "python")
    with subprocess.Popen(  # nosec B603 - invoke_argv's
        argv,
        cwd=repo,
        env=dict(env) if env is not None else None,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(stdin, timeout=timeout)
        except KeyboardInterrupt:
            # The task got the same Ctrl-C (one process group) and is stopping what it started:
            # a deploy's cluster parts. subprocess.run would kill it 0.25 s later, halfway,
            # and leave an etcd and an API server that no state file names.
            try:
                process.wait(timeout=CHILD_TEARDOWN_S)
            except subprocess.TimeoutExpired:
                process.kill()
            raise
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


def committed_lock_file(checkout: Path) -> Path:
    """A git checkout at `checkout` with a committed .terraform.lock.hcl, as `invoke tf.lock`
    leaves infra/ once the file is committed (tf.plan and tf.apply refuse to run without one)."""
    checkout.mkdir(parents=True, exist_ok=True)
    lock_file = checkout / ".terraform.lock.hcl"
    lock_file.write_text('provider "registry.terraform.io/hashicorp/azurerm" {}\n')
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    for args in (["init", "-q"], ["add", lock_file.name], [*identity, "commit", "-qm", "lock"]):
        Runner().run(["git", "-C", str(checkout), *args], timeout=30)
    return lock_file


def recorded_run(c: MockContext) -> Mock:
    """The Mock that records a MockContext's `run` calls: invoke types `run` as the plain method,
    while MockContext(run=...) puts a Mock wrapping it in its place (as do tests that set one)."""
    assert isinstance(c.run, Mock), "build the MockContext with run=... to record its commands"
    return c.run


def recorded_commands(c: MockContext) -> list[str]:
    """The command lines a MockContext was asked to run, in order."""
    return [call.args[0] for call in recorded_run(c).call_args_list]


def context_answering(answer: Callable[..., Result], config: Config | None = None) -> MockContext:
    """A MockContext whose run(command, **kwargs) returns (or raises) what `answer` does, each call
    recorded: for answers that depend on the command or on earlier calls."""
    # run= (even empty) is what makes MockContext record run() in a Mock.
    c = MockContext(config=config, run={})
    recorded_run(c).side_effect = answer
    return c
