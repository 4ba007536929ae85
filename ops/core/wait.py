"""Waiting for something to become true, always bounded, on tenacity."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TypeVar

import tenacity
from invoke.exceptions import Exit

T = TypeVar("T")


class NotYet(Exception):
    """Raised by a check to say "not yet, because ..."; the last reason ends up in WaitTimeout."""


class WaitTimeout(Exception):
    """The check never passed in time; the message says what was awaited and the last reason."""


def _sleep(seconds: float) -> None:
    # Looked up at call time so tests can replace time.sleep.
    time.sleep(seconds)


def wait_until(
    check: Callable[[], T | None],
    *,
    what: str,
    timeout: float,
    interval: float,
    errors: tuple[type[BaseException], ...] = (),
    progress: Callable[[int, int, str], None] | None = None,
) -> T:
    """Call `check` every `interval` seconds until it returns a true value, and return it.

    `check` says "not yet" by returning something false or raising NotYet (or one of `errors`).
    The wait ends after `timeout` seconds or timeout/interval + 1 attempts (one at the start and
    one after each pause up to `timeout`), whichever comes first, so it stays bounded even when
    the clock does not move (tests); an attempt fewer would give up one interval early.
    `progress(attempt, attempts, reason)` is told of every failed attempt before the pause.
    """
    attempts = math.ceil(timeout / interval) + 1

    def before_sleep(state: tenacity.RetryCallState) -> None:
        if progress is not None:
            progress(state.attempt_number, attempts, _reason(state))

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_delay(timeout) | tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_fixed(interval),
        retry=(
            tenacity.retry_if_result(lambda value: not value)
            | tenacity.retry_if_exception_type((NotYet, *errors))
        ),
        sleep=_sleep,
        before_sleep=before_sleep,
    )
    try:
        result = retrying(check)
    except tenacity.RetryError as exc:
        state = tenacity.RetryCallState(retrying, fn=None, args=(), kwargs={})
        state.outcome = exc.last_attempt
        raise WaitTimeout(f"{what}: not after {timeout:g} s ({_reason(state)})") from None
    assert result  # noqa: S101 - tenacity retries every false result  # nosec B101
    return result


def wait_or_exit(
    check: Callable[[], T | None],
    *,
    what: str,
    timeout: float,
    interval: float,
    failure: Callable[[WaitTimeout], str],
    label: str | None = None,
) -> T:
    """wait_until for a task: a timeout ends the task (invoke's Exit, code 1) with `failure(exc)`,
    a message that names what to do next. With `label`, each failed attempt is printed as
    `  label: reason (attempt/attempts)`: a wait of minutes shows it is still alive."""

    def progress(attempt: int, attempts: int, reason: str) -> None:
        print(f"  {label}: {reason} ({attempt}/{attempts})")

    try:
        return wait_until(
            check,
            what=what,
            timeout=timeout,
            interval=interval,
            progress=progress if label else None,
        )
    except WaitTimeout as exc:
        raise Exit(failure(exc), code=1) from exc


def _reason(state: tenacity.RetryCallState) -> str:
    outcome = state.outcome
    if outcome is None:
        return "no attempt"
    if outcome.failed:
        error = outcome.exception()
        return str(error) or type(error).__name__
    return f"got {outcome.result()!r}"
