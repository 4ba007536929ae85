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

from orderdesk.database_busy import RUN_AGAIN, is_busy, sqlstate

logger = logging.getLogger(__name__)

T = TypeVar("T")

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


def saving(save: Callable[[], T]) -> T:
    """save()'s result, run again after a serialization failure or deadlock; Busy when the
    database stayed busy. save() must be one whole transaction (not inside another)."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return save()
        except DatabaseError as exc:
            state = sqlstate(exc)
            if state in RUN_AGAIN and attempt < ATTEMPTS and not connection.in_atomic_block:
                logger.info(
                    "order not saved (SQLSTATE %s); trying again, attempt %d", state, attempt + 1
                )
                continue
            if is_busy(exc):
                logger.warning("order not saved: the database is busy (SQLSTATE %s)", state)
                raise Busy from exc
            raise
    raise AssertionError("unreachable: the last attempt returns or raises")
