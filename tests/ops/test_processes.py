"""ops.core.processes: daemons started, awaited and stopped with real programs (sh, sleep)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from ops.core import processes
from ops.core.wait import NotYet

# Ignores SIGTERM, as a daemon stuck in a write does: only SIGKILL ends it.
# Says "ignoring" once SIGTERM is ignored: a SIGTERM before that would end it at once.
STUBBORN = (
    "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ignoring', flush=True)\ntime.sleep(300)\n"
)


def test_a_daemon_runs_in_its_own_session_with_its_output_in_its_log(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "daemon.log"
    process = processes.spawn("daemon", ["sh", "-c", "echo started; exec sleep 300"], log=log)
    try:
        processes.wait_ready(
            process, lambda: "started" in log.read_text(), what="its first line", timeout=10
        )
        assert process.ours()
        assert Path(f"/proc/{process.pid}/stat").read_text().split()[5] == str(process.pid)
    finally:
        assert processes.stop([process], grace=5) is True
    assert not process.running()
    assert process.returncode is not None


def test_a_daemon_that_exits_while_awaited_fails_at_once_with_its_log(tmp_path: Path) -> None:
    process = processes.spawn(
        "broken", ["sh", "-c", "echo 'bad config line 3' >&2; exit 4"], log=tmp_path / "b.log"
    )
    started = time.monotonic()
    with pytest.raises(processes.ProcessError) as caught:
        processes.wait_ready(process, lambda: False, what="it to answer", timeout=30)
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert message.startswith("broken exited with 4 before it to answer; last lines of")
    assert message.endswith("bad config line 3")


def test_a_daemon_never_ready_fails_at_the_timeout_with_the_reason_and_its_log(
    tmp_path: Path,
) -> None:
    process = processes.spawn(
        "slow", ["sh", "-c", "echo warming; sleep 300"], log=tmp_path / "s.log"
    )
    try:

        def not_yet() -> bool:
            raise NotYet("port 5000 refused")

        with pytest.raises(processes.ProcessError) as caught:
            processes.wait_ready(process, not_yet, what="slow to answer", timeout=1, interval=0.1)
        message = str(caught.value)
        assert "slow to answer: not after 1 s (port 5000 refused)" in message
        assert message.endswith("warming")
    finally:
        processes.stop([process], grace=5)


def test_stop_sends_sigkill_after_the_grace_to_a_daemon_that_ignores_sigterm(
    tmp_path: Path,
) -> None:
    log = tmp_path / "x.log"
    process = processes.spawn("stubborn", [sys.executable, "-c", STUBBORN], log=log)
    # A fixed sleep was too short on a loaded machine: SIGTERM then came first and ended it.
    processes.wait_ready(
        process, lambda: "ignoring" in log.read_text(), what="SIGTERM ignored", timeout=30
    )
    started = time.monotonic()
    assert processes.stop([process], grace=1) is True
    assert 1 <= time.monotonic() - started < 10
    assert process.returncode == -9


def test_a_pid_file_survives_the_call_that_started_it_and_names_only_that_process(
    tmp_path: Path,
) -> None:
    pidfile = tmp_path / "daemon.pid"
    process = processes.spawn("daemon", ["sleep", "300"], log=tmp_path / "d.log")
    processes.write_pidfile(process, pidfile)
    found = processes.read_pidfile(pidfile)
    assert found is not None
    assert (found.pid, found.started, found.boot) == (process.pid, process.started, process.boot)
    assert processes.stop([found], grace=5) is True
    assert processes.read_pidfile(pidfile) is None  # it is gone: nothing to stop


def test_a_pid_file_naming_another_process_is_never_signalled(tmp_path: Path) -> None:
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        started = processes.start_time(bystander.pid)
        pidfile = tmp_path / "daemon.pid"
        # The same pid after a reboot, or once the daemon exited and its pid was handed on.
        for boot, start in (
            (str(uuid.uuid4()), started),
            (processes.boot_id(), int(started or 0) - 1),
        ):
            pidfile.write_text(f"{bystander.pid} {start} {boot}\n")
            assert processes.read_pidfile(pidfile) is None
            assert processes.stop([processes.read_pidfile(pidfile)], grace=1) is False
            assert bystander.poll() is None, "stop signalled a process it did not start"
    finally:
        bystander.kill()
        bystander.wait(timeout=10)
