"""Saving an order while other writers hold the change counter's row: retry or say "busy".

Every write to orders updates one counter row (migrations 0003/0005). At REPEATABLE READ or
SERIALIZABLE, a writer whose snapshot predates another's commit to that row fails with a
serialization failure; a deadlock can end either writer. Both leave nothing saved and may run
again at once: they are retried. A writer that waited past lock_timeout or statement_timeout
(settings' database_from_env), or SQLite's busy timeout, has waited long enough: it is told
to come back (Busy), which the API answers 503 with Retry-After and the form shows as a message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from django.db import DatabaseError, connection

logger = logging.getLogger(__name__)

T = TypeVar("T")

# SQLSTATEs: serialization_failure, deadlock_detected: run the transaction again.
RUN_AGAIN = frozenset({"40001", "40P01"})
# lock_not_available (lock_timeout), query_canceled (statement_timeout): waited enough.
WAITED = frozenset({"55P03", "57014"})
ATTEMPTS = 3
RETRY_AFTER_SECONDS = 1
BUSY_MESSAGE = (
    "Too many orders are being saved at this moment, and this one was not saved. "
    "Send it again in a second."
)


class Busy(Exception):
    """The order was not saved because the database was busy; the same request may succeed."""

    def __init__(self) -> None:
        super().__init__(BUSY_MESSAGE)


def _sqlstate(exc: BaseException) -> str | None:
    state = getattr(exc.__cause__, "sqlstate", None)
    return state if isinstance(state, str) else None


def _sqlite_busy(exc: BaseException) -> bool:
    """SQLITE_BUSY after the busy timeout (a file's lock), or SQLITE_LOCKED (a shared cache's)."""
    said = str(exc)
    return connection.vendor == "sqlite" and (
        "database is locked" in said or "table is locked" in said
    )


def saving(save: Callable[[], T]) -> T:
    """save()'s result, run again after a serialization failure or deadlock; Busy when the
    database stayed busy. save() must be one whole transaction (not inside another)."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return save()
        except DatabaseError as exc:
            state = _sqlstate(exc)
            if state in RUN_AGAIN and attempt < ATTEMPTS and not connection.in_atomic_block:
                logger.info(
                    "order not saved (SQLSTATE %s); trying again, attempt %d", state, attempt + 1
                )
                continue
            if state in RUN_AGAIN | WAITED or _sqlite_busy(exc):
                logger.warning("order not saved: the database is busy (SQLSTATE %s)", state)
                raise Busy from exc
            raise
    raise AssertionError("unreachable: the last attempt returns or raises")
