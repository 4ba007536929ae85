"""Keyset (cursor) pagination over (created_at, id), newest first, with an honest total.

Page N costs the same as page 1: each page starts from an index position instead of skipping N*25
rows (OFFSET), the last page is the oldest-first end of the same index, and no request counts
the whole table: a count stops at COUNT_CAP rows, and beyond it the database's own estimate is used.
A list's page query is compiled once (fetch()); each page only swaps in its cursor's values.
"""

from __future__ import annotations

import datetime
import time
import uuid
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, cast

from django.conf import settings
from django.core import signing
from django.db import connection, connections, models
from django.db.models import Q, QuerySet

from .models import Order
from .shown import SHOWN_COLUMNS, ShownOrder

_SALT = "orders.cursor.v1"
Rows = QuerySet[Order, Any]
# Counting more rows than this per request costs more than the page itself.
COUNT_CAP = 10_000


def _signer() -> signing.Signer:
    # "." before the signature, not signing's ":": a link's cursor then needs no escaping, and
    # escaping its ":" cost urllib a call per character, more than signing it. Made per call:
    # a Signer keeps the SECRET_KEY it was made with.
    return signing.Signer(salt=_SALT, sep=".")


class InvalidCursor(ValueError):
    """The cursor was tampered with, truncated or made by another deployment."""


@dataclass(frozen=True)
class Cursor:
    created_at: datetime.datetime
    id: uuid.UUID
    # 1-based place of this order in the newest-first list, when the walk that reached it knows.
    position: int | None = None

    def encode(self) -> str:
        # Signed so a hand-edited cursor is refused rather than producing an odd page.
        fields = [self.created_at.isoformat(), self.id.hex, self.position]
        return _signer().sign_object(fields)

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            try:
                fields = _signer().unsign_object(token)
            except signing.BadSignature:
                # A link made before the "." separator (signing.dumps' ":").
                fields = signing.loads(token, salt=_SALT)
            created_at, order_id, *rest = fields
            position = rest[0] if rest else None
            # Signed, so this app made it: a place below 1 (an earlier version wrote those
            # while orders arrived) is a place it cannot know, not a reason to refuse the link.
            if isinstance(position, bool) or not isinstance(position, int) or position < 1:
                position = None
            return cls(
                datetime.datetime.fromisoformat(created_at), uuid.UUID(hex=order_id), position
            )
        except (signing.BadSignature, ValueError, TypeError) as exc:
            raise InvalidCursor("this page link is invalid or out of date") from exc

    @classmethod
    def of(cls, order: Any, position: int | None = None) -> Cursor:
        """The cursor at an order: a model instance, or a ShownOrder."""
        if isinstance(order, ShownOrder):
            return cls(*order.key(), position)
        return cls(order.created_at, order.id, position)


@dataclass(frozen=True)
class Total:
    """How many orders the list holds: exact, at least `value` (capped), or an estimate."""

    value: int
    kind: str = "exact"  # "exact" | "at least" | "about"

    @property
    def exact(self) -> bool:
        return self.kind == "exact"

    def __str__(self) -> str:
        if self.kind == "at least":
            return f"{self.value:,}+"
        if self.kind == "about":
            return f"about {self.value:,}"
        return f"{self.value:,}"


@dataclass(frozen=True)
class Page:
    orders: list[ShownOrder]
    next_cursor: str | None
    previous_cursor: str | None
    # 1-based place of the first order shown, or None when the walk that led here cannot know.
    start: int | None = None
    total: Total | None = None
    is_last: bool = False

    @property
    def end(self) -> int | None:
        return None if self.start is None else self.start + len(self.orders) - 1

    @property
    def is_first(self) -> bool:
        return self.start == 1

    @property
    def summary(self) -> str:
        """Where the reader is, e.g. "Orders 26-50 of about 1,000,000" (with an en dash)."""
        of_total = f" of {self.total}" if self.total is not None else ""
        if self.start is None:
            return f"{len(self.orders)} orders{of_total}"
        return f"Orders {self.start:,}\N{EN DASH}{self.end:,}{of_total}"


def newest_first_after(queryset: Rows, cursor: Cursor | None) -> Rows:
    """Orders older than the cursor, newest first: the query behind every forward page."""
    newest_first = queryset.order_by("-created_at", "-id")
    if cursor is None:
        return newest_first
    # The redundant upper bound lets the database seek straight to the cursor in the index.
    return newest_first.filter(created_at__lte=cursor.created_at).filter(
        Q(created_at__lt=cursor.created_at) | Q(id__lt=cursor.id)
    )


def oldest_first_before(queryset: Rows, cursor: Cursor | None) -> Rows:
    """Orders newer than the cursor, oldest first: the query behind a backward or last page."""
    oldest_first = queryset.order_by("created_at", "id")
    if cursor is None:
        return oldest_first
    return oldest_first.filter(created_at__gte=cursor.created_at).filter(
        Q(created_at__gt=cursor.created_at) | Q(id__gt=cursor.id)
    )


# Stand-ins for a cursor's values while a page query is compiled; each request puts its own
# values where these land in the parameters. As the database gets them (a time with a space and
# colons, lowercase hex, or typed values) no filter value can equal them: filters are upper-case
# codes without spaces.
_MARK_TIME = datetime.datetime(1901, 2, 3, 4, 5, 6, 789012, tzinfo=datetime.UTC)
_MARK_ID = uuid.UUID("00000000-0000-4000-8000-0000000d0c5e")
# Compiled page queries by database alias and shape; a shape the caller names is compiled once.
_STATEMENTS: dict[Hashable, _Statement] = {}
_STATEMENTS_KEPT = 512


@dataclass(frozen=True)
class _Statement:
    """A page query as SQL, with where the cursor's created_at and id go in its parameters.

    Compiling a QuerySet costs more than running it (a third of a list request on SQLite), and
    every page of the same list has the same SQL: only the cursor's two values change.
    """

    sql: str
    params: tuple[Any, ...]
    time_slots: tuple[int, ...]
    id_slots: tuple[int, ...]

    @classmethod
    def compile(
        cls, queryset: Rows, cursor: Cursor | None, *, newest_first: bool, limit: int
    ) -> _Statement:
        query = queryset.query
        if (*query.values_select, *query.annotation_select) != SHOWN_COLUMNS:
            raise TypeError("paginate() reads the rows of shown(queryset)")
        marked = Cursor(_MARK_TIME, _MARK_ID) if cursor is not None else None
        ordered = newest_first_after if newest_first else oldest_first_before
        compiler = ordered(queryset, marked)[:limit].query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        # Rows are made straight from the driver's values: text and whole numbers only.
        for expression, _, alias in compiler.select[: compiler.col_count]:
            if not isinstance(expression.output_field, models.CharField | models.IntegerField):
                raise TypeError(f"the shown column {alias} is typed; select it as text")
        db = connections[queryset.db]
        time_mark = _field_value("created_at", _MARK_TIME, db)
        id_mark = _field_value("id", _MARK_ID, db)
        time_slots = tuple(i for i, p in enumerate(params) if p == time_mark)
        id_slots = tuple(i for i, p in enumerate(params) if p == id_mark)
        if marked is not None and (len(time_slots), len(id_slots)) != (2, 1):
            raise RuntimeError(f"the cursor's values were not found in the query: {sql}")
        return cls(sql=sql, params=tuple(params), time_slots=time_slots, id_slots=id_slots)

    def run(self, db_alias: str, cursor: Cursor | None) -> list[ShownOrder]:
        db = connections[db_alias]
        params = list(self.params)
        if cursor is not None:
            created_at = _field_value("created_at", cursor.created_at, db)
            order_id = _field_value("id", cursor.id, db)
            for slot in self.time_slots:
                params[slot] = created_at
            for slot in self.id_slots:
                params[slot] = order_id
        with db.cursor() as db_cursor:
            db_cursor.execute(self.sql, params)
            return list(map(ShownOrder._make, db_cursor.fetchall()))


def _field_value(name: str, value: Any, db: Any) -> Any:
    """The value as the ORM passes it to the database for a lookup on that column."""
    field = cast("models.Field[Any, Any]", Order._meta.get_field(name))
    return field.get_db_prep_value(value, db)


def fetch(
    queryset: Rows,
    cursor: Cursor | None,
    *,
    newest_first: bool,
    limit: int,
    shape: Hashable | None = None,
) -> list[ShownOrder]:
    """Up to `limit` rows of shown(queryset) beyond the cursor, in page order.

    `shape` names what, beyond its model and columns, makes the queryset's SQL (its filters and
    their values): the same shape is compiled once and reused; without one the query is
    compiled every time.
    """
    key = (queryset.db, queryset.model, shape, newest_first, cursor is None, limit)
    cached = _STATEMENTS.get(key) if shape is not None else None
    if cached is not None:
        return cached.run(queryset.db, cursor)
    statement = _Statement.compile(queryset, cursor, newest_first=newest_first, limit=limit)
    if shape is not None:
        if len(_STATEMENTS) >= _STATEMENTS_KEPT:
            _STATEMENTS.clear()
        _STATEMENTS[key] = statement
    return statement.run(queryset.db, cursor)


def estimated_table_rows() -> int | None:
    """The database's own cheap idea of the table's size, or None when it has none.

    PostgreSQL: the planner's estimate (reltuples scaled to the table's current size, as the
    planner does). SQLite: the span of rowids — the app never deletes orders, so it is exact
    until someone does, and each deletion makes it over-count by one row.
    """
    table = Order._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT CASE WHEN c.reltuples < 0 THEN NULL WHEN c.relpages = 0 THEN 0"
                " ELSE c.reltuples / c.relpages"
                " * (pg_relation_size(c.oid) / current_setting('block_size')::int) END::bigint"
                " FROM pg_class c WHERE c.oid = %s::regclass",
                [table],
            )
        elif connection.vendor == "sqlite":
            # Two subqueries: SQLite answers a lone max(rowid) or min(rowid) from the b-tree's
            # ends, but scans the whole table for both in one SELECT.
            # nosec B608 below: the table name is the model's own, never user input.
            ends = f'(SELECT max(rowid) FROM "{table}") - (SELECT min(rowid) FROM "{table}")'  # noqa: S608  # nosec B608
            cursor.execute(f"SELECT {ends} + 1")
        else:
            return None
        row = cursor.fetchone()
    return None if row is None or row[0] is None else int(row[0])


# Database alias -> (monotonic time it was read, estimate above COUNT_CAP).
_ESTIMATES: dict[str, tuple[float, int]] = {}


def recent_estimate() -> int | None:
    """estimated_table_rows(), reused for settings.ORDERS_ESTIMATE_SECONDS once it is above
    COUNT_CAP: a figure shown as "about" then changes by a few orders a second, while asking
    cost a third of a list request's database work on PostgreSQL (bench/throughput.py). Below
    the cap the list counts exactly, so it asks every time."""
    seconds = settings.ORDERS_ESTIMATE_SECONDS
    kept = _ESTIMATES.get(connection.alias)
    now = time.monotonic()
    if kept is not None and now - kept[0] < seconds:
        return kept[1]
    estimate = estimated_table_rows()
    if estimate is not None and estimate > COUNT_CAP and seconds > 0:
        _ESTIMATES[connection.alias] = (now, estimate)
    return estimate


def count(queryset: QuerySet[Order], *, filtered: bool) -> Total:
    """Exact when that is cheap; otherwise "10,000+" for a filter, or the table's estimate."""
    if not filtered:
        estimate = recent_estimate()
        if estimate is not None and estimate > COUNT_CAP:
            return Total(estimate, "about")
    counted = queryset.order_by()[: COUNT_CAP + 1].count()
    if counted > COUNT_CAP:
        return Total(COUNT_CAP, "at least")
    return Total(counted)


def paginate(
    queryset: Rows,
    *,
    size: int,
    after: str | None = None,
    before: str | None = None,
    last: bool = False,
    total: Total | None = None,
    shape: Hashable | None = None,
) -> Page:
    """A page of shown(queryset); `shape` as in fetch()."""
    if sum(map(bool, (after, before, last))) > 1:
        raise InvalidCursor("a page link can only go one way: after, before or last")
    if before or last:
        cursor = Cursor.decode(before) if before else None
        rows = fetch(queryset, cursor, newest_first=False, limit=size + 1, shape=shape)
        has_more_newer = len(rows) > size
        orders = list(reversed(rows[:size]))
        if cursor is not None and cursor.position is not None:
            start: int | None = cursor.position - len(orders)
        elif last and total is not None and total.exact:
            start = total.value - len(orders) + 1
        else:
            start = None
        if not has_more_newer:
            start = 1
        elif start is not None and start <= 1:
            # Newer orders exist, so this page cannot start at 1: orders arrived since the
            # cursor's place was counted. Its place is unknown (the page says so).
            start = None
        return _page(orders, start, has_newer=has_more_newer, has_older=not last, total=total)
    cursor = Cursor.decode(after) if after else None
    rows = fetch(queryset, cursor, newest_first=True, limit=size + 1, shape=shape)
    start = 1 if cursor is None else (cursor.position + 1 if cursor.position else None)
    return _page(rows[:size], start, has_newer=bool(after), has_older=len(rows) > size, total=total)


def _page(
    orders: list[Any], start: int | None, *, has_newer: bool, has_older: bool, total: Total | None
) -> Page:
    end = None if start is None else start + len(orders) - 1
    return Page(
        orders=orders,
        next_cursor=Cursor.of(orders[-1], end).encode() if orders and has_older else None,
        previous_cursor=Cursor.of(orders[0], start).encode() if orders and has_newer else None,
        start=start,
        total=total,
        is_last=not has_older,
    )
