"""The list's rows as finished HTML, one pre-escaped string per row: the list page's hot loop.

Jinja2 costs an escape() call and an attribute lookup per printed value: 25 rows of ~14 values
made the template the biggest part of a list request (bench/throughput.py). Here each row is
one f-string; only the values a user typed (user, store and product codes) and the card brand
are escaped, once. Everything else is made by us and holds no HTML-special character: the
database's text of ids, times and dates (orders.shown), integers, and query values through
urllib's quote (which escapes & < > " ').
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from urllib.parse import quote

from markupsafe import Markup, escape

from .links import order_links, url
from .models import masked_card
from .shown import ShownOrder


def rows(orders: list[ShownOrder]) -> Markup:
    """The <tr> elements of a page, as one string; empty, and so false, for no orders."""
    if not orders:
        return Markup()
    listing = url("order-list")
    detail = order_links("order-detail")
    # Safe: each row escapes what it interpolates (_row).
    return Markup("".join([_row(order, listing, detail) for order in orders]))  # noqa: S704  # nosec B704


def _row(order: ShownOrder, listing: str, detail: Callable[[uuid.UUID | str], str]) -> str:
    # The link, the label and the short id (the first 8 hex digits) share the id's text.
    return (
        "<tr>"
        f'<td><a href="{detail(order.id)}" aria-label="Order {order.id}">'
        f"<code>{order.id[:8]}</code></a></td>"
        f"<td>{order.created_minute}</td>"
        f"{_filter_cell(listing, 'user_id', order.user_id)}"
        f"{_filter_cell(listing, 'store_code', order.store_code)}"
        f"<td>{escape(order.product_code)}</td>"
        f'<td class="num">{int(order.quantity)}</td>'
        f"<td>{order.order_date}</td>"
        f"<td>{order.shipping_date}</td>"
        f"<td>{_card(order.card_brand, order.card_last4)}</td>"
        "</tr>\n"
    )


@functools.lru_cache(maxsize=4096)
def _filter_cell(listing: str, column: str, value: str) -> str:
    """A cell linking to the list filtered by its value; users and stores recur on every page."""
    return f'<td><a href="{listing}?{column}={quote(value)}">{escape(value)}</a></td>'


@functools.lru_cache(maxsize=4096)
def _card(brand: str, last4: str) -> str:
    """A masked card; a page's cards come from a few brands and 10,000 endings."""
    return str(escape(masked_card(brand, last4)))
