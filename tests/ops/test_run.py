"""ops.core.run: the one Runner against real programs (true, false, sleep, sh); its recorder."""

from __future__ import annotations

import hashlib
import os
import shlex
import signal
import time
from pathlib import Path

import pytest
from invoke import Config, Context, MockContext, Result

from ops.core.run import Call, RecordingRunner, RunFailed, Runner, RunTimedOut, Secret, display


def test_a_program_runs_from_an_argument_list_with_no_shell_in_between(tmp_path: Path) -> None:
    odd = "it's $HOME; `no` * expansion"
    result = Runner().run(["printf", "%s|", odd, "two words"], timeout=10)
    assert result.stdout == f"{odd}|two words|"
    assert result.exited == 0


def test_cwd_env_and_input_reach_the_program(tmp_path: Path) -> None:
    result = Runner().run(
        ["sh", "-c", 'pwd; echo "$ORDERDESK_T"; cat'],
        timeout=10,
        cwd=tmp_path,
        env={"ORDERDESK_T": "from-env"},
        input="from-stdin\n",
    )
    assert result.stdout.splitlines() == [str(tmp_path), "from-env", "from-stdin"]


def test_a_failure_names_the_program_its_exit_its_last_words_and_the_fix() -> None:
    with pytest.raises(RunFailed) as caught:
        Runner().run(
            ["sh", "-c", "echo starting; echo 'no such cluster' >&2; exit 3"],
            timeout=10,
            fix="run `invoke sandbox.cluster-start`",
        )
    message = str(caught.value)
    assert message.startswith("sh failed (exit 3):\n  no such cluster\n")
    assert message.endswith("; run `invoke sandbox.cluster-start`")
    assert caught.value.code == 1
    assert caught.value.result is not None
    assert caught.value.result.exited == 3


def test_without_a_fix_the_message_says_how_to_see_everything() -> None:
    with pytest.raises(RunFailed, match=r"^false failed \(exit 1\); run `false` by hand"):
        Runner().run(["false"], timeout=10)


def test_warn_returns_a_failure_instead_of_raising() -> None:
    result = Runner().run(["false"], timeout=10, warn=True)
    assert result.exited == 1
    assert not result.ok


def test_a_missing_program_says_so_and_how_to_install() -> None:
    with pytest.raises(RunFailed, match=r"no-such-tool was not found .exit 127.; install"):
        Runner().run(["orderdesk-no-such-tool", "--version"], timeout=10)


def test_a_timeout_kills_the_program_and_what_it_started_and_names_both() -> None:
    started = time.monotonic()
    with pytest.raises(RunTimedOut) as caught:
        # The child sleep holds the output pipes: killing only sh would wait 30 s for it.
        Runner().run(
            ["sh", "-c", "echo waiting; sleep 30; echo never"],
            timeout=1,
            fix="start the registry first",
        )
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert message.startswith("sh did not finish within 1 s and was stopped")
    assert "waiting" in message
    assert message.endswith("; start the registry first")


class _Stop(BaseException):
    """What a deploy's signal handler raises (ops/deploy/runner.py's Interrupted)."""


def _gone(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return True
    return fields[0] in ("Z", "X")


def test_an_exception_raised_while_waiting_stops_the_program_and_what_it_started(
    tmp_path: Path,
) -> None:
    """The program runs in a session of its own, so a signal to ours never reaches it: a handler
    that raises (deploy's SIGTERM/SIGINT) must not leave it running, nor hang on its pipes."""
    pid_file = tmp_path / "sleep.pid"

    def stop(signum: int, frame: object) -> None:
        raise _Stop

    previous = signal.signal(signal.SIGALRM, stop)
    started = time.monotonic()
    try:
        signal.alarm(1)
        with pytest.raises(_Stop):
            Runner().run(
                ["sh", "-c", f"sleep 60 & echo $! > {pid_file}; wait"], timeout=120, hide=True
            )
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - started < 10
    sleep = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while not _gone(sleep) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(sleep), f"sleep {sleep} still runs after the run was interrupted"


def test_a_timeout_is_required() -> None:
    with pytest.raises(ValueError, match="a timeout in seconds is required"):
        Runner().run(["true"], timeout=0)


def test_dry_run_prints_the_command_runs_nothing_and_succeeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "ran"
    result = Runner(dry=True).run(["touch", str(marker)], timeout=10)
    assert result.ok
    assert result.stdout == ""
    assert not marker.exists()
    # invoke's own echo format (bold by default), as `invoke --dry` prints c.run's commands.
    assert (
        capsys.readouterr().out == Config().run.echo_format.format(command=f"touch {marker}") + "\n"
    )


def test_invokes_dry_and_echo_settings_apply(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    marker = tmp_path / "ran"
    dry = Context(Config(overrides={"run": {"dry": True, "echo_format": "{command}"}}))
    Runner(dry).run(["touch", str(marker)], timeout=10)
    assert not marker.exists()
    echo = Context(Config(overrides={"run": {"echo": True, "echo_format": "+ {command}"}}))
    Runner(echo).run(["touch", str(marker)], timeout=10)
    assert marker.exists()
    assert capsys.readouterr().out == f"touch {marker}\n+ touch {marker}\n"


def test_secrets_are_never_echoed_nor_in_errors(capsys: pytest.CaptureFixture[str]) -> None:
    password = "s3cr3t-" + os.urandom(4).hex()  # pragma: allowlist secret
    echo = Context(Config(overrides={"run": {"echo": True}}))
    argv = ["sh", "-c", 'echo "$1 $TOKEN" >&2; exit 2', "sh", Secret(password)]
    with pytest.raises(RunFailed) as caught:
        Runner(echo).run(argv, timeout=10, env={"TOKEN": Secret("tok-" + password)})
    printed = capsys.readouterr().out
    assert "***" in printed
    assert password not in printed
    assert password not in str(caught.value)
    assert password not in caught.value.command
    assert "*** tok-***" not in str(caught.value)  # the whole env value is masked
    assert "sh failed (exit 2):\n  *** ***" in str(caught.value)


def test_a_secret_flag_keeps_its_name_visible() -> None:
    assert display(["az", Secret.flag("--password=", "hunter2")]) == "az --password=***"
    Runner(dry=True).run(["true", Secret.flag("--password=", "hunter2")], timeout=1)


def test_a_mock_context_sees_the_quoted_command_line() -> None:
    mock = MockContext(run={"kubectl get 'pods x'": Result("found")})
    assert Runner(mock).run(["kubectl", "get", "pods x"], timeout=5).stdout == "found"


def test_the_recording_runner_keeps_argument_lists_and_answers_from_its_script() -> None:
    runner = RecordingRunner()
    runner.answer("get", "--raw", "/version", stdout='{"minor": "34"}')
    runner.answer("apply", exited=1, stderr="denied")
    version = runner.run(["/cache/bin/kubectl", "get", "--raw", "/version"], timeout=20)
    assert version.stdout == '{"minor": "34"}'
    with pytest.raises(RunFailed, match=r"kubectl apply failed .exit 1.:\n  denied"):
        runner.run(["kubectl", "apply", "-f", "x.yaml"], timeout=30, env={"KUBECONFIG": "k"})
    # A task given the recorder's context records its leftover shell strings as words too.
    runner.context.run("helm upgrade --install 'my release'", timeout=600)

    assert runner.calls == [
        ["/cache/bin/kubectl", "get", "--raw", "/version"],
        ["kubectl", "apply", "-f", "x.yaml"],
        ["helm", "upgrade", "--install", "my release"],
    ]
    applied = runner.find("kubectl", "apply")
    assert (applied.timeout, applied.env) == (30, ("KUBECONFIG",))
    assert runner.named()[0][0] == "kubectl"
    with pytest.raises(AssertionError, match="0 calls contain"):
        runner.find("delete")


def test_a_runner_made_from_the_recording_context_records_too() -> None:
    runner = RecordingRunner()
    Runner(runner.context).run(["git", "status"], timeout=5, cwd="/repo", input="x")
    [call] = runner.records
    assert (call.argv, call.cwd, call.input) == (["git", "status"], "/repo", "x")


def test_a_large_input_is_written_whole_and_quickly() -> None:
    # invoke's own in_stream copies one character per 10 ms: 200 kB would take half an hour.
    started = time.monotonic()
    result = Runner().run(["wc", "-c"], input="x" * 200_000, timeout=10)
    assert result.stdout.strip() == "200000"
    assert time.monotonic() - started < 5


def test_a_binary_input_reaches_the_program_byte_for_byte() -> None:
    # A tar context on `docker build -`'s stdin: every byte value, none decoded or re-encoded.
    data = bytes(range(256)) * 800
    result = Runner().run(["sha256sum"], input=data, timeout=10)
    assert result.stdout.split()[0] == hashlib.sha256(data).hexdigest()


def test_without_input_a_program_reading_stdin_sees_its_end_at_once() -> None:
    started = time.monotonic()
    assert Runner().run(["cat"], timeout=10).stdout == ""
    assert time.monotonic() - started < 5


def test_replace_env_gives_the_program_only_that_environment() -> None:
    only = Runner().run(["/usr/bin/env"], env={"ONLY": "this"}, replace_env=True, timeout=10)
    names = {line.split("=", 1)[0] for line in only.stdout.splitlines()}
    assert "ONLY=this" in only.stdout.splitlines()
    # Nothing of this process's environment; what bash itself sets (PWD, SHLVL, _) only.
    assert names <= {"ONLY", "PWD", "SHLVL", "_"}, names
    added = Runner().run(["/usr/bin/env"], env={"ADDED": "too"}, timeout=10)
    assert "ADDED=too" in added.stdout.splitlines()
    assert f"PATH={os.environ['PATH']}" in added.stdout.splitlines()


def test_the_recorder_keeps_secrets_marked_and_never_lists_them() -> None:
    runner = RecordingRunner()
    runner.run(["az", "login", "--password", Secret("hunter2")], timeout=60)
    assert runner.calls == [["az", "login", "--password", "hunter2"]]
    with pytest.raises(AssertionError) as caught:
        runner.find("logout")
    assert "az login --password ***" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_an_answer_made_from_the_call_acts_on_its_arguments(tmp_path: Path) -> None:
    """A fake program that writes the file its flag names, and fails on the arguments it refuses."""
    runner = RecordingRunner()

    def plan(call: Call) -> Result:
        out = next(word.removeprefix("-out=") for word in call.argv if word.startswith("-out="))
        Path(out).write_text("a plan\n")
        if "-var=environment=qa" in call.argv:
            return Result(exited=1, stderr="no such environment")
        return Result(stdout=f"saved {out}")

    runner.answer_by("plan", respond=plan)
    runner.answer("plan", stdout="never: the acting answer comes first and answers every call")
    first = runner.run(["/opt/terraform", "plan", f"-out={tmp_path / 'a'}"], timeout=60)
    assert first.stdout == f"saved {tmp_path / 'a'}"
    assert (tmp_path / "a").read_text() == "a plan\n"
    refused = [f"-out={tmp_path / 'b'}", "-var=environment=qa"]
    with pytest.raises(RunFailed, match=r"terraform plan failed .exit 1.:\n  no such environment"):
        runner.run(["terraform", "plan", *refused], timeout=60)
    warned = runner.run(["terraform", "plan", *refused], timeout=60, warn=True)
    assert (warned.exited, warned.stderr) == (1, "no such environment")
    assert warned.command == shlex.join(["terraform", "plan", *refused])
    assert (tmp_path / "b").exists()
    assert [call[1] for call in runner.calls] == ["plan", "plan", "plan"]

    once = RecordingRunner()
    once.answer_by("get", respond=lambda call: Result(stdout=call.argv[-1]), times=1)
    assert once.run(["kubectl", "get", "pods"], timeout=5).stdout == "pods"
    assert once.run(["kubectl", "get", "nodes"], timeout=5).stdout == ""


def test_the_recorder_keeps_whether_output_was_hidden_and_lists_calls_by_their_words() -> None:
    runner = RecordingRunner()
    runner.run(["az", "keyvault", "secret", "show", "--query", "value"], timeout=60)
    runner.run(["helm", "upgrade", "--install", "x"], timeout=600, hide=False)
    runner.context.run("helm upgrade --install y")
    runner.context.run("az keyvault secret show --query id", hide="out")
    assert [call.hide for call in runner.records] == [True, False, None, "out"]
    upgrades = runner.matching("helm", "upgrade", "--install")
    assert [call.argv[-1] for call in upgrades] == ["x", "y"]
    assert runner.matching("secret", "show", "--query", "value") == [runner.records[0]]
    assert runner.matching("uninstall") == []


def test_a_failed_comparison_of_recorded_calls_shows_secrets_masked() -> None:
    runner = RecordingRunner()
    runner.run(["az", "login", Secret.flag("--password=", "hunter2")], timeout=60)
    with pytest.raises(AssertionError) as caught:
        assert runner.named() == [["az", "login", "--password=other"]]
    assert "--password=***" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert f"{runner.calls}" == "[['az', 'login', Secret('--password=***')]]"
