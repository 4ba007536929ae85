"""Reversed URLs, cached: the list page reverses ~30 per request, each costing a resolver walk."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse

# An id no order has: a route is reversed once for it, then each order's id replaces it.
_PLACEHOLDER = uuid.UUID(int=0)
_PLACEHOLDER_TEXT = str(_PLACEHOLDER)


def url(name: str, *args: Any) -> str:
    """reverse(name, args=args), remembered per script prefix and URLconf (tests swap both)."""
    return _reversed(get_script_prefix(), get_urlconf() or settings.ROOT_URLCONF, name, args)


@functools.lru_cache(maxsize=256)
def _reversed(prefix: str, urlconf: Any, name: str, args: tuple[Any, ...]) -> str:
    # reverse() reads the same prefix and URLconf as the key: they are this thread's current ones.
    return reverse(name, args=args)


def order_link(route: str, order_id: uuid.UUID | str) -> str:
    """The path of `route` (a URL name taking an order id) for this order."""
    return order_links(route)(order_id)


def order_links(route: str) -> Callable[[uuid.UUID | str], str]:
    """order_link for a page of orders (by id, or its text): the route is looked up once, not
    once per order."""
    head, _, tail = url(route, _PLACEHOLDER).partition(_PLACEHOLDER_TEXT)
    return lambda order_id: f"{head}{order_id}{tail}"
