"""Filtering and paging, once: the HTML list and the JSON API both read a page through listing()."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.db.models.functions import Upper

from .forms import OrderFilterForm
from .models import Order
from .pagination import Page, count, paginate
from .shown import shown

# Filters match a prefix of these columns in any case, through an index on UPPER(column)
# (migration 0002: text_pattern_ops on PostgreSQL, a plain expression index on SQLite).
PREFIX_FILTERS = ("user_id", "store_code")


def starting_with(queryset: QuerySet[Order], column: str, prefix: str) -> QuerySet[Order]:
    """Rows whose column starts with prefix, ignoring case, through the UPPER(column) index."""
    key = f"{column}_upper"
    queryset = queryset.alias(**{key: Upper(column)})
    prefix = prefix.upper()
    if connection.vendor == "postgresql":
        # LIKE 'P%' on text_pattern_ops: byte order, whatever the database's collation.
        return queryset.filter(**{f"{key}__startswith": prefix})
    # SQLite uses an index for LIKE only on plain columns: a range on the expression instead.
    # The filter alphabet is ASCII, so the next prefix is the last character plus one.
    upper_bound = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return queryset.filter(**{f"{key}__gte": prefix, f"{key}__lt": upper_bound})


# Built once: values_list() resolves eleven names, which costs more than cloning this.
_SHOWN_ROWS = shown(Order.objects.all())


def shown_rows() -> QuerySet[Order, Any]:
    """Every order as a row of SHOWN_COLUMNS, the rows paginate() reads."""
    return _SHOWN_ROWS.all()


def filtered_orders(filters: OrderFilterForm) -> QuerySet[Order, Any]:
    """Rows of SHOWN_COLUMNS matching valid filters; an invalid filter matches nothing
    rather than everything."""
    if not filters.is_valid():
        return _SHOWN_ROWS.none()
    queryset = shown_rows()
    for column in PREFIX_FILTERS:
        if value := filters.cleaned_data.get(column):
            queryset = starting_with(queryset, column, value)
    return queryset


def active_filters(filters: OrderFilterForm) -> dict[str, Any]:
    """The filters given a value (a validated form's)."""
    return {k: v for k, v in (filters.cleaned_data or {}).items() if v}


@dataclass(frozen=True)
class Listing:
    filters: OrderFilterForm
    page: Page | None

    @property
    def active_filters(self) -> dict[str, Any]:
        return active_filters(self.filters)


# The one value of `page` the list reads; any other is the same as none.
LAST_PAGE = "last"


def page_inputs(params: Mapping[str, str]) -> tuple[tuple[str, str], ...] | None:
    """What listing() makes a page from, as it reads it: `page` as the list understands it,
    the filters as the filter form cleans them, the cursors as given. Two requests with the
    same inputs get the same page. None for invalid filters (a page of errors, not kept)."""
    filters = {name: params.get(name, "") for name in PREFIX_FILTERS}
    if any(filters.values()):
        form = OrderFilterForm(filters)
        if not form.is_valid():
            return None
        filters = {name: form.cleaned_data.get(name) or "" for name in PREFIX_FILTERS}
    page = LAST_PAGE if params.get("page") == LAST_PAGE else ""
    cursors = [(name, params.get(name, "")) for name in ("after", "before")]
    return (*filters.items(), *cursors, ("page", page))


def listing(params: Mapping[str, str], *, with_total: bool = True) -> Listing:
    """One page of the filtered list; no page when the filters are invalid.

    with_total=False skips counting (the API does not show a total, and it costs a query).
    A page shows the filters as cleaned (trimmed, upper-cased codes), so every request that
    page_inputs() reads alike gets the same page.

    Raises InvalidCursor for a page link that was tampered with or has gone stale.
    """
    filters = OrderFilterForm(params)
    if not filters.is_valid():
        return Listing(filters, None)
    if any(params.get(name) for name in PREFIX_FILTERS):
        filters = OrderFilterForm(active_filters(filters))
        filters.is_valid()
    queryset = filtered_orders(filters)
    shape = tuple(sorted(active_filters(filters).items()))
    page = paginate(
        queryset,
        size=settings.ORDERS_PAGE_SIZE,
        after=params.get("after"),
        before=params.get("before"),
        last=params.get("page") == LAST_PAGE,
        total=count(queryset, filtered=bool(shape)) if with_total else None,
        # The filters make the SQL: each distinct filter's query is compiled once.
        shape=shape,
    )
    return Listing(filters, page)
