"""Orders as the list and the API show them, with ids, times and dates made text by the database.

A page of 25 rows holds 100 ids, times and dates. Read as Python objects, each was parsed (SQLite
keeps them as text; Django's converters and psycopg's time zone loader are Python), only to be
formatted back into text for the page: a fifth of a list request's CPU on SQLite, a seventh on
PostgreSQL (bench/request_cpu.py). The database writes the text in one fixed form instead, the
same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any, NamedTuple

from django.db import NotSupportedError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import CharField, F, Func, QuerySet
from django.db.models.sql.compiler import SQLCompiler

from .models import Order

# (vendor, field type) -> SQL making the column's text. Fixed forms: ids 8-4-4-4-12 in
# lowercase hex; times in UTC as "YYYY-MM-DD HH:MM:SS.ffffff"; dates as "YYYY-MM-DD".
# SQLite stores exactly these, but for ids (Django writes 32 hex digits) and a zero fraction of
# a second (left out). PostgreSQL writes dates so in the ISO DateStyle, which psycopg already
# needs (its timestamptz loader refuses any other); its cast would trim a time's fraction, so
# times go through to_char, which costs it ~0.4 µs a value more than a cast.
_TEXT_SQL = {
    ("sqlite", "UUIDField"): (
        "substr({c}, 1, 8) || '-' || substr({c}, 9, 4) || '-' || substr({c}, 13, 4)"
        " || '-' || substr({c}, 17, 4) || '-' || substr({c}, 21)"
    ),
    ("sqlite", "DateTimeField"): (
        "CASE WHEN length({c}) = 19 THEN {c} || '.000000' ELSE CAST({c} AS TEXT) END"
    ),
    # The cast drops the column's declared type, which would have the driver parse it.
    ("sqlite", "DateField"): "CAST({c} AS TEXT)",
    ("postgresql", "UUIDField"): "CAST({c} AS text)",
    ("postgresql", "DateTimeField"): "to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')",
    ("postgresql", "DateField"): "CAST({c} AS text)",
}


class AsText(Func):
    """A UUID, date or time column as the text of its fixed form (see _TEXT_SQL)."""

    output_field = CharField()

    def __init__(self, column: str) -> None:
        super().__init__(F(column))
        self.column_type = Order._meta.get_field(column).get_internal_type()

    def as_sql(
        self,
        compiler: SQLCompiler,
        connection: BaseDatabaseWrapper,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> tuple[str, tuple[str | int, ...]]:
        text_sql = _TEXT_SQL.get((connection.vendor, self.column_type))
        if text_sql is None:
            raise NotSupportedError(
                f"orders cannot show a {self.column_type} as text on {connection.vendor}"
            )
        column, params = compiler.compile(self.source_expressions[0])
        if params:  # a plain column has none; a repeated placeholder would misplace them
            raise NotSupportedError("AsText takes a plain column")
        return f"({text_sql.format(c=column)})", ()


class ShownOrder(NamedTuple):
    """An order as shown: everything but the card fingerprint, ids, times and dates as text.

    The fields are in the page query's column order: plain columns, then the AsText ones.
    """

    user_id: str
    store_code: str
    product_code: str
    quantity: int
    card_brand: str
    card_last4: str
    # Who created it, as named then; "" for orders from before sign-in.
    created_by_name: str
    id: str
    # UTC, "YYYY-MM-DD HH:MM:SS.ffffff".
    created_at: str
    order_date: str
    shipping_date: str
    delivery_date: str | None

    @classmethod
    def of(cls, order: Order) -> ShownOrder:
        """A saved order (the API's detail and create answers) in the same form."""
        created = order.created_at.astimezone(datetime.UTC).replace(tzinfo=None)
        return cls(
            user_id=order.user_id,
            store_code=order.store_code,
            product_code=order.product_code,
            quantity=order.quantity,
            card_brand=order.card_brand,
            card_last4=order.card_last4,
            created_by_name=order.created_by_name,
            id=str(order.id),
            created_at=created.isoformat(" ", "microseconds"),
            order_date=order.order_date.isoformat(),
            shipping_date=order.shipping_date.isoformat(),
            delivery_date=order.delivery_date.isoformat() if order.delivery_date else None,
        )

    @property
    def created_minute(self) -> str:
        """ "YYYY-MM-DD HH:MM" in UTC, the site's only time zone."""
        return self.created_at[:16]

    @property
    def created_iso(self) -> str:
        """ISO 8601 with the UTC offset, as datetime.isoformat() writes it."""
        day, time = self.created_at[:10], self.created_at[11:]
        # isoformat() leaves out a zero fraction of a second.
        return f"{day}T{time[:8] if time.endswith('.000000') else time}+00:00"

    def key(self) -> tuple[datetime.datetime, uuid.UUID]:
        """The (created_at, id) the list is ordered by, typed: what a page cursor holds."""
        created = datetime.datetime.fromisoformat(self.created_at).replace(tzinfo=datetime.UTC)
        return created, uuid.UUID(self.id)


_PLAIN = ShownOrder._fields[: ShownOrder._fields.index("id")]
_TEXT_ALIASES = {f"{name}_text": name for name in ShownOrder._fields[len(_PLAIN) :]}
# What a shown queryset selects, in order: values_list() puts plain columns before
# annotations, so listed in that order the rows come back in ShownOrder's order.
SHOWN_COLUMNS = (*_PLAIN, *_TEXT_ALIASES)


def shown(queryset: QuerySet[Order]) -> QuerySet[Order, Any]:
    """The queryset's orders as rows of SHOWN_COLUMNS, which fetch() makes ShownOrders of."""
    texts = {alias: AsText(column) for alias, column in _TEXT_ALIASES.items()}
    return queryset.annotate(**texts).values_list(*SHOWN_COLUMNS)
