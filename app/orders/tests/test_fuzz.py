"""Hypothesis fuzzing of the form and the API.

Two properties, whatever is sent: the app never answers 500, and no Luhn-valid 12-19 digit string
that was submitted (in any field) reaches the database, a page, an API response or a log record.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orders.cards import luhn_valid
from orders.tests.factories import ORDER_FIELDS

pytestmark = pytest.mark.django_db

FIELDS = list(ORDER_FIELDS)
FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    """Luhn-valid 12-19 digit numbers, optionally typed with spaces or dashes."""
    length = draw(st.integers(12, 19))
    body = draw(st.text("0123456789", min_size=length - 1, max_size=length - 1))
    check = next(d for d in "0123456789" if luhn_valid(body + d))
    digits = body + check
    separator = draw(st.sampled_from(["", " ", "-"]))
    if separator:
        return separator.join(digits[i : i + 4] for i in range(0, len(digits), 4))
    return digits


def plausible(today: datetime.date) -> st.SearchStrategy[Any]:
    dates = st.dates(datetime.date(1990, 1, 1), today + datetime.timedelta(days=30))
    return st.one_of(
        card_numbers(),
        st.text(max_size=40),
        st.text("0123456789 -", max_size=25),
        dates.map(datetime.date.isoformat),
        st.integers(-(10**20), 10**20),
        st.floats(allow_nan=False),
        st.none(),
        st.booleans(),
        st.lists(st.integers(), max_size=3),
        st.sampled_from(["ST-1", "SKU-9", "user-1", "4242 4242 4242 4242"]),
    )


def payloads() -> st.SearchStrategy[dict[str, Any]]:
    today = datetime.date.today()
    return st.dictionaries(st.sampled_from(FIELDS), plausible(today), max_size=len(FIELDS))


def submitted_card_numbers(payload: Any) -> set[str]:
    """Every Luhn-valid 12-19 digit run anywhere in what was sent, as bare digits."""
    found: set[str] = set()
    text = json.dumps(payload, default=str)
    for match in re.finditer(r"\d(?:[ -]?\d){11,}", text):
        digits = re.sub(r"\D", "", match.group())
        for start in range(len(digits) - 11):
            for end in range(start + 12, min(len(digits), start + 19) + 1):
                if luhn_valid(digits[start:end]):
                    found.add(digits[start:end])
    return found


def database_text() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM orders_order")
        return json.dumps(cursor.fetchall(), default=str)


def leaked(numbers: set[str], *texts: str) -> set[str]:
    flattened = [re.sub(r"[ -]", "", text) for text in texts]
    return {n for n in numbers if any(n in text for text in flattened)}


def log_text(records: list[logging.LogRecord]) -> str:
    return "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {json.dumps(vars(r), default=str)}" for r in records
    )


@FUZZ
@given(payload=payloads())
def test_api_never_500s_and_never_leaks_a_card_number(
    client: Client, caplog: pytest.LogCaptureFixture, payload: dict[str, Any]
) -> None:
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    response = client.post(
        "/api/orders", json.dumps(payload, default=str), content_type="application/json"
    )
    assert response.status_code in {201, 400}, response.content
    numbers = submitted_card_numbers(payload)
    listing = client.get("/api/orders").content.decode()
    assert not leaked(
        numbers, response.content.decode(), listing, database_text(), log_text(caplog.records)
    )


@FUZZ
@given(payload=payloads())
def test_form_never_500s_and_never_leaks_a_card_number(
    client: Client, caplog: pytest.LogCaptureFixture, payload: dict[str, Any]
) -> None:
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    form_data = {k: "" if v is None else str(v) for k, v in payload.items()}
    response = client.post("/orders/new", form_data)
    assert response.status_code in {302, 400}, response.content
    numbers = submitted_card_numbers(form_data)
    page = client.get("/").content.decode()
    assert not leaked(
        numbers, response.content.decode(), page, database_text(), log_text(caplog.records)
    )


@FUZZ
@given(
    query=st.dictionaries(
        st.sampled_from(["user_id", "store_code", "after", "before", "page"]),
        st.text(max_size=60),
        max_size=4,
    )
)
def test_list_never_500s(client: Client, query: dict[str, str]) -> None:
    assert client.get("/", query).status_code in {200, 400}
    assert client.get("/api/orders", query).status_code in {200, 400}


def raw_bodies() -> st.SearchStrategy[bytes]:
    """What a client can really send: bytes, broken JSON, JSON of any shape, near-valid orders."""
    today = datetime.date.today()
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=12), children, max_size=4)
        ),
        max_leaves=12,
    )
    orders_as_text = payloads().map(lambda p: json.dumps(p, default=str))
    return st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300).map(str.encode),
        json_values.map(lambda v: json.dumps(v).encode()),
        orders_as_text.map(str.encode),
        # Edits of a near-valid order: cut short, a number grown huge, a key repeated.
        st.tuples(orders_as_text, st.integers(0, 400)).map(lambda t: t[0][: t[1]].encode()),
        st.integers(1, 6000).map(lambda n: ('{"quantity": ' + "7" * n + "}").encode()),
        st.sampled_from(FIELDS).map(lambda f: f'{{"{f}": 1, "{f}": 2}}'.encode()),
        plausible(today).map(lambda v: json.dumps(v, default=str).encode()),
    )


@FUZZ
@given(body=raw_bodies(), content_type=st.sampled_from(["application/json", "text/plain"]))
def test_api_never_5xx_on_a_raw_body(client: Client, body: bytes, content_type: str) -> None:
    response = client.generic("POST", "/api/orders", body, content_type=content_type)
    assert response.status_code < 500, response.content
    assert response.status_code in {201, 400, 413, 415}
    assert response["Content-Type"] == "application/json"
