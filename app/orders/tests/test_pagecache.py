"""Kept list pages: served while the orders are unchanged, and never once they have changed.

transaction=True throughout: the cache stands aside inside a transaction, which every plain
django_db test is. Runs on SQLite and PostgreSQL (the tests session runs the app suite on both),
whose counters are kept by different triggers (migration 0003).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import caches
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings

from orders import pagecache
from orders.models import Order
from orders.pagecache import page_key
from orders.tests.factories import OrderFactory
from testkit.support import need

pytestmark = pytest.mark.django_db(transaction=True)

LISTS = ["/", "/api/orders"]
COUNTER_READ = (
    pagecache.COUNTER_READ_POSTGRESQL
    if connection.vendor == "postgresql"
    else pagecache.COUNTER_READ_SQLITE
)


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
    one = (("user_id", "a\nstore_code="), ("store_code", "b"))
    other = (("user_id", "a"), ("store_code", "\nstore_code=b"))
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


def test_the_same_count_under_another_token_is_not_served_old_pages(client: Client) -> None:
    """A restored backup can stand at the same count as the database its pages came from."""
    OrderFactory()
    made = assert_made(client, "/")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE orders_changes SET token = 'another-state'")
    assert assert_made(client, "/") == made


def test_every_change_draws_a_token_never_seen_before() -> None:
    def token() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT token FROM orders_changes")
            return str(cursor.fetchone()[0])

    tokens = [token()]
    for _ in range(5):
        OrderFactory()
        tokens.append(token())
    Order.objects.update(quantity=2)
    tokens.append(token())
    Order.objects.all().delete()
    tokens.append(token())
    assert len(set(tokens)) == len(tokens) == 8, tokens
    assert all(len(t) >= 32 for t in tokens), tokens


def test_the_page_size_changed_by_a_test_is_not_served_a_page_of_the_old_size(
    client: Client,
) -> None:
    OrderFactory.create_batch(3)
    assert assert_made(client, "/").count("<tr>") == 4
    with override_settings(ORDERS_PAGE_SIZE=2):
        assert assert_made(client, "/").count("<tr>") == 3


@pytest.mark.parametrize("path", LISTS)
def test_a_page_value_the_list_ignores_shares_page_one(client: Client, path: str) -> None:
    """A random ?page= must not make (and evict) pages: the list reads only page=last."""
    OrderFactory()
    made = assert_made(client, path)
    for ignored in ("7", "x9f2", "LAST", ""):
        assert assert_kept(client, f"{path}?page={ignored}") == made
    assert_made(client, f"{path}?page=last")


@pytest.mark.parametrize("path", LISTS)
def test_filters_are_keyed_as_the_form_cleans_them(client: Client, path: str) -> None:
    OrderFactory(store_code="ST-9")
    made = assert_made(client, f"{path}?store_code=ST-")
    assert "ST-9" in made
    assert assert_kept(client, f"{path}?store_code=st-") == made
    assert assert_kept(client, f"{path}?store_code=%20st-%20") == made


def test_a_page_of_invalid_filters_is_never_kept(client: Client) -> None:
    OrderFactory()
    for _ in range(2):
        _, sql = served(client, "/?store_code=no%20spaces")
        assert COUNTER_READ not in sql


@pytest.fixture
def log_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a fresh worker that has logged nothing yet."""
    monkeypatch.setattr(pagecache, "_LOGGED", set())


def assert_standing_aside(client: Client, caplog: pytest.LogCaptureFixture, reason: str) -> None:
    """Every list page is made afresh, one warning says why, and /readyz tells the same."""
    caplog.set_level("WARNING", logger="orders.pagecache")
    for _ in range(3):
        for path in LISTS:
            _, sql = served(client, path)
            assert any("orders_order" in statement for statement in sql[1:]), sql
    warnings = [r.getMessage() for r in caplog.records if r.name == "orders.pagecache"]
    assert len(warnings) == 1, warnings
    assert reason in warnings[0]
    ready = client.get("/readyz")
    assert ready.status_code == 200
    detail = ready.json()
    assert detail["page_cache"]["state"] == "standing aside", detail
    assert reason in detail["page_cache"]["reason"]


def trigger_definitions() -> list[tuple[str, str]]:
    """The counter's triggers as (name, the SQL that makes them again)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger"
                " WHERE tgrelid = 'orders_order'::regclass AND tgname LIKE 'orders_changes%%'"
            )
        else:
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
                " AND tbl_name = 'orders_order' AND name LIKE 'orders_changes%'"
            )
        found = [(str(name), str(sql)) for name, sql in cursor.fetchall()]
    assert found, "the counter's triggers are missing before the test began"
    return found


def test_without_its_triggers_the_cache_stands_aside(
    client: Client, caplog: pytest.LogCaptureFixture, log_once: None
) -> None:
    """A restore that left the triggers out: nothing moves the token, so nothing is kept."""
    OrderFactory()
    definitions = trigger_definitions()
    drop = (
        "DROP TRIGGER {} ON orders_order"
        if connection.vendor == "postgresql"
        else "DROP TRIGGER {}"
    )
    with connection.cursor() as cursor:
        for name, _ in definitions:
            cursor.execute(drop.format(name))
    try:
        assert_standing_aside(client, caplog, "triggers are missing")
        # Orders written now move no token: they must show all the same.
        OrderFactory(product_code="UNCOUNTED-1")
        assert "UNCOUNTED-1" in served(client, "/")[0]
    finally:
        with connection.cursor() as cursor:
            for _, sql in definitions:
                cursor.execute(sql)
    assert_made(client, "/")
    assert client.get("/readyz").json()["page_cache"] == {"state": "on"}


@pytest.mark.postgres
@pytest.mark.parametrize(
    "case",
    [
        (
            "ALTER TABLE orders_order DISABLE TRIGGER orders_changes_count",
            "ALTER TABLE orders_order ENABLE TRIGGER orders_changes_count",
            "trigger is disabled",
        ),
        # This session as ALTER DATABASE ... SET session_replication_role would make every one.
        (
            "SET session_replication_role = replica",
            "SET session_replication_role = DEFAULT",
            "session_replication_role replica",
        ),
    ],
)
def test_a_disabled_trigger_or_a_replica_role_makes_the_cache_stand_aside(
    client: Client,
    caplog: pytest.LogCaptureFixture,
    log_once: None,
    on_postgres: bool,
    case: tuple[str, str, str],
) -> None:
    """SQLite has no way to disable a trigger; PostgreSQL has two."""
    if not on_postgres:
        need("needs PostgreSQL: run `nox -s tests` (it starts one) or set DATABASE_URL")
    change, undo, reason = case
    OrderFactory()
    with connection.cursor() as cursor:
        cursor.execute(change)
    try:
        assert_standing_aside(client, caplog, reason)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(undo)
    assert_made(client, "/")


def test_without_the_counter_table_pages_are_made_and_readyz_says_why(
    client: Client, caplog: pytest.LogCaptureFixture, log_once: None
) -> None:
    """A backup from before migration 0003 has no counter table at all."""
    OrderFactory(product_code="BEFORE-0003")
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE orders_changes RENAME TO orders_changes_away")
    try:
        assert_standing_aside(client, caplog, "cannot be read")
        assert "BEFORE-0003" in served(client, "/")[0]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE orders_changes_away RENAME TO orders_changes")
    assert_made(client, "/")


def test_a_kept_page_is_dropped_after_the_cache_timeout(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last guard, should the token ever stand still while the orders change."""
    timeout = caches[pagecache.CACHE_ALIAS].default_timeout
    assert timeout is not None
    assert 0 < timeout <= 3600, timeout
    OrderFactory()
    made = assert_made(client, "/")
    assert assert_kept(client, "/") == made
    later = time.time() + timeout + 1
    monkeypatch.setattr("django.core.cache.backends.locmem.time.time", lambda: later)
    assert assert_made(client, "/") == made
