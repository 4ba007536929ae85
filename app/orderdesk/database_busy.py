"""Which database errors mean "busy right now" rather than "broken": shared by every writer."""

from __future__ import annotations

from django.db import DatabaseError, connection

# SQLSTATEs: serialization_failure, deadlock_detected: the transaction may run again at once.
RUN_AGAIN = frozenset({"40001", "40P01"})
# lock_not_available (lock_timeout), query_canceled (statement_timeout): waited enough.
WAITED = frozenset({"55P03", "57014"})


def sqlstate(exc: BaseException) -> str | None:
    state = getattr(exc.__cause__, "sqlstate", None)
    return state if isinstance(state, str) else None


def _sqlite_busy(exc: BaseException) -> bool:
    """SQLITE_BUSY: another connection kept the write lock past the busy timeout."""
    return connection.vendor == "sqlite" and "database is locked" in str(exc)


def is_busy(exc: DatabaseError) -> bool:
    """True when another writer kept this one out; the same statement may succeed later."""
    return sqlstate(exc) in RUN_AGAIN | WAITED or _sqlite_busy(exc)
