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


def listing(params: Mapping[str, str], *, with_total: bool = True) -> Listing:
    """One page of the filtered list; no page when the filters are invalid.

    with_total=False skips counting (the API does not show a total, and it costs a query).

    Raises InvalidCursor for a page link that was tampered with or has gone stale.
    """
    filters = OrderFilterForm(params)
    if not filters.is_valid():
        return Listing(filters, None)
    queryset = filtered_orders(filters)
    shape = tuple(sorted(active_filters(filters).items()))
    page = paginate(
        queryset,
        size=settings.ORDERS_PAGE_SIZE,
        after=params.get("after"),
        before=params.get("before"),
        last=params.get("page") == "last",
        total=count(queryset, filtered=bool(shape)) if with_total else None,
        # The filters make the SQL: each distinct filter's query is compiled once.
        shape=shape,
    )
    return Listing(filters, page)
