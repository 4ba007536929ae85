"""One way to run an external program: kubectl, helm, terraform, az, docker, cosign, syft, go, git.

    from ops.core.run import Runner, Secret

    runner = Runner(c)                       # a task's Context; Runner() outside a task
    result = runner.run(["kubectl", "get", "pods"], timeout=30)
    result.stdout, result.exited             # invoke's Result
    runner.run([az, "login", "--password", Secret(password)], timeout=60,
               fix="check the service principal's secret")
    runner.run([terraform, "apply"], timeout=3600, env={"ARM_CLIENT_SECRET": Secret(value)},
               cwd=stack_dir, hide=False)
    runner.run(argv, timeout=10, warn=True)  # a non-zero exit is returned, not raised

Rules every call keeps:
- an argument list, never a shell string: nothing is split or expanded by a shell;
- a timeout, always (no default: each call site says how long its program may take); past it,
  the program and everything it started are killed and RunTimedOut names the program and the fix;
- a non-zero exit raises RunFailed (an invoke Exit, so a task shows the message and exits 1) with
  the program, its exit code, the last lines it wrote and `fix`; `warn=True` returns it instead;
- dry run: with invoke's `--dry` (run.dry) or `Runner(c, dry=True)` the command is printed and
  nothing runs; the result is an empty success;
- echo: with invoke's `--echo` (run.echo) the command is printed in run.echo_format first;
- secrets: an argument wrapped in Secret (or Secret.flag("--password=", value)) is printed as ***
  in the echo, the dry run, the result's command and the error; env values wrapped in Secret are
  blanked out of a failure's output too. Env is never echoed.

Built on invoke: a Runner reads the task's invoke config (run.echo, run.dry, run.hide,
run.echo_format, run.shell) and returns invoke's Result, so moving a task from
`c.run` of a string to `Runner(c).run([prog, ...], timeout=...)` changes nothing else. The
command runs through invoke's Local runner with two changes: the program starts in a session of
its own, and a timeout or Ctrl-C reaches its whole process group (invoke's own timeout kills only
the shell, and waits for any child that still holds the output pipes). Given a MockContext, a
Runner passes the same quoted command line to its `run`, so older MockContext tests still match.

Adopting it in a task (what changes, what stays):

    c.run(f"{az()} account show -o json", hide=True, warn=True)
    ->  Runner(c).run([azcli.program(), "account", "show", "-o", "json"], timeout=60, warn=True)
    c.run(target.kubectl("apply", "-f", path))   # ops.core.kube composes the words either way
    ->  Runner(c).run(target.kubectl_argv("apply", "-f", path), timeout=120, hide=False)
    c.run(target.helm(...))  ->  Runner(c).run(target.helm_argv(...), timeout=..., hide=False)

  hide defaults to True (invoke's to False): pass hide=False where a person watches the output
  (helm, terraform apply). A failure is a RunFailed (an Exit) instead of invoke's UnexpectedExit.

Tests record instead of running: `RecordingRunner` keeps every call as an argument list (with
its env keys, timeout, cwd, input and hide), answers from scripted results (`answer`) or from a
function of the call (`answer_by`: a fake program that acts on its arguments), and its
`.context` is a Context to hand to a task, recording the task's Runner calls (and any leftover
`c.run` string, split as a shell would).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import signal
import subprocess  # nosec B404 - the one place a short-lived program is started
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from invoke.config import Config
from invoke.context import Context, MockContext
from invoke.exceptions import CommandTimedOut, Exit
from invoke.runners import Local, Result

MASK = "***"
# How many lines of a failed program's output its error quotes.
TAIL_LINES = 8


class Secret(str):
    """An argument or env value that is never printed: shown as `shown` + ***."""

    shown: str = ""

    def __repr__(self) -> str:
        # What a list of arguments shows (a test's failed comparison, a log of argv): masked.
        return f"Secret({self.shown + MASK!r})"

    @classmethod
    def flag(cls, prefix: str, value: str) -> Secret:
        """`--password=VALUE`, printed as `--password=***`."""
        secret = cls(prefix + value)
        secret.shown = prefix
        return secret


Word = str | Path


def display(argv: Sequence[Word]) -> str:
    """The command line as a person may see it: quoted, secrets masked."""
    return " ".join(
        (shlex.quote(word.shown) if word.shown else "") + MASK
        if isinstance(word, Secret)
        else shlex.quote(str(word))
        for word in argv
    )


def program_name(argv: Sequence[Word]) -> str:
    """`kubectl apply` for /root/.cache/orderdesk/bin/kubectl --request-timeout=10s apply ...:
    the program and its first plain word, what a message calls the command by."""
    name = Path(str(argv[0])).name
    plain = (str(w) for w in argv[1:] if not isinstance(w, Secret) and not str(w).startswith("-"))
    first = next(plain, "")
    verb = first if re.fullmatch(r"[a-z][a-z0-9-]*", first) else ""
    return f"{name} {verb}".strip()


class RunFailed(Exit):
    """A program exited non-zero, or could not start; the message names it and the fix."""

    def __init__(self, message: str, *, argv: Sequence[Word], result: Result | None) -> None:
        super().__init__(message, code=1)
        self.command = display(argv)
        self.result = result


class RunTimedOut(RunFailed):
    """A program ran past its timeout and was killed with everything it started."""


@dataclass(frozen=True)
class Call:
    """One run as a RecordingRunner saw it (env values are left out: they may be secrets)."""

    argv: list[str]
    timeout: float
    env: tuple[str, ...] = ()
    cwd: str | None = None
    # Text, or bytes written as they are (a tar on stdin: `docker build -`).
    input: str | bytes | None = None
    # Whether the output was hidden from the terminal (True for a secret's value read back).
    hide: bool | str | None = True


class _SessionLocal(Local):
    """invoke's Local runner, with the program in a process group of its own that a timeout or
    Ctrl-C signals whole, a working directory, and its input written whole.

    invoke copies an in_stream that is no terminal one character per 10 ms (7 kB: 70 s), so the
    input is written here in one go, then stdin is closed; without input stdin is closed at once,
    so a program that reads it ends instead of waiting for its timeout."""

    cwd: str | None = None
    # None: this process's stdin is passed on through invoke (a prompt).
    feed: bytes | None = b""

    def start(self, command: str, shell: str, env: dict[str, Any]) -> None:
        self.process = subprocess.Popen(  # noqa: S602  # nosec B602 - shlex-joined argv
            command,
            shell=True,
            executable=shell,
            env=env,
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.PIPE,
            start_new_session=True,
        )
        if self.feed is not None:
            threading.Thread(target=self._write_input, args=(self.feed,), daemon=True).start()

    def _write_input(self, data: bytes) -> None:
        stdin = self.process.stdin
        assert stdin is not None  # noqa: S101 - opened as a pipe above  # nosec B101
        with contextlib.suppress(BrokenPipeError, OSError):
            stdin.write(data)
        with contextlib.suppress(BrokenPipeError, OSError):
            stdin.close()

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    def kill(self) -> None:
        self._signal_group(signal.SIGKILL)

    def wait(self) -> None:
        try:
            super().wait()
        except KeyboardInterrupt:
            raise  # invoke passes it on (send_interrupt) and keeps waiting
        except BaseException:
            # An exception while waiting (a deploy's SIGTERM/SIGINT handler raising) would leave
            # the program running, and invoke joining its output threads for ever: in a session
            # of its own, no signal to ours reaches it. One SIGTERM, so a graceful tool
            # (terraform) can still save its state.
            if self.process.poll() is None:
                self._signal_group(signal.SIGTERM)
            raise

    def send_interrupt(self, interrupt: KeyboardInterrupt) -> None:
        # The program's own session does not get the terminal's Ctrl-C: pass it on.
        self._signal_group(signal.SIGINT)


class Runner:
    """Runs external programs for one invoke Context (see the module docstring)."""

    def __init__(self, c: Context | None = None, *, dry: bool | None = None) -> None:
        self.c = c if c is not None else Context()
        self._dry = dry

    @property
    def config(self) -> Config:
        return self.c.config

    @property
    def dry(self) -> bool:
        if self._dry is not None:
            return self._dry
        return bool(self.config.run.dry)

    def run(
        self,
        argv: Sequence[Word],
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        replace_env: bool = False,
        cwd: Path | str | None = None,
        input: str | bytes | None = None,
        interactive: bool = False,
        hide: bool | str | None = True,
        warn: bool = False,
        fix: str = "",
        fix_timeout: str = "",
    ) -> Result:
        """Run `argv` and return its Result; see the module docstring for the rules.

        hide: True captures quietly (the default: output is read by the caller or quoted in the
        error), False shows it as it comes, "out"/"err" hides one stream. interactive: the program
        reads this process's stdin (a prompt); else it gets `input` (text, or bytes as they
        are) or nothing. fix: what to do when it fails (fix_timeout: when it hangs, if that
        differs). env is added to this process's environment, or with replace_env is the whole
        of it.
        """
        if not argv:
            raise ValueError("an empty command line")
        if timeout is None or timeout <= 0:
            raise ValueError(f"{program_name(argv)}: a timeout in seconds is required")
        shown = display(argv)
        call = Call(
            # Secrets stay Secret (equal to their plain text): a listing of the calls masks them.
            argv=[word if isinstance(word, str) else str(word) for word in argv],
            timeout=timeout,
            env=tuple(sorted(env or {})),
            cwd=None if cwd is None else str(cwd),
            input=input,
            hide=hide,
        )
        if self.dry:
            print(self.config.run.echo_format.format(command=shown))
            return Result(command=shown, exited=0)
        if self.config.run.echo:
            print(self.config.run.echo_format.format(command=shown))
        try:
            result = self._execute(
                call, env=env, replace_env=replace_env, interactive=interactive, hide=hide
            )
        except CommandTimedOut as exc:
            raise RunTimedOut(
                f"{program_name(argv)} did not finish within {timeout:g} s and was stopped "
                f"(`{shown}`){_tail(exc.result, argv, env)}; "
                + (
                    fix_timeout
                    or fix
                    or "check what it waits for (a network, a lock, a prompt) and run it again"
                ),
                argv=argv,
                result=exc.result,
            ) from None
        result.command = shown
        if result.exited == 127 and not warn:
            raise RunFailed(
                f"{program_name(argv)}: {argv[0]} was not found (exit 127); "
                + (fix or "install it (scripts/bootstrap --system) or put it on PATH"),
                argv=argv,
                result=result,
            )
        if result.exited != 0 and not warn:
            raise RunFailed(
                f"{program_name(argv)} failed (exit {result.exited}){_tail(result, argv, env)}; "
                + (fix or f"run `{shown}` by hand to see the whole output"),
                argv=argv,
                result=result,
            )
        return result

    def _execute(
        self,
        call: Call,
        *,
        env: Mapping[str, str] | None,
        replace_env: bool,
        interactive: bool,
        hide: bool | str | None,
    ) -> Result:
        command = shlex.join(call.argv)
        options: dict[str, Any] = {
            "timeout": call.timeout,
            "warn": True,
            "echo": False,
            "hide": hide,
            "env": dict(env or {}),
            "replace_env": replace_env,
        }
        if isinstance(self.c, RecordingContext):
            return self.c.recorder.answer_for(call)
        if isinstance(self.c, MockContext):
            if isinstance(call.input, bytes):
                options["in_stream"] = io.BytesIO(call.input)
            elif call.input is not None:
                options["in_stream"] = io.StringIO(call.input)
            result: Result = self.c.run(command, **options)
            return result
        local = _SessionLocal(self.c)
        local.cwd = call.cwd
        if interactive:
            local.feed = None
        else:
            options["in_stream"] = False
            feed = call.input or ""
            local.feed = feed if isinstance(feed, bytes) else feed.encode()
        # A Result, never None: runs are not disowned.
        return local.run(command, **options)


def _tail(result: Result | None, argv: Sequence[Word], env: Mapping[str, str] | None) -> str:
    """The last lines a program wrote, with every secret of its arguments and env blanked out."""
    if result is None:
        return ""
    text = (result.stderr or "").strip() or (result.stdout or "").strip()
    secrets = [w for w in [*argv, *(env or {}).values()] if isinstance(w, Secret) and w]
    # Longest first: a secret that contains another is blanked whole.
    for value in sorted(secrets, key=len, reverse=True):
        text = text.replace(value[len(value.shown) :], MASK)
    lines = text.splitlines()[-TAIL_LINES:]
    return (":\n  " + "\n  ".join(lines) + "\n") if lines else ""


# --- tests ----------------------------------------------------------------------------------


@dataclass
class _Answer:
    words: tuple[str, ...]
    # A Result, or what makes one from the call (a fake program that acts on its arguments).
    result: Result | Callable[[Call], Result]
    times: int | None  # None: every matching call


@dataclass
class RecordingRunner(Runner):
    """A Runner that runs nothing: it records each call and answers from scripted results.

        runner = RecordingRunner()
        runner.answer("get", "--raw", "/version", stdout='{"major": "1", "minor": "34"}')
        task(runner.context, env="local")             # a task: its Runner(c) records here
        assert runner.calls == [[kubectl, "get", ...], ...]
        assert runner.find("rollout", "status").timeout == 310

    A call matches an answer when the answer's words appear in it in a row (the program as its
    base name); the first unused match answers, else an empty success. `answer_by` scripts a
    fake program that acts on its arguments (writes the file a flag names, changes a fake's
    state) instead of a fixed result.
    """

    answers: list[_Answer] = field(default_factory=list)
    records: list[Call] = field(default_factory=list)
    config_overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(RecordingContext(self, Config(overrides=self.config_overrides)))

    @property
    def context(self) -> RecordingContext:
        assert isinstance(self.c, RecordingContext)  # noqa: S101  # nosec B101
        return self.c

    @property
    def calls(self) -> list[list[str]]:
        return [record.argv for record in self.records]

    def answer(
        self,
        *words: str,
        stdout: str = "",
        stderr: str = "",
        exited: int = 0,
        times: int | None = 1,
    ) -> None:
        """The result for the next call(s) containing `words` in a row."""
        result = Result(stdout=stdout, stderr=stderr, exited=exited)
        self.answers.append(_Answer(tuple(words), result, times))

    def answer_by(
        self, *words: str, respond: Callable[[Call], Result], times: int | None = None
    ) -> None:
        """`respond(call)` answers the next call(s) containing `words` in a row (every one by
        default); what it raises reaches the caller, and a non-zero `exited` fails the run as a
        scripted one does (RunFailed, or returned with warn=True)."""
        self.answers.append(_Answer(tuple(words), respond, times))

    def answer_for(self, call: Call) -> Result:
        self.records.append(call)
        for scripted in self.answers:
            if scripted.times != 0 and _contains(_named(call.argv), scripted.words):
                if scripted.times is not None:
                    scripted.times -= 1
                result = scripted.result(call) if callable(scripted.result) else scripted.result
                return Result(
                    stdout=result.stdout,
                    stderr=result.stderr,
                    exited=result.exited,
                    command=shlex.join(call.argv),
                )
        return Result(command=shlex.join(call.argv), exited=0)

    def matching(self, *words: str) -> list[Call]:
        """Every call containing `words` in a row (the program as its base name), in order."""
        return [record for record in self.records if _contains(_named(record.argv), words)]

    def find(self, *words: str) -> Call:
        """The one call containing `words` in a row; an AssertionError lists the calls if not."""
        found = self.matching(*words)
        if len(found) != 1:
            listed = "\n  ".join(display(argv) for argv in self.calls) or "(no call)"
            raise AssertionError(
                f"{len(found)} calls contain {list(words)}, expected one; calls:\n  {listed}"
            )
        return found[0]

    def named(self) -> list[list[str]]:
        """The calls with each program as its base name (kubectl, not a cache path)."""
        return [_named(argv) for argv in self.calls]


class RecordingContext(MockContext):
    """The Context a RecordingRunner hands to tasks: runs through it are recorded, not run."""

    def __init__(self, recorder: RecordingRunner, config: Config) -> None:
        super().__init__(config=config)
        self._set(recorder=recorder)

    def run(self, command: str, *args: Any, **kwargs: Any) -> Result:
        """A task's leftover run of a string: recorded as the words a shell would make of it."""
        timeout = kwargs.get("timeout") or 0
        env = kwargs.get("env") or {}
        call = Call(
            argv=shlex.split(command),
            timeout=timeout,
            env=tuple(sorted(env)),
            hide=kwargs.get("hide"),
        )
        return self.recorder.answer_for(call)


def _named(argv: Iterable[str]) -> list[str]:
    words = list(argv)
    return [Path(words[0]).name, *words[1:]] if words else []


def _contains(words: Sequence[str], part: Sequence[str]) -> bool:
    size = len(part)
    return any(list(words[i : i + size]) == list(part) for i in range(len(words) - size + 1))
