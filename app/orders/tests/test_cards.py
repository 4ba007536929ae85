from __future__ import annotations

import pytest

from orders.cards import (
    CardError,
    check_card,
    contains_card_number,
    detect_brand,
    fingerprint,
    luhn_valid,
    normalise,
    redact_card_numbers,
)


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("4242424242424242", True),
        ("4242424242424241", False),
        ("79927398713", True),
        ("0", True),
        ("", False),
        ("12a4", False),
    ],
)
def test_luhn(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4242424242424242", "Visa"),
        ("4222222222222", "Visa"),
        ("5555555555554444", "Mastercard"),
        ("2223003122003222", "Mastercard"),
        ("2720999999999996", "Mastercard"),
        ("378282246310005", "American Express"),
        ("6011111111111117", "Discover"),
        ("3530111333300000", "JCB"),
        ("30569309025904", "Diners Club"),
        ("6200000000000005", "UnionPay"),
        ("501800000009", "Maestro"),
        ("2721000000000004", None),  # just past Mastercard's 2-series
        ("2220990000000000", None),  # just before it
        ("9999999999999995", None),
    ],
)
def test_brand_detection(number: str, brand: str | None) -> None:
    assert detect_brand(number) == brand


def test_normalise_accepts_spaces_and_dashes() -> None:
    assert normalise(" 4242-4242 4242-4242 ") == "4242424242424242"


@pytest.mark.parametrize("digits", [12, 19])
def test_length_bounds_accepted(digits: int) -> None:
    assert len(normalise("5" * digits)) == digits


@pytest.mark.parametrize("digits", [11, 20])
def test_length_bounds_refused(digits: int) -> None:
    with pytest.raises(CardError, match="12 to 19 digits"):
        normalise("5" * digits)


# Full-width digits are digits to str.isdigit(), but not to us.
@pytest.mark.parametrize("raw", ["4242 4242 4242 424x", "4242.4242.4242.4242", "４２４２"])  # noqa: RUF001
def test_other_characters_refused(raw: str) -> None:
    with pytest.raises(CardError, match="only digits, spaces and dashes"):
        normalise(raw)


def test_check_card_keeps_only_brand_last4_and_fingerprint() -> None:
    card = check_card("4242 4242 4242 4242", "key")
    assert (card.brand, card.last4) == ("Visa", "4242")
    assert "4242424242424242" not in repr(card)
    assert card.masked() == "Visa •••• 4242"


def test_check_card_refuses_luhn_failures_and_unknown_brands() -> None:
    with pytest.raises(CardError, match="not valid"):
        check_card("4242424242424241", "key")
    with pytest.raises(CardError, match="brand is not accepted"):
        check_card("9999999999999995", "key")


def test_errors_never_quote_the_number() -> None:
    for raw in ("4242424242424241", "9999999999999995", "42424242424242424242"):
        with pytest.raises(CardError) as caught:
            check_card(raw, "key")
        assert raw not in str(caught.value)


def test_fingerprint_is_keyed_and_stable() -> None:
    assert fingerprint("4242424242424242", "a") == fingerprint("4242424242424242", "a")
    assert fingerprint("4242424242424242", "a") != fingerprint("4242424242424242", "b")
    assert fingerprint("4242424242424242", "a") != fingerprint("5555555555554444", "a")


def test_card_numbers_in_text_are_found_and_redacted() -> None:
    text = "paid with 4242-4242-4242-4242 for order 12345678901"
    assert contains_card_number(text)
    assert redact_card_numbers(text) == "paid with [REDACTED-PAN] for order 12345678901"
    assert not contains_card_number("order 12345678901 and 1234-5678-901")


def test_a_card_number_hidden_in_a_longer_run_is_found() -> None:
    assert contains_card_number("ref 9994242424242424242999")
    assert redact_card_numbers("ref 9994242424242424242999") == "ref [REDACTED-PAN]"


def test_a_digit_run_with_no_luhn_valid_window_is_kept() -> None:
    # 12 ones sum to 18 under Luhn: not valid, and there is no other 12-19 window.
    assert not contains_card_number("111111111111")
