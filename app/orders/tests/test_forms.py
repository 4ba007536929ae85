"""Every rule of the order form at its boundaries. The API shares OrderForm (see test_api)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from orders.forms import OrderForm
from orders.tests.factories import REQUIRED_ORDER_FIELDS

pytestmark = pytest.mark.django_db


def errors_for(data: dict[str, Any]) -> dict[str, list[str]]:
    form = OrderForm(data)
    form.is_valid()
    return {field: [str(m) for m in messages] for field, messages in form.errors.items()}


def with_change(valid: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**valid, **changes}


def test_valid_order_passes(valid_order: dict[str, Any]) -> None:
    assert errors_for(valid_order) == {}


@pytest.mark.parametrize("field", REQUIRED_ORDER_FIELDS)
def test_required_fields(valid_order: dict[str, Any], field: str) -> None:
    assert errors_for(with_change(valid_order, **{field: ""}))[field] == ["This field is required."]


def test_delivery_date_is_optional(valid_order: dict[str, Any]) -> None:
    assert errors_for(with_change(valid_order, delivery_date="")) == {}


@pytest.mark.parametrize(
    ("quantity", "ok"), [(0, False), (1, True), (10_000, True), (10_001, False), (-1, False)]
)
def test_quantity_bounds(valid_order: dict[str, Any], quantity: int, ok: bool) -> None:
    assert ("quantity" not in errors_for(with_change(valid_order, quantity=quantity))) is ok


@pytest.mark.parametrize("quantity", ["1.5", "abc", "1e3", " "])
def test_quantity_must_be_a_whole_number(valid_order: dict[str, Any], quantity: str) -> None:
    assert "quantity" in errors_for(with_change(valid_order, quantity=quantity))


def test_order_date_today_is_allowed_tomorrow_is_not(
    valid_order: dict[str, Any], today: datetime.date
) -> None:
    tomorrow = today + datetime.timedelta(days=1)
    ok = with_change(
        valid_order, order_date=today.isoformat(), shipping_date=today.isoformat(), delivery_date=""
    )
    assert errors_for(ok) == {}
    future = with_change(ok, order_date=tomorrow.isoformat(), shipping_date=tomorrow.isoformat())
    assert errors_for(future)["order_date"] == ["The order date cannot be in the future."]


@pytest.mark.parametrize(("order_date", "ok"), [("2000-01-01", True), ("1999-12-31", False)])
def test_order_date_earliest(valid_order: dict[str, Any], order_date: str, ok: bool) -> None:
    data = with_change(valid_order, order_date=order_date, shipping_date="2000-01-02")
    assert ("order_date" not in errors_for(data)) is ok


@pytest.mark.parametrize("raw", ["2024-02-30", "2025-13-01", "2025-04-31"])
def test_an_impossible_date_is_not_a_real_date(valid_order: dict[str, Any], raw: str) -> None:
    assert errors_for(with_change(valid_order, order_date=raw))["order_date"] == [
        f"{raw} is not a real date: check the day and the month."
    ]


def test_order_date_picker_offers_no_future_day(today: datetime.date) -> None:
    html = str(OrderForm()["order_date"])
    assert f'max="{today.isoformat()}"' in html
    assert 'min="2000-01-01"' in html


@pytest.mark.parametrize("raw", ["21/11/2026", "yesterday", "2026-1-1x"])
def test_dates_must_be_iso(valid_order: dict[str, Any], raw: str) -> None:
    assert errors_for(with_change(valid_order, order_date=raw))["order_date"] == [
        "Enter a date as YYYY-MM-DD."
    ]


def test_shipping_on_order_day_ok_day_before_not(
    valid_order: dict[str, Any], today: datetime.date
) -> None:
    order_day = today - datetime.timedelta(days=5)
    same_day = with_change(
        valid_order,
        order_date=order_day.isoformat(),
        shipping_date=order_day.isoformat(),
        delivery_date="",
    )
    assert errors_for(same_day) == {}
    before = with_change(
        same_day, shipping_date=(order_day - datetime.timedelta(days=1)).isoformat()
    )
    assert errors_for(before) == {
        "shipping_date": ["The shipping date cannot be before the order date."]
    }


def test_delivery_on_shipping_day_ok_day_before_not(
    valid_order: dict[str, Any], today: datetime.date
) -> None:
    ship_day = today - datetime.timedelta(days=1)
    same_day = with_change(
        valid_order, shipping_date=ship_day.isoformat(), delivery_date=ship_day.isoformat()
    )
    assert errors_for(same_day) == {}
    before = with_change(
        same_day, delivery_date=(ship_day - datetime.timedelta(days=1)).isoformat()
    )
    assert errors_for(before) == {
        "delivery_date": ["The delivery date cannot be before the shipping date."]
    }


@pytest.mark.parametrize(
    ("card", "message"),
    [
        ("4242 4242 4242 4241", "This card number is not valid: check for a typing mistake."),
        ("42424242424", "A card number has 12 to 19 digits."),
        ("4" * 20, "A card number has 12 to 19 digits."),
        ("4242 4242 4242 424a", "Use only digits, spaces and dashes in the card number."),
        ("9999 9999 9999 9995", "This card brand is not accepted."),
    ],
)
def test_card_rules(valid_order: dict[str, Any], card: str, message: str) -> None:
    assert errors_for(with_change(valid_order, card_number=card))["card_number"] == [message]


@pytest.mark.parametrize(
    "card", ["501800000009", "6759649826438453", "4242-4242-4242-4242", "4000000000000000006"]
)
def test_card_lengths_12_to_19_accepted(valid_order: dict[str, Any], card: str) -> None:
    form = OrderForm(with_change(valid_order, card_number=card))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["card_number"].last4 == card[-4:]


def test_codes_are_trimmed_and_upper_cased(valid_order: dict[str, Any]) -> None:
    form = OrderForm(with_change(valid_order, store_code="  st-9 ", product_code=" ab.c_1 "))
    assert form.is_valid(), form.errors
    assert (form.cleaned_data["store_code"], form.cleaned_data["product_code"]) == (
        "ST-9",
        "AB.C_1",
    )


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("store_code", "S", False),
        ("store_code", "SS", True),
        ("store_code", "S" * 16, True),
        ("store_code", "S" * 17, False),
        ("store_code", "ST 1", False),
        ("store_code", "-ST", False),
        ("product_code", "P" * 32, True),
        ("product_code", "P" * 33, False),
        ("product_code", "SKU/1", False),
        ("user_id", "u" * 64, True),
        ("user_id", "u" * 65, False),
        ("user_id", "user<script>", False),
        ("user_id", "alice@example.com", True),
    ],
)
def test_code_length_and_characters(
    valid_order: dict[str, Any], field: str, value: str, ok: bool
) -> None:
    assert (field not in errors_for(with_change(valid_order, **{field: value}))) is ok


@pytest.mark.parametrize("field", ["user_id", "store_code", "product_code"])
def test_card_numbers_in_other_fields_are_refused(valid_order: dict[str, Any], field: str) -> None:
    errors = errors_for(with_change(valid_order, **{field: "4242424242424242"}))
    assert errors[field] == [
        "This looks like a card number: enter card numbers only in the card field."
    ]
