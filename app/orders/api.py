"""The JSON API: the same rules as the form, answered as JSON, and never a 500 for bad input."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables

from .forms import OrderFilterForm, OrderForm
from .metrics import ORDERS_CREATED
from .models import Order
from .pagination import InvalidCursor, paginate
from .queries import filtered_orders

TEXT_FIELDS = ("user_id", "store_code", "product_code", "card_number")
DATE_FIELDS = ("order_date", "shipping_date")
REQUIRED_FIELDS = (*TEXT_FIELDS, "quantity", *DATE_FIELDS)
ALLOWED_FIELDS = frozenset((*REQUIRED_FIELDS, "delivery_date"))


def error(status: int, message: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


def serialise(order: Order) -> dict[str, Any]:
    return {
        "id": str(order.id),
        "user_id": order.user_id,
        "store_code": order.store_code,
        "product_code": order.product_code,
        "quantity": order.quantity,
        "order_date": order.order_date.isoformat(),
        "shipping_date": order.shipping_date.isoformat(),
        "delivery_date": order.delivery_date.isoformat() if order.delivery_date else None,
        "card": {"brand": order.card_brand, "last4": order.card_last4},
        "created_at": order.created_at.isoformat(),
        "url": reverse("api-order-detail", args=[order.id]),
    }


def type_errors(payload: dict[str, Any]) -> dict[str, list[str]]:
    """JSON types the form cannot judge: it would read 5 and "5" alike, or str(None) as text."""
    errors: dict[str, list[str]] = {}
    for name in TEXT_FIELDS + DATE_FIELDS:
        if name in payload and not isinstance(payload[name], str):
            errors[name] = ["Must be a string."]
    if "delivery_date" in payload and not isinstance(payload["delivery_date"], str | None):
        errors["delivery_date"] = ["Must be a string or null."]
    quantity = payload.get("quantity")
    if "quantity" in payload and (isinstance(quantity, bool) or not isinstance(quantity, int)):
        errors["quantity"] = ["Must be a whole number."]
    return errors


@sensitive_variables("body", "payload", "form")
def create_order(request: HttpRequest) -> JsonResponse:
    if request.content_type != "application/json":
        return error(415, "Send the order as JSON with Content-Type: application/json.")
    try:
        body = request.body
    except RequestDataTooBig:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return error(413, f"The request body is larger than {limit} bytes.")
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
        return error(400, f"The request body is not valid JSON ({reason}).")
    except RecursionError:
        return error(400, "The request body is nested too deeply.")
    if not isinstance(payload, dict):
        return error(400, "The request body must be a JSON object of order fields.")
    unknown = set(payload) - ALLOWED_FIELDS
    if unknown:
        # Field names are not echoed: a client could have put anything there, even a card number.
        return error(
            400,
            f"{len(unknown)} unknown field(s); allowed fields: {', '.join(sorted(ALLOWED_FIELDS))}.",
        )
    if errors := type_errors(payload):
        return error(400, "Some fields have the wrong type.", errors=errors)
    form = OrderForm(data={k: "" if v is None else v for k, v in payload.items()})
    if not form.is_valid():
        field_errors = {field: [str(m) for m in msgs] for field, msgs in form.errors.items()}
        return error(400, "The order is not valid.", errors=field_errors)
    order = form.save()
    ORDERS_CREATED.labels(channel="api").inc()
    response = JsonResponse(serialise(order), status=201)
    response["Location"] = reverse("api-order-detail", args=[order.id])
    return response


def list_orders(request: HttpRequest) -> JsonResponse:
    filters = OrderFilterForm(request.GET)
    if not filters.is_valid():
        field_errors = {field: [str(m) for m in msgs] for field, msgs in filters.errors.items()}
        return error(400, "The filters are not valid.", errors=field_errors)
    try:
        page = paginate(
            filtered_orders(filters),
            size=settings.ORDERS_PAGE_SIZE,
            after=request.GET.get("after"),
            before=request.GET.get("before"),
        )
    except InvalidCursor as exc:
        return error(400, f"The cursor is not valid: {exc}. Start again without it.")

    def link(direction: str, cursor: str | None) -> str | None:
        if cursor is None:
            return None
        query = {k: v for k, v in filters.cleaned_data.items() if v} | {direction: cursor}
        return f"{reverse('api-orders')}?{urlencode(query)}"

    return JsonResponse(
        {
            "results": [serialise(order) for order in page.orders],
            "next": link("after", page.next_cursor),
            "previous": link("before", page.previous_cursor),
        }
    )


def method_not_allowed(allowed: str) -> JsonResponse:
    response = error(405, f"Method not allowed; use {allowed}.")
    response["Allow"] = allowed
    return response


# No cookie or session authenticates API calls, so CSRF protects nothing here; requiring
# application/json keeps browsers from posting to it cross-site without a CORS preflight.
@csrf_exempt
def orders(request: HttpRequest) -> HttpResponse:
    handlers: dict[str, Callable[[HttpRequest], JsonResponse]] = {
        "GET": list_orders,
        "HEAD": list_orders,
        "POST": create_order,
    }
    handler = handlers.get(request.method or "")
    if handler is None:
        return method_not_allowed("GET, POST")
    return handler(request)


def order_detail(request: HttpRequest, order_id: uuid.UUID) -> JsonResponse:
    if request.method not in {"GET", "HEAD"}:
        return method_not_allowed("GET")
    order = Order.objects.filter(pk=order_id).first()
    if order is None:
        return error(404, "No order with this id.")
    return JsonResponse(serialise(order))
