"""HTML views: the order list, the add-order form and an order's page."""

from __future__ import annotations

import functools
import uuid
from typing import Any
from urllib.parse import urlencode

from accounts import header
from accounts.permissions import requires
from accounts.roles import ADD_ORDERS, VIEW_ORDERS
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import get_template
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods
from markupsafe import Markup

from .busy import Busy, saving
from .created import create_order
from .forms import OrderFilterForm, OrderForm
from .models import Order
from .pagecache import cached_page
from .pagination import InvalidCursor
from .queries import listing
from .rows import rows


@requires(VIEW_ORDERS)
@require_GET
def order_list(request: HttpRequest) -> HttpResponse:
    # Kept pages hold what everyone with the same actions sees; who is signed in (name, the
    # sign-out form's CSRF token) is written into each answer afresh (accounts/header.py).
    header.keep_account_out(request)
    kept = cached_page(request, f"list.{header.actions(request)}", lambda: _order_list(request))
    return header.personalised(request, kept)


def _order_list(request: HttpRequest) -> HttpResponse:
    try:
        found = listing(request.GET)
    except InvalidCursor as exc:
        return render(request, "orders/bad_page.html", {"reason": str(exc)}, status=400)
    return render(
        request,
        "orders/list.html",
        {
            "page": found.page,
            "filters": found.filters,
            "filter_fields": filter_fields(found.filters),
            "active_filters": found.active_filters,
            "rows": rows(found.page.orders if found.page else []),
            "filter_query": urlencode(found.active_filters),
        },
    )


def filter_fields(filters: OrderFilterForm) -> Markup:
    """The filter form's fields as HTML; a valid form's are the same for the same values.

    Widgets cost a template render each (a sixth of a list request), and almost every request
    shows the same empty or valid filters: those are rendered once. A form with errors renders
    afresh, and nothing but these two code prefixes is ever a cache key.
    """
    if filters.errors:
        return _render_fields(filters)
    values = tuple((field.name, field.value()) for field in filters)
    return _valid_fields(values, filters.prefix, filters.auto_id)


@functools.lru_cache(maxsize=256)
def _valid_fields(values: tuple[tuple[str, Any], ...], prefix: str | None, auto_id: Any) -> Markup:
    return _render_fields(
        OrderFilterForm(dict(values), prefix=prefix, auto_id=auto_id),
    )


def _render_fields(filters: OrderFilterForm) -> Markup:
    field_html = get_template("orders/field.html")
    # Safe: Jinja2 rendered (and escaped) it with autoescape on.
    return Markup("".join(field_html.render({"field": field}) for field in filters))  # noqa: S704  # nosec B704


@requires(ADD_ORDERS)
@sensitive_post_parameters("card_number")
@require_http_methods(["GET", "POST"])
def order_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = OrderForm(request.POST)
        if form.is_valid():
            try:
                order = saving(lambda: create_order(request, form, channel="form"))
            except Busy as exc:
                form.add_error(None, str(exc))
                return render(request, "orders/form.html", {"form": form}, status=503)
            messages.success(
                request,
                format_html(
                    'Order created: <a href="{}">{} x {} for {}</a>, paid with {}.',
                    reverse("order-detail", args=[order.id]),
                    order.quantity,
                    order.product_code,
                    order.user_id,
                    order.masked_card,
                ),
            )
            return redirect("order-list")
        status = 400
    else:
        form = OrderForm()
        status = 200
    return render(request, "orders/form.html", {"form": form}, status=status)


@requires(VIEW_ORDERS)
@require_GET
def order_detail(request: HttpRequest, order_id: uuid.UUID) -> HttpResponse:
    order = get_object_or_404(Order, pk=order_id)
    return render(request, "orders/detail.html", {"order": order})
