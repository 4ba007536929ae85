"""The list's rows with every value formatted once, in Python: the list page's hot loop.

Django's template engine costs microseconds per variable and per filter; formatting 25 rows of
dates and reversing 25 URLs there took most of a list request (see bench/throughput.py).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from urllib.parse import urlencode

from django.urls import reverse

from .models import Order


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


def rows(orders: list[Order]) -> list[Row]:
    if not orders:
        return []
    placeholder = "00000000-0000-0000-0000-000000000000"
    detail = reverse("order-detail", args=[placeholder])
    listing = reverse("order-list")
    return [
        Row(
            id=str(order.id),
            short_id=order.id.hex[:8],
            url=detail.replace(placeholder, str(order.id)),
            created=_minute(order.created_at),
            user_id=order.user_id,
            user_url=f"{listing}?{urlencode({'user_id': order.user_id})}",
            store_code=order.store_code,
            store_url=f"{listing}?{urlencode({'store_code': order.store_code})}",
            product_code=order.product_code,
            quantity=order.quantity,
            ordered=order.order_date.isoformat(),
            ships=order.shipping_date.isoformat(),
            card=order.masked_card,
        )
        for order in orders
    ]


def _minute(moment: datetime.datetime) -> str:
    # Stored in UTC (USE_TZ) and shown in UTC, the site's only time zone.
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M")
