"""HTML views: the order list, the add-order form and an order's page."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods

from .forms import OrderFilterForm, OrderForm
from .metrics import ORDERS_CREATED
from .models import Order
from .pagination import InvalidCursor, paginate
from .queries import filtered_orders


@require_GET
def order_list(request: HttpRequest) -> HttpResponse:
    filters = OrderFilterForm(request.GET)
    queryset = filtered_orders(filters)
    try:
        page = paginate(
            queryset,
            size=settings.ORDERS_PAGE_SIZE,
            after=request.GET.get("after"),
            before=request.GET.get("before"),
        )
    except InvalidCursor as exc:
        return render(request, "orders/bad_page.html", {"reason": str(exc)}, status=400)
    active_filters = {k: v for k, v in (filters.cleaned_data or {}).items() if v}
    return render(
        request,
        "orders/list.html",
        {"page": page, "filters": filters, "active_filters": active_filters},
    )


@sensitive_post_parameters("card_number")
@require_http_methods(["GET", "POST"])
def order_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = OrderForm(request.POST)
        if form.is_valid():
            order = form.save()
            ORDERS_CREATED.labels(channel="form").inc()
            messages.success(
                request,
                f"Order created: {order.quantity} x {order.product_code} for {order.user_id}, "
                f"paid with {order.masked_card}.",
            )
            return redirect("order-list")
        status = 400
    else:
        form = OrderForm()
        status = 200
    return render(request, "orders/form.html", {"form": form}, status=status)


@require_GET
def order_detail(request: HttpRequest, order_id: uuid.UUID) -> HttpResponse:
    order = get_object_or_404(Order, pk=order_id)
    return render(request, "orders/detail.html", {"order": order})
