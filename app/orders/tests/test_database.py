"""Database-specific checks. The nox `tests` session runs the app suite on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from prometheus_client import REGISTRY

from orders import pagination
from orders.models import Order
from orders.pagination import COUNT_CAP, Cursor, count, newest_first_after, paginate
from orders.queries import shown_rows, starting_with
from testkit.support import need


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
        cursor_token = paginate(shown_rows(), size=25, after=cursor_token).next_cursor
    page = paginate(shown_rows(), size=25, after=cursor_token)
    assert len(page.orders) == 25
    plan = newest_first_after(Order.objects.all(), Cursor.decode(cursor_token or ""))[:26].explain()
    assert "order_newest_idx" in plan, plan
    assert "Seq Scan" not in plan, plan
    assert "Sort" not in plan, plan


# transaction=True: the table is emptied (TRUNCATE) afterwards, so PostgreSQL's size estimate
# does not carry the 20,000 rolled-back rows into the next test.
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("column", "prefix"), [("user_id", "USER-0001"), ("store_code", "st-01")])
def test_prefix_filter_in_any_case_uses_its_index(
    postgres_only: None, column: str, prefix: str
) -> None:
    call_command("seed_orders", 20_000, seed=3, stdout=open(os.devnull, "w"))  # noqa: SIM115
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE orders_order")
    queryset = starting_with(Order.objects.all(), column, prefix)
    # Finding the matches (what the capped count does) goes through the UPPER(column) index.
    matches = queryset.order_by().explain()
    print(matches)  # the EXPLAIN, for the person reading the test log
    index = {"user_id": "order_user_upper_idx", "store_code": "order_store_upper_idx"}[column]
    assert index in matches, matches
    assert "Seq Scan" not in matches, matches
    # A page of them: the planner may walk the newest-first index instead, never the table.
    page = queryset.order_by("-created_at", "-id")[:26].explain()
    print(page)
    assert "Index Scan" in page, page
    assert "Seq Scan" not in page, page
    expected = Order.objects.filter(**{f"{column}__istartswith": prefix}).count()
    assert expected > 0
    assert queryset.count() == expected


@pytest.mark.sqlite
@pytest.mark.django_db
def test_prefix_filter_in_any_case_uses_its_index_on_sqlite(order_factory: Any) -> None:
    assert connection.vendor == "sqlite", "the PostgreSQL variant above covers PostgreSQL"
    order_factory.create_batch(5, user_id="Alice")
    queryset = starting_with(Order.objects.all(), "user_id", "ali")
    assert "order_user_upper_idx" in queryset.order_by("-created_at")[:26].explain()
    assert queryset.count() == 5


@pytest.mark.django_db(transaction=True)
def test_unfiltered_total_is_the_databases_estimate_within_one_percent() -> None:
    rows = 12_000  # above COUNT_CAP, so the list shows the estimate, not a count
    assert rows > COUNT_CAP
    call_command("seed_orders", rows, seed=5, stdout=open(os.devnull, "w"))  # noqa: SIM115
    with connection.cursor() as cursor:
        # PostgreSQL's estimate comes from statistics, as autovacuum would leave them.
        cursor.execute("ANALYZE orders_order" if connection.vendor == "postgresql" else "SELECT 1")
    total = count(Order.objects.all(), filtered=False)
    exact = Order.objects.count()
    assert total.kind == "about"
    assert abs(total.value - exact) <= exact / 100, (total, exact)
    assert str(total) == f"about {total.value:,}"


@pytest.mark.django_db(transaction=True)
def test_an_estimate_above_the_cap_is_reused_for_the_configured_seconds(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pagination, "_ESTIMATES", {})
    clock = [1000.0]
    monkeypatch.setattr(pagination.time, "monotonic", lambda: clock[0])
    settings.ORDERS_ESTIMATE_SECONDS = 10
    seed = {"stdout": open(os.devnull, "w")}  # noqa: SIM115
    call_command("seed_orders", COUNT_CAP + 2_000, seed=5, **seed)

    def estimate() -> int:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE orders_order")
        return count(Order.objects.all(), filtered=False).value

    first = estimate()
    call_command("seed_orders", 3_000, seed=6, **seed)
    clock[0] += 9.9
    assert estimate() == first, "read again before its time was up"
    clock[0] += 0.2
    grown = estimate()
    assert grown > first + 2_000, (first, grown)
    settings.ORDERS_ESTIMATE_SECONDS = 0
    call_command("seed_orders", 3_000, seed=7, **seed)
    assert estimate() > grown + 2_000, "0 seconds must read it every time"


@pytest.mark.django_db(transaction=True)
def test_filtered_total_is_exact_up_to_the_cap_then_says_so(order_factory: Any) -> None:
    order_factory.create_batch(3, user_id="carol")
    assert str(count(starting_with(Order.objects.all(), "user_id", "car"), filtered=True)) == "3"
    call_command("seed_orders", COUNT_CAP + 5, seed=9, stdout=open(os.devnull, "w"))  # noqa: SIM115
    wide = starting_with(Order.objects.all(), "store_code", "st")
    assert str(count(wide, filtered=True)) == f"{COUNT_CAP:,}+"


@pytest.mark.django_db
def test_every_query_is_counted_with_one_cursor_class_per_connection() -> None:
    """The dashboards' database time comes from django-prometheus' counters. Its SQLite backend
    defined a new cursor class for every cursor; ours (orderdesk/sqlite) makes one per
    connection, as its PostgreSQL backend does."""
    labels = {"alias": connection.alias, "vendor": connection.vendor}

    def executed() -> float:
        return REGISTRY.get_sample_value("django_db_execute_total", labels) or 0.0

    before = executed()
    classes = set()
    for _ in range(3):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            classes.add(type(cursor.cursor))
    assert executed() - before == 3
    assert len(classes) == 1, classes


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_prepares_the_page_query_a_connection_keeps_running(
    postgres_only: None, order_factory: Any
) -> None:
    order_factory.create_batch(3)

    def prepared() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            return [row[0] for row in cursor.fetchall()]

    for _ in range(6):
        paginate(shown_rows(), size=2, shape=("prepared",))
    statements = prepared()
    assert any("orders_order" in sql and "LIMIT" in sql for sql in statements), statements
