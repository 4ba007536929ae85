"""The list's rows as finished HTML, one pre-escaped string per row: the list page's hot loop.

Jinja2 costs an escape() call and an attribute lookup per printed value: 25 rows of ~14 values
made the template the biggest part of a list request (bench/throughput.py). Here each row is
one f-string; only the values a user typed (user, store and product codes) and the card brand
are escaped, once. Everything else is made by us and holds no HTML-special character: UUIDs,
ISO dates, integers, and query values through urllib's quote (which escapes & < > " ').
"""

from __future__ import annotations

import datetime
import functools
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from markupsafe import Markup, escape

from .links import order_links, url
from .models import masked_card


def rows(orders: list[Any]) -> Markup:
    """The <tr> elements of a page, as one string (orders, or named tuples of
    queries.SHOWN_COLUMNS); empty, and so false, for no orders."""
    if not orders:
        return Markup()
    listing = url("order-list")
    detail = order_links("order-detail")
    # Safe: each row escapes what it interpolates (_row).
    return Markup("".join([_row(order, listing, detail) for order in orders]))  # noqa: S704  # nosec B704


def _row(order: Any, listing: str, detail: Callable[[uuid.UUID | str], str]) -> str:
    # The id's text once: the link, the label and the short id (its first 8 hex digits) share it.
    text_id = str(order.id)
    card = escape(masked_card(order.card_brand, order.card_last4))
    return (
        "<tr>"
        f'<td><a href="{detail(text_id)}" aria-label="Order {text_id}">'
        f"<code>{text_id[:8]}</code></a></td>"
        f"<td>{_minute(order.created_at)}</td>"
        f"{_filter_cell(listing, 'user_id', order.user_id)}"
        f"{_filter_cell(listing, 'store_code', order.store_code)}"
        f"<td>{escape(order.product_code)}</td>"
        f'<td class="num">{int(order.quantity)}</td>'
        f"<td>{order.order_date.isoformat()}</td>"
        f"<td>{order.shipping_date.isoformat()}</td>"
        f"<td>{card}</td>"
        "</tr>\n"
    )


@functools.lru_cache(maxsize=4096)
def _filter_cell(listing: str, column: str, value: str) -> str:
    """A cell linking to the list filtered by its value; users and stores recur on every page."""
    return f'<td><a href="{listing}?{column}={quote(value)}">{escape(value)}</a></td>'


def _minute(moment: datetime.datetime) -> str:
    # Stored in UTC (USE_TZ) and shown in UTC, the site's only time zone; isoformat is the
    # cheapest way to "YYYY-MM-DD HH:MM".
    return moment.astimezone(datetime.UTC).isoformat(" ", "minutes")[:16]
