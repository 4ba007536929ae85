"""Database-specific checks. The nox `tests` session runs the app suite on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from orders.models import Order
from orders.pagination import Cursor, newest_first_after, paginate
from tests.support import need


def test_runs_on_the_expected_database() -> None:
    """Guards the PostgreSQL pass: if it silently fell back to SQLite, CI would prove nothing."""
    expected = os.environ.get("ORDERDESK_EXPECT_DB")
    if not expected:
        pytest.skip("ORDERDESK_EXPECT_DB not set: any database will do")
    assert connection.vendor == expected


@pytest.fixture
def postgres_only() -> None:
    if connection.vendor != "postgresql":
        need("needs PostgreSQL: run `nox -s tests` (it starts one) or set DATABASE_URL")


@pytest.mark.postgres
@pytest.mark.django_db
def test_deep_keyset_page_seeks_the_index(postgres_only: None, order_factory: Any) -> None:
    call_command("seed_orders", 3000, seed=7, stdout=open(os.devnull, "w"))  # noqa: SIM115
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE orders_order")
    cursor_token = None
    for _ in range(100):  # 100 pages in: the seek must not depend on the depth
        cursor_token = paginate(Order.objects.all(), size=25, after=cursor_token).next_cursor
    page = paginate(Order.objects.all(), size=25, after=cursor_token)
    assert len(page.orders) == 25
    plan = newest_first_after(Order.objects.all(), Cursor.decode(cursor_token or ""))[:26].explain()
    assert "order_newest_idx" in plan, plan
    assert "Seq Scan" not in plan, plan
    assert "Sort" not in plan, plan
