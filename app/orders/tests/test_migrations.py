"""What migrations made in raw SQL must survive every later migration, on both databases.

Django's SQLite schema editor rebuilds a whole table (CREATE new__, copy, DROP, RENAME) for many
AddField and AlterField operations, and the rebuilt table has only what Django knows of: the
filters' expression indexes (0002) and the change counter's triggers (0003, 0005) would be gone,
and with the triggers every kept page would outlive its data.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from orders.tests.factories import OrderFactory
from testkit.support import need

pytestmark = pytest.mark.django_db

EXPRESSION_INDEXES = {"order_user_upper_idx", "order_store_upper_idx"}
TRIGGERS = {
    "postgresql": {"orders_changes_count"},
    "sqlite": {"orders_changes_insert", "orders_changes_update", "orders_changes_delete"},
}


def orders_objects() -> tuple[set[str], set[str]]:
    """The indexes and triggers on orders_order, as the database has them now."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'orders_order'")
            indexes = {row[0] for row in cursor.fetchall()}
            cursor.execute(
                "SELECT tgname FROM pg_trigger"
                " WHERE tgrelid = 'orders_order'::regclass AND NOT tgisinternal"
            )
        else:
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'orders_order'"
            )
            indexes = {row[0] for row in cursor.fetchall()}
            cursor.execute(
                "SELECT name FROM sqlite_master"
                " WHERE type = 'trigger' AND tbl_name = 'orders_order'"
            )
        triggers = {row[0] for row in cursor.fetchall()}
    return indexes, triggers


def test_after_all_migrations_the_raw_sql_indexes_and_triggers_exist() -> None:
    indexes, triggers = orders_objects()
    assert indexes >= EXPRESSION_INDEXES, indexes
    assert triggers == TRIGGERS[connection.vendor], triggers


@pytest.mark.django_db(transaction=True)
def test_migrating_back_and_forth_keeps_them() -> None:
    """Unapplying to 0004 and applying again runs the token migration (0005) both ways.

    Not further back: unapplying 0004 removes a foreign key, which SQLite's editor does by
    rebuilding the table (`sqlmigrate orders 0004 --backwards` shows it)."""
    quiet = {"verbosity": 0, "stdout": io.StringIO()}
    call_command("migrate", "orders", "0004", **quiet)
    call_command("migrate", "orders", **quiet)
    indexes, triggers = orders_objects()
    assert indexes >= EXPRESSION_INDEXES, indexes
    assert triggers == TRIGGERS[connection.vendor], triggers


# transaction=True: SQLite's schema editor, which sqlmigrate uses, refuses to run in one.
@pytest.mark.django_db(transaction=True)
def test_no_orders_migration_rebuilds_the_orders_table() -> None:
    """The SQL each migration would run here: a rebuild shows as Django's new__ table."""
    loader = MigrationLoader(connection)
    names = sorted(name for app, name in loader.disk_migrations if app == "orders")
    assert len(names) >= 5, names
    for name in names:
        sql = io.StringIO()
        call_command("sqlmigrate", "orders", name, stdout=sql)
        assert "new__orders_order" not in sql.getvalue(), f"migration {name} rebuilds orders_order"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_counter_trigger_ignores_the_callers_search_path(on_postgres: bool) -> None:
    """A session whose search_path finds another orders_changes first still moves the real one:
    the function pins its own (pg_catalog, the app's schema, pg_temp last)."""
    if not on_postgres:
        need("needs PostgreSQL: run `nox -s tests` (it starts one) or set DATABASE_URL")

    def tokens() -> tuple[str, str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT token FROM public.orders_changes")
            real = cursor.fetchone()[0]
            cursor.execute("SELECT token FROM decoy.orders_changes")
            return str(real), str(cursor.fetchone()[0])

    with connection.cursor() as cursor:
        cursor.execute("CREATE SCHEMA decoy")
        cursor.execute("CREATE TABLE decoy.orders_changes (version bigint, token text)")
        cursor.execute("INSERT INTO decoy.orders_changes VALUES (0, 'decoy')")
    try:
        before = tokens()
        with connection.cursor() as cursor:
            cursor.execute("SET search_path = decoy, public")
        OrderFactory()
        with connection.cursor() as cursor:
            cursor.execute("RESET search_path")
        after = tokens()
        assert after[0] != before[0], "the app's counter did not move"
        assert after[1] == "decoy", "the trigger wrote to the caller's orders_changes"
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET search_path")
            cursor.execute("DROP SCHEMA decoy CASCADE")
