"""Refusals cost little: an over-long value is refused for its length before any card scan,
and a file part is refused by the parser before anything reads the body."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from orders import cards
from orders.forms import OrderForm
from orders.models import Order

pytestmark = pytest.mark.django_db

# Ones: no 12-19 digit window of them passes Luhn, so a scan finds nothing early and checks
# every window (the worst case).
SIXTY_FOUR_KB = "1" * 64 * 1024
# A short value the scanner must look through: 16 digits that fail Luhn's check.
SHORT_BAD = "4111 1111 1111 1112"
FIELDS = list(OrderForm.base_fields)


@pytest.fixture
def luhn_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every Luhn check the card scanner and the card field run, by the digits checked."""
    calls: list[str] = []
    real = cards.luhn_valid

    def counted(digits: str) -> bool:
        calls.append(digits)
        return real(digits)

    monkeypatch.setattr(cards, "luhn_valid", counted)
    return calls


def scans_to_refuse(valid_order: dict[str, Any], field: str, value: str, calls: list[str]) -> int:
    """Luhn checks made to judge the form with `value` in `field` and to show it again."""
    calls.clear()
    form = OrderForm({**valid_order, field: value})
    assert not form.is_valid()
    assert field in form.errors, form.errors
    rendered = "".join(str(bound) for bound in form)
    assert value not in rendered, "an over-long or card-like value was echoed back"
    return len(calls)


@pytest.mark.parametrize("field", FIELDS)
def test_a_64kb_digit_string_costs_no_more_than_a_short_bad_value(
    valid_order: dict[str, Any], field: str, luhn_calls: list[str]
) -> None:
    short = scans_to_refuse(valid_order, field, SHORT_BAD, luhn_calls)
    huge = scans_to_refuse(valid_order, field, SIXTY_FOUR_KB, luhn_calls)
    assert huge <= short, f"{field}: {huge} Luhn checks for 64 KB against {short} for a short value"


@pytest.mark.parametrize("field", FIELDS)
def test_the_form_and_the_api_refuse_a_long_digit_string_cheaply(
    client: Client, valid_order: dict[str, Any], field: str, luhn_calls: list[str]
) -> None:
    """Over HTTP, as long as the body limit (64 KB) lets a field be."""
    long_digits = "1" * 60_000
    for send in (
        lambda value: client.post("/orders/new", {**valid_order, field: value}),
        lambda value: client.post(
            "/api/orders", {**valid_order, field: value}, content_type="application/json"
        ),
    ):
        luhn_calls.clear()
        assert send(SHORT_BAD).status_code == 400
        short = len(luhn_calls)
        luhn_calls.clear()
        response = send(long_digits)
        assert response.status_code == 400
        assert long_digits not in response.content.decode()
        assert len(luhn_calls) <= short, (field, len(luhn_calls), short)


def test_a_too_long_code_is_refused_for_its_length_not_as_a_card(
    valid_order: dict[str, Any],
) -> None:
    form = OrderForm({**valid_order, "store_code": SIXTY_FOUR_KB})
    assert not form.is_valid()
    assert form.errors["store_code"] == [
        f"Ensure this value has at most 16 characters (it has {len(SIXTY_FOUR_KB)})."
    ]


MULTIPART = "multipart/form-data; boundary=odboundary"


def multipart_with_a_file(fields: dict[str, Any]) -> bytes:
    parts = [
        f'--odboundary\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    parts.append(
        '--odboundary\r\nContent-Disposition: form-data; name="upload"; filename="a.txt"\r\n'
        "Content-Type: text/plain\r\n\r\nfile content\r\n--odboundary--\r\n"
    )
    return "".join(parts).encode()


def test_a_file_part_is_refused_by_the_parser_on_the_form(
    client: Client, valid_order: dict[str, Any]
) -> None:
    response = client.post(
        "/orders/new", multipart_with_a_file(valid_order), content_type=MULTIPART
    )
    # With file parts allowed, these valid fields would have made an order (302).
    assert response.status_code == 400
    assert "Bad request" in response.content.decode()
    assert not Order.objects.exists()


def test_a_file_part_is_refused_on_the_api(client: Client, valid_order: dict[str, Any]) -> None:
    """The API takes JSON only: a multipart body is refused before it is read at all."""
    response = client.post(
        "/api/orders", multipart_with_a_file(valid_order), content_type=MULTIPART
    )
    assert response.status_code == 415
    assert response.json() == {
        "error": "Send the order as JSON with Content-Type: application/json."
    }
    assert not Order.objects.exists()
