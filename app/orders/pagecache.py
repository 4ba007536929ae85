"""List pages kept per worker for as long as the orders stay the same, never longer.

Many list requests ask for a page that was made moments ago: page 1 of the unfiltered list above
all, which everyone opening the desk sees. Making one costs 2-3x a trivial view; reading it back
costs one query for the orders' change counter (migration 0003, kept by the database itself)
and a dictionary lookup. A kept page is served only while the counter still stands where it
stood when the page was read, so a new order shows on the next request, from any worker.

Bypassed inside a transaction (a counter read there may be the transaction's own, not yet
committed), for a response carrying one-off messages, and when ORDERS_PAGE_CACHE_ENTRIES is 0.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.messages import get_messages
from django.core.cache import caches
from django.core.signals import setting_changed
from django.db import connection
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

CACHE_ALIAS = "pages"
# The request parameters a list page is made from (orders.queries.listing); any other
# parameter changes nothing on the page, so it cannot make the same page twice.
PAGE_PARAMETERS = ("user_id", "store_code", "after", "before", "page")


def orders_version() -> str | None:
    """This database's generation and change count; None where the counter is missing."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT generation, version FROM orders_changes")
        row = cursor.fetchone()
    return f"{row[0]}.{row[1]}" if row else None


def page_key(kind: str, params: Mapping[str, str], version: str) -> str:
    # Encoded, so that no value can pass for another parameter's.
    made_from = urlencode([(name, params.get(name, "")) for name in PAGE_PARAMETERS])
    digest = hashlib.blake2b(made_from.encode(), digest_size=16).hexdigest()
    return f"{kind}.{version}.{digest}"


def cached_page(request: HttpRequest, kind: str, make: Callable[[], HttpResponse]) -> HttpResponse:
    """make()'s response, or its body kept from an earlier request while orders are unchanged.

    Only a 200 is kept: an error page costs little and says something about this request.
    """
    if (
        settings.ORDERS_PAGE_CACHE_ENTRIES == 0
        or connection.in_atomic_block
        or get_messages(request)
    ):
        return make()
    version = orders_version()
    if version is None:
        return make()
    key = page_key(kind, request.GET, version)
    pages = caches[CACHE_ALIAS]
    kept: tuple[str, bytes] | None = pages.get(key)
    if kept is not None:
        content_type, body = kept
        return HttpResponse(body, content_type=content_type)
    response = make()
    if response.status_code == 200:
        pages.set(key, (response["Content-Type"], response.content))
    return response


@receiver(setting_changed)
def _forget_pages(*, setting: str, **_: Any) -> None:
    """A test that changes settings (the page size, say) must not be served pages made before."""
    if setting.startswith("ORDERS_"):
        caches[CACHE_ALIAS].clear()
