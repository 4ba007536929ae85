"""The JSON API: the same rules as the form, answered as JSON, and never a 500 for bad input."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from accounts.permissions import requires
from accounts.roles import ADD_ORDERS, VIEW_ORDERS
from django import forms
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables

from .busy import RETRY_AFTER_SECONDS, Busy, saving
from .created import create_order
from .forms import OrderForm
from .links import order_link, order_links, url
from .models import Order
from .pagecache import cached_page
from .pagination import InvalidCursor
from .queries import listing
from .shown import ShownOrder

# The API accepts exactly the form's fields, judged by the form's own field types.
ORDER_FIELDS = OrderForm.base_fields
ALLOWED_FIELDS = frozenset(ORDER_FIELDS)
# Python refuses to convert longer digit strings (sys.int_info.default_max_str_digits).
MAX_INT_DIGITS = sys.get_int_max_str_digits() or 4300


class HugeNumber:
    """A JSON number with more digits than Python converts; the field it sits in is refused."""

    def __init__(self, digits: int) -> None:
        self.digits = digits


class DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _parse_int(text: str) -> int | HugeNumber:
    digits = len(text.lstrip("-"))
    return HugeNumber(digits) if digits > MAX_INT_DIGITS else int(text)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DuplicateKey(key)
        result[key] = value
    return result


def parse_json(body: bytes) -> Any:
    """json.loads that refuses duplicated keys and never raises on a very long number."""
    return json.loads(body, parse_int=_parse_int, object_pairs_hook=_unique_keys)


def error(status: int, message: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


def serialise(
    order: ShownOrder, link: Callable[[uuid.UUID | str], str] | None = None
) -> dict[str, Any]:
    """An order as the API shows it (a saved one through ShownOrder.of).

    `link` makes its URL; a list passes order_links' so the route is looked up once per page.
    """
    return {
        "id": order.id,
        "user_id": order.user_id,
        "store_code": order.store_code,
        "product_code": order.product_code,
        "quantity": order.quantity,
        "order_date": order.order_date,
        "shipping_date": order.shipping_date,
        "delivery_date": order.delivery_date,
        "card": {"brand": order.card_brand, "last4": order.card_last4},
        "created_at": order.created_iso,
        "created_by": order.created_by_name or None,
        "url": (link or order_url)(order.id),
    }


def order_url(order_id: uuid.UUID | str) -> str:
    return order_link("api-order-detail", order_id)


def type_errors(payload: dict[str, Any]) -> dict[str, list[str]]:
    """JSON types the form cannot judge: it would read 5 and "5" alike, or str(None) as text."""
    errors: dict[str, list[str]] = {}
    for name, value in payload.items():
        field = ORDER_FIELDS[name]
        if isinstance(value, HugeNumber):
            errors[name] = [f"This number has {value.digits:,} digits; no order field takes that."]
        elif isinstance(field, forms.IntegerField):
            if isinstance(value, bool) or not isinstance(value, int):
                errors[name] = ["Must be a whole number."]
        elif value is None and not field.required:
            continue
        elif not isinstance(value, str):
            errors[name] = ["Must be a string." if field.required else "Must be a string or null."]
    return errors


@requires(ADD_ORDERS)
@sensitive_variables("body", "payload", "form")
def post_order(request: HttpRequest) -> JsonResponse:
    if request.content_type != "application/json":
        return error(415, "Send the order as JSON with Content-Type: application/json.")
    try:
        body = request.body
    except RequestDataTooBig:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return error(413, f"The request body is larger than {limit} bytes.")
    try:
        payload = parse_json(body)
    except DuplicateKey as exc:
        # Only the order's own field names are echoed: any other key could hold anything.
        named = f'"{exc.key}"' if exc.key in ALLOWED_FIELDS else "a key"
        return error(400, f"The request body names {named} twice; send each field once.")
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
        allowed = ", ".join(sorted(ALLOWED_FIELDS))
        return error(400, f"{len(unknown)} unknown field(s); allowed fields: {allowed}.")
    if errors := type_errors(payload):
        return error(400, "Some fields have the wrong type.", errors=errors)
    form = OrderForm(data={k: "" if v is None else v for k, v in payload.items()})
    if not form.is_valid():
        field_errors = {field: [str(m) for m in msgs] for field, msgs in form.errors.items()}
        return error(400, "The order is not valid.", errors=field_errors)
    return save_order(request, form)


@sensitive_variables("form")
def save_order(request: HttpRequest, form: OrderForm) -> JsonResponse:
    """201 with the order, or 503 with Retry-After when the database stayed busy."""
    try:
        order = saving(lambda: create_order(request, form, channel="api"))
    except Busy as exc:
        busy = error(503, str(exc), retryable=True)
        busy["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return busy
    response = JsonResponse(serialise(ShownOrder.of(order)), status=201)
    response["Location"] = order_url(order.id)
    return response


@requires(VIEW_ORDERS)
def list_orders(request: HttpRequest) -> HttpResponse:
    return cached_page(request, "api", lambda: _list_orders(request))


def _list_orders(request: HttpRequest) -> JsonResponse:
    try:
        found = listing(request.GET, with_total=False)
    except InvalidCursor as exc:
        return error(400, f"The cursor is not valid: {exc}. Start again without it.")
    if found.page is None:
        errors = found.filters.errors.items()
        field_errors = {field: [str(m) for m in msgs] for field, msgs in errors}
        return error(400, "The filters are not valid.", errors=field_errors)
    page = found.page
    detail = order_links("api-order-detail")

    def link(direction: str, cursor: str | None) -> str | None:
        if cursor is None:
            return None
        return f"{url('api-orders')}?{urlencode(found.active_filters | {direction: cursor})}"

    return JsonResponse(
        {
            "results": [serialise(order, detail) for order in page.orders],
            "next": link("after", page.next_cursor),
            "previous": link("before", page.previous_cursor),
        }
    )


def method_not_allowed(allowed: str) -> JsonResponse:
    response = error(405, f"Method not allowed; use {allowed}.")
    response["Allow"] = allowed
    return response


# Only a bearer token signs an API call in (accounts/middleware.py), never the session cookie,
# so CSRF protects nothing here; requiring application/json keeps browsers from posting to it
# cross-site without a CORS preflight.
@csrf_exempt
def orders(request: HttpRequest) -> HttpResponse:
    handlers: dict[str, Callable[[HttpRequest], HttpResponse]] = {
        "GET": list_orders,
        "HEAD": list_orders,
        "POST": post_order,
    }
    handler = handlers.get(request.method or "")
    if handler is None:
        return method_not_allowed("GET, POST")
    return handler(request)


@requires(VIEW_ORDERS)
def order_detail(request: HttpRequest, order_id: uuid.UUID) -> HttpResponse:
    if request.method not in {"GET", "HEAD"}:
        return method_not_allowed("GET")
    order = Order.objects.filter(pk=order_id).first()
    if order is None:
        return error(404, "No order with this id.")
    return JsonResponse(serialise(ShownOrder.of(order)))


@csrf_exempt
def not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Any other /api/ path, or an order id that is not a UUID: JSON, like the rest of the API."""
    return error(404, "No such API path; the API serves /api/orders and /api/orders/<uuid>.")
