"""List pages kept per worker for as long as the orders stay the same, never longer.

Many list requests ask for a page that was made moments ago: page 1 of the unfiltered list above
all, which everyone opening the desk sees. Making one costs 2-3x a trivial view; reading it back
costs one query for the orders' change token and a dictionary lookup. Database triggers draw a
fresh random token with every change to orders (migrations 0003 and 0005), in the changing
transaction, so a token names one state of the data: a kept page is served only under the
token it was made under, a new order shows on the next request from any worker, and a restored
backup can never bring back a token that later pages were kept under.

The same query asks whether the triggers are there and fire. Where they are not (a restore
without them, a backup from before 0005, triggers disabled or a replica session role) the
cache stands aside: pages are made afresh, the worker logs it once, and /readyz says why.
A bounded TIMEOUT on the cache (settings CACHES["pages"]) is the last guard.

Bypassed inside a transaction (a counter read there may be the transaction's own, not yet
committed), for a response carrying one-off messages, and when ORDERS_PAGE_CACHE_ENTRIES is 0.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.messages import get_messages
from django.core.cache import caches
from django.core.signals import setting_changed
from django.db import DatabaseError, connection
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from .queries import page_inputs

logger = logging.getLogger(__name__)

CACHE_ALIAS = "pages"
# The token with the triggers' state, in one statement: a kept page costs one query.
# PostgreSQL: a trigger fires for this session when enabled always ('A'), or for the session
# role it is enabled for ('O' origin/local, 'R' replica); 'D' is disabled.
COUNTER_READ_POSTGRESQL = (
    "SELECT c.token, (SELECT CASE"
    " WHEN t.tgenabled = 'A' THEN 'on' WHEN t.tgenabled = 'D' THEN 'disabled'"
    " WHEN (t.tgenabled = 'R') = (current_setting('session_replication_role') = 'replica')"
    " THEN 'on' ELSE 'not firing for session_replication_role '"
    " || current_setting('session_replication_role') END"
    " FROM pg_trigger t WHERE t.tgrelid = to_regclass('orders_order')"
    " AND t.tgname = 'orders_changes_count') FROM orders_changes c"
)
# SQLite cannot disable a trigger: all three there means on.
COUNTER_READ_SQLITE = (
    "SELECT token, (SELECT CASE count(*) WHEN 3 THEN 'on' END FROM sqlite_master"
    " WHERE type = 'trigger' AND tbl_name = 'orders_order' AND name IN"
    " ('orders_changes_insert', 'orders_changes_update', 'orders_changes_delete'))"
    " FROM orders_changes"
)


@dataclass(frozen=True)
class Counter:
    """The change token, or why there is none to trust."""

    token: str | None
    problem: str | None = None


def read_counter() -> Counter:
    """The orders' change token, if the triggers that draw it are in place and firing."""
    postgresql = connection.vendor == "postgresql"
    try:
        with connection.cursor() as cursor:
            cursor.execute(COUNTER_READ_POSTGRESQL if postgresql else COUNTER_READ_SQLITE)
            row = cursor.fetchone()
    except DatabaseError as exc:
        # A table or column missing: a backup from before migration 0003 or 0005.
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return Counter(
            None, f"the change counter cannot be read ({type(exc).__name__}: {first_line})"
        )
    if row is None:
        return Counter(None, "the change counter's row is missing")
    token, triggers = row
    if triggers is None:
        return Counter(None, "the change counter's triggers are missing")
    if triggers != "on":
        return Counter(None, f"the change counter's trigger is {triggers}")
    if not token:
        return Counter(None, "the change counter has no token")
    return Counter(str(token))


# Problems this process has logged: each is logged once, not once a request.
_LOGGED: set[str] = set()


def _stand_aside(problem: str) -> None:
    if problem not in _LOGGED:
        _LOGGED.add(problem)
        logger.warning(
            "list page cache stands aside: %s; every list page is made afresh until it is "
            "fixed (run `manage.py migrate`, or restore with triggers enabled)",
            problem,
        )


def state() -> dict[str, Any]:
    """What /readyz shows of the cache: on, or off and why."""
    if settings.ORDERS_PAGE_CACHE_ENTRIES == 0:
        return {"state": "off", "reason": "ORDERS_PAGE_CACHE_ENTRIES is 0"}
    counter = read_counter()
    if counter.problem is not None:
        _stand_aside(counter.problem)
        return {"state": "standing aside", "reason": counter.problem}
    return {"state": "on"}


def page_key(kind: str, inputs: tuple[tuple[str, str], ...], token: str) -> str:
    # Encoded, so that no value can pass for another parameter's.
    digest = hashlib.blake2b(urlencode(inputs).encode(), digest_size=16).hexdigest()
    return f"{kind}.{token}.{digest}"


def cached_page(request: HttpRequest, kind: str, make: Callable[[], HttpResponse]) -> HttpResponse:
    """make()'s response, or its body kept from an earlier request while orders are unchanged.

    Only a 200 is kept: an error page costs little and says something about this request.
    Pages are keyed by what the list makes of the request (orders.queries.page_inputs), so a
    request that only differs in a value the list ignores shares the page, and invalid filters
    are never kept.
    """
    if (
        settings.ORDERS_PAGE_CACHE_ENTRIES == 0
        or connection.in_atomic_block
        or get_messages(request)
    ):
        return make()
    inputs = page_inputs(request.GET)
    if inputs is None:
        return make()
    counter = read_counter()
    if counter.token is None:
        _stand_aside(counter.problem or "the change counter has no token")
        return make()
    key = page_key(kind, inputs, counter.token)
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
