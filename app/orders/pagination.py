"""Keyset (cursor) pagination over (created_at, id), newest first.

Page N costs the same as page 1: each page starts from an index position instead of skipping N*25
rows (OFFSET), and no request counts the whole table.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Literal

from django.core import signing
from django.db.models import Q, QuerySet

from .models import Order

Direction = Literal["after", "before"]
_SALT = "orders.cursor.v1"


class InvalidCursor(ValueError):
    """The cursor was tampered with, truncated or made by another deployment."""


@dataclass(frozen=True)
class Cursor:
    created_at: datetime.datetime
    id: uuid.UUID

    def encode(self) -> str:
        # Signed so a hand-edited cursor is refused rather than producing an odd page.
        return signing.dumps([self.created_at.isoformat(), self.id.hex], salt=_SALT, compress=True)

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            created_at, order_id = signing.loads(token, salt=_SALT)
            return cls(datetime.datetime.fromisoformat(created_at), uuid.UUID(hex=order_id))
        except (signing.BadSignature, ValueError, TypeError) as exc:
            raise InvalidCursor("this page link is invalid or out of date") from exc

    @classmethod
    def of(cls, order: Order) -> Cursor:
        return cls(order.created_at, order.id)


@dataclass(frozen=True)
class Page:
    orders: list[Order]
    next_cursor: str | None
    previous_cursor: str | None


def paginate(
    queryset: QuerySet[Order], *, size: int, after: str | None = None, before: str | None = None
) -> Page:
    if after and before:
        raise InvalidCursor("a page link cannot go both forwards and backwards")
    if before:
        cursor = Cursor.decode(before)
        newer = (
            queryset.filter(created_at__gte=cursor.created_at)
            .filter(Q(created_at__gt=cursor.created_at) | Q(id__gt=cursor.id))
            .order_by("created_at", "id")
        )
        rows = list(newer[: size + 1])
        has_more_newer = len(rows) > size
        orders = list(reversed(rows[:size]))
        return Page(
            orders=orders,
            next_cursor=Cursor.of(orders[-1]).encode() if orders else None,
            previous_cursor=Cursor.of(orders[0]).encode() if has_more_newer else None,
        )
    newest_first = queryset.order_by("-created_at", "-id")
    if after:
        cursor = Cursor.decode(after)
        # The redundant upper bound lets the database seek straight to the cursor in the index.
        newest_first = newest_first.filter(created_at__lte=cursor.created_at).filter(
            Q(created_at__lt=cursor.created_at) | Q(id__lt=cursor.id)
        )
    rows = list(newest_first[: size + 1])
    orders = rows[:size]
    return Page(
        orders=orders,
        next_cursor=Cursor.of(orders[-1]).encode() if len(rows) > size else None,
        previous_cursor=Cursor.of(orders[0]).encode() if after and orders else None,
    )
