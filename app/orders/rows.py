"""The list's rows with every value formatted once, in Python: the list page's hot loop.

Django's template engine costs microseconds per variable and per filter; formatting 25 rows of
dates and reversing 25 URLs there took most of a list request (see bench/throughput.py).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from django.urls import reverse

from .links import order_link
from .models import masked_card


@dataclass(frozen=True)
class Row:
    id: str
    short_id: str
    url: str
    created: str
    user_id: str
    user_url: str
    store_code: str
    store_url: str
    product_code: str
    quantity: int
    ordered: str
    ships: str
    card: str


def rows(orders: list[Any]) -> list[Row]:
    """Rows of a page (orders, or named tuples of queries.SHOWN_COLUMNS), ready to print."""
    if not orders:
        return []
    listing = reverse("order-list")
    return [
        Row(
            id=str(order.id),
            short_id=order.id.hex[:8],
            url=order_link("order-detail", order.id),
            created=_minute(order.created_at),
            user_id=order.user_id,
            user_url=f"{listing}?user_id={quote(order.user_id)}",
            store_code=order.store_code,
            store_url=f"{listing}?store_code={quote(order.store_code)}",
            product_code=order.product_code,
            quantity=order.quantity,
            ordered=order.order_date.isoformat(),
            ships=order.shipping_date.isoformat(),
            card=masked_card(order.card_brand, order.card_last4),
        )
        for order in orders
    ]


def _minute(moment: datetime.datetime) -> str:
    # Stored in UTC (USE_TZ) and shown in UTC, the site's only time zone; isoformat is the
    # cheapest way to "YYYY-MM-DD HH:MM".
    return moment.astimezone(datetime.UTC).isoformat(" ", "minutes")[:16]
