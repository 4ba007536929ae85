from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from orders.models import Order
from orders.tests.factories import REQUIRED_ORDER_FIELDS

pytestmark = pytest.mark.django_db


def post(client: Client, payload: Any, **extra: Any) -> Any:
    body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    return client.post("/api/orders", body, content_type="application/json", **extra)


def test_create_returns_201_without_the_card_number(
    client: Client, valid_order: dict[str, Any]
) -> None:
    response = post(client, valid_order)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["card"] == {"brand": "Visa", "last4": "4242"}
    assert body["store_code"] == "ST-001"
    assert response["Location"] == f"/api/orders/{body['id']}"
    assert "4242424242424242" not in response.content.decode().replace(" ", "")
    assert client.get(body["url"]).json()["id"] == body["id"]


def test_same_rules_as_the_form(client: Client, valid_order: dict[str, Any]) -> None:
    response = post(client, {**valid_order, "quantity": 10_001, "shipping_date": "2000-01-01"})
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors["quantity"] == ["Ensure this value is less than or equal to 10000."]
    assert errors["shipping_date"] == ["The shipping date cannot be before the order date."]
    assert Order.objects.count() == 0


def test_missing_fields_are_named(client: Client) -> None:
    errors = post(client, {}).json()["errors"]
    assert set(errors) == set(REQUIRED_ORDER_FIELDS)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("quantity", "3"),
        ("quantity", 2.5),
        ("quantity", True),
        ("user_id", 42),
        ("order_date", 20260101),
        ("card_number", 4242424242424242),
        ("delivery_date", []),
        ("store_code", None),
    ],
)
def test_wrong_types_are_400(
    client: Client, valid_order: dict[str, Any], field: str, value: Any
) -> None:
    response = post(client, {**valid_order, field: value})
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_null_delivery_date_is_allowed(client: Client, valid_order: dict[str, Any]) -> None:
    assert post(client, {**valid_order, "delivery_date": None}).status_code == 201


@pytest.mark.parametrize("body", ["{", "[1, 2]", '"text"', "null", "\x00", "[" * 5000 + "]" * 5000])
def test_malformed_json_is_400(client: Client, body: str) -> None:
    response = post(client, body)
    assert response.status_code == 400
    assert response.json()["error"]


def test_invalid_utf8_is_400(client: Client) -> None:
    response = post(client, b"\xff\xfe{")
    assert response.status_code == 400


def test_unknown_fields_are_refused_without_echoing_them(
    client: Client, valid_order: dict[str, Any]
) -> None:
    response = post(client, {**valid_order, "4111111111111111": "x"})
    assert response.status_code == 400
    assert "4111111111111111" not in response.content.decode()


def test_oversized_body_is_413(client: Client, valid_order: dict[str, Any]) -> None:
    response = post(client, {**valid_order, "user_id": "u" * 70_000})
    assert response.status_code == 413
    assert "larger than 65536 bytes" in response.json()["error"]


def test_wrong_content_type_is_415(client: Client, valid_order: dict[str, Any]) -> None:
    response = client.post("/api/orders", valid_order)
    assert response.status_code == 415


def test_methods(client: Client, order_factory: Any) -> None:
    assert client.delete("/api/orders").status_code == 405
    order = order_factory()
    assert client.put(f"/api/orders/{order.id}").status_code == 405
    missing = client.get("/api/orders/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert missing.json() == {"error": "No order with this id."}


def test_list_pages_with_cursor_links(client: Client, order_factory: Any) -> None:
    order_factory.create_batch(27, user_id="alice")
    order_factory.create_batch(3, user_id="bob")
    first = client.get("/api/orders", {"user_id": "alice"}).json()
    assert len(first["results"]) == 25
    assert first["previous"] is None
    assert "user_id=alice" in first["next"]
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 2
    assert second["next"] is None
    back = client.get(second["previous"]).json()
    assert [o["id"] for o in back["results"]] == [o["id"] for o in first["results"]]


def test_list_bad_filter_and_bad_cursor_are_400(client: Client) -> None:
    assert client.get("/api/orders", {"store_code": "!"}).status_code == 400
    assert client.get("/api/orders", {"after": "x"}).status_code == 400
    assert client.get("/api/orders", {"after": "x", "before": "y"}).status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/api",
        "/api/",
        "/api/nothing-here",
        "/api/orders/not-a-uuid",
        "/api/orders/00000000-0000-4000-8000-00000000000",
        "/api/orders/",
    ],
)
def test_every_api_path_answers_json(client: Client, path: str) -> None:
    for response in (client.get(path), client.post(path, "{}", content_type="application/json")):
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert "/api/orders" in response.json()["error"]


def test_405_names_the_allowed_methods(client: Client, order_factory: Any) -> None:
    response = client.patch("/api/orders")
    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"
    assert response.json()["error"]


def test_a_number_too_long_for_python_is_a_400_naming_the_field(
    client: Client, valid_order: dict[str, Any]
) -> None:
    body = json.dumps(valid_order).replace('"quantity": 3', '"quantity": ' + "9" * 5000)
    response = post(client, body)
    assert response.status_code == 400
    assert response.json()["errors"]["quantity"] == [
        "This number has 5,000 digits; no order field takes that."
    ]


def test_a_duplicated_key_is_a_400_naming_it(client: Client, valid_order: dict[str, Any]) -> None:
    body = json.dumps(valid_order)[:-1] + ', "quantity": 4}'
    response = post(client, body)
    assert response.status_code == 400
    assert '"quantity" twice' in response.json()["error"]
    assert Order.objects.count() == 0


def test_a_duplicated_unknown_key_is_not_echoed(client: Client) -> None:
    response = post(client, '{"4111111111111111": 1, "4111111111111111": 2}')
    assert response.status_code == 400
    assert "4111111111111111" not in response.content.decode()
