"""Kept list pages: served while the orders are unchanged, and never once they have changed.

transaction=True throughout: the cache stands aside inside a transaction, which every plain
django_db test is. Runs on SQLite and PostgreSQL (the tests session runs the app suite on both),
whose counters are kept by different triggers (migration 0003).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings

from orders.models import Order
from orders.pagecache import page_key
from orders.tests.factories import OrderFactory

pytestmark = pytest.mark.django_db(transaction=True)

LISTS = ["/", "/api/orders"]
COUNTER_READ = "SELECT generation, version FROM orders_changes"


# What signing the request in reads (the session or the token, the user, the role): the same
# for every page, kept or not (accounts/tests covers it).
CSRF_VALUE = re.compile(r'(?<=name="csrfmiddlewaretoken" )value="[^"]+"')
SIGN_IN_TABLES = ("django_session", "auth_", "accounts_apitoken", "django_content_type")


def served(client: Client, path: str) -> tuple[str, list[str]]:
    """The page's text and the SQL run to answer it, beside what signing in read."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200
    sql = [query["sql"] for query in queries.captured_queries]
    # Each answer masks the CSRF token afresh (the sign-out form's): the same token either way.
    page = CSRF_VALUE.sub('value="<csrf>"', response.content.decode())
    return page, [s for s in sql if not any(t in s for t in SIGN_IN_TABLES)]


def assert_kept(client: Client, path: str) -> str:
    page, sql = served(client, path)
    assert sql == [COUNTER_READ], "a kept page needs the counter read and nothing else"
    return page


def assert_made(client: Client, path: str) -> str:
    page, sql = served(client, path)
    assert sql[0] == COUNTER_READ
    assert any("orders_order" in statement for statement in sql[1:]), sql
    return page


@pytest.mark.parametrize("path", LISTS)
def test_a_kept_page_is_served_until_orders_change_in_any_way(client: Client, path: str) -> None:
    first: Any = OrderFactory(product_code="FIRST-1")
    made = assert_made(client, path)
    assert assert_kept(client, path) == made

    changes: list[tuple[str, Callable[[], Any], str, bool]] = [
        ("insert", lambda: OrderFactory(product_code="ADDED-2"), "ADDED-2", True),
        (
            "bulk insert",
            lambda: Order.objects.bulk_create([OrderFactory.build(product_code="BULK-3")]),
            "BULK-3",
            True,
        ),
        (
            "update",
            lambda: Order.objects.filter(pk=first.pk).update(product_code="EDITED-4"),
            "EDITED-4",
            True,
        ),
        ("delete", lambda: Order.objects.filter(product_code="BULK-3").delete(), "BULK-3", False),
    ]
    for name, change, text, shown in changes:
        change()
        page = assert_made(client, path)
        assert (text in page) is shown, f"after the {name}"
        assert assert_kept(client, path) == page


def test_an_order_saved_by_another_connection_shows_at_once(client: Client) -> None:
    """Another worker's write: a different connection, committed while this one kept a page."""
    OrderFactory()
    assert_made(client, "/")

    def elsewhere() -> None:
        try:
            OrderFactory(product_code="OTHER-WORKER")
        finally:
            connection.close()

    writer = threading.Thread(target=elsewhere)
    writer.start()
    writer.join()
    assert "OTHER-WORKER" in assert_made(client, "/")


def test_a_truncated_table_is_a_change(client: Client, on_postgres: bool) -> None:
    OrderFactory(product_code="GONE-1")
    assert "GONE-1" in assert_made(client, "/")
    with connection.cursor() as cursor:
        # SQLite has no TRUNCATE; its unqualified DELETE is the same emptying of the table.
        cursor.execute("TRUNCATE orders_order" if on_postgres else "DELETE FROM orders_order")
    assert "No orders yet." in assert_made(client, "/")


def test_parameters_a_page_is_not_made_from_share_its_kept_copy(client: Client) -> None:
    OrderFactory()
    made = assert_made(client, "/")
    assert assert_kept(client, "/?utm_source=mail&x=1") == made
    assert_made(client, "/?user_id=user")


def test_no_parameter_value_can_pass_for_another_parameters() -> None:
    """A value holding the key's own separators must not make another page's key."""
    one = {"user_id": "a\nstore_code=", "store_code": "b"}
    other = {"user_id": "a", "store_code": "\nstore_code=b"}
    assert page_key("list", one, "v") != page_key("list", other, "v")


def test_a_page_showing_a_message_is_neither_kept_nor_served_from_the_cache(
    client: Client, valid_order: dict[str, Any]
) -> None:
    OrderFactory()
    assert_made(client, "/")
    response = client.post("/orders/new", valid_order, follow=True)
    assert "Order created" in response.content.decode()
    page = assert_made(client, "/")
    assert "Order created" not in page
    assert assert_kept(client, "/") == page


def test_inside_a_transaction_every_page_is_made(client: Client) -> None:
    OrderFactory()
    with transaction.atomic():
        _, sql = served(client, "/")
        assert COUNTER_READ not in sql
        _, again = served(client, "/")
        assert again == sql


@override_settings(ORDERS_PAGE_CACHE_ENTRIES=0)
def test_zero_entries_makes_every_page(client: Client) -> None:
    OrderFactory()
    first = served(client, "/")[1]
    assert first == served(client, "/")[1]
    assert COUNTER_READ not in first
    assert any("orders_order" in statement for statement in first)


def test_a_database_at_the_same_count_but_another_generation_is_not_served_old_pages(
    client: Client,
) -> None:
    """A fresh database (a test's, a restore) can stand at the same count as the old one."""
    OrderFactory()
    assert_made(client, "/")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE orders_changes SET generation = 'another-database'")
    assert_made(client, "/")


def test_the_page_size_changed_by_a_test_is_not_served_a_page_of_the_old_size(
    client: Client,
) -> None:
    OrderFactory.create_batch(3)
    assert assert_made(client, "/").count("<tr>") == 4
    with override_settings(ORDERS_PAGE_SIZE=2):
        assert assert_made(client, "/").count("<tr>") == 3
