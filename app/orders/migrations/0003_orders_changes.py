"""A counter the database moves on every change to orders: what tells a worker its kept pages
are still true (orders.pagecache).

A trigger counts, not the app, so nothing can change orders unseen: bulk inserts, raw SQL, a
TRUNCATE, another program. The counter is a row in the changing transaction, so it becomes
visible exactly when the change does; a sequence would move before the commit. `generation`
tells this database from another whose counter happens to stand at the same number (a test's
fresh database, a restore into a new server).

PostgreSQL counts once per statement; SQLite has only row triggers. Every writer of orders
updates this one row, so writes queue on it for the instant before their commit: fine at an
order desk's rate of writes, and the price of never serving a page that is out of date.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import migrations

# Literal SQL, no names formatted in: what runs is what is read here.
CREATE_TABLE = """CREATE TABLE orders_changes (
    id integer PRIMARY KEY CHECK (id = 1),
    generation varchar(32) NOT NULL,
    version bigint NOT NULL
)"""
POSTGRESQL = [
    """CREATE FUNCTION orders_changes_count() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE orders_changes SET version = version + 1;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER orders_changes_count AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON orders_order FOR EACH STATEMENT EXECUTE FUNCTION orders_changes_count()""",
]
SQLITE = [
    """CREATE TRIGGER orders_changes_insert AFTER INSERT ON orders_order
    BEGIN UPDATE orders_changes SET version = version + 1; END""",
    """CREATE TRIGGER orders_changes_update AFTER UPDATE ON orders_order
    BEGIN UPDATE orders_changes SET version = version + 1; END""",
    """CREATE TRIGGER orders_changes_delete AFTER DELETE ON orders_order
    BEGIN UPDATE orders_changes SET version = version + 1; END""",
]
DROP_POSTGRESQL = [
    "DROP TRIGGER IF EXISTS orders_changes_count ON orders_order",
    "DROP FUNCTION IF EXISTS orders_changes_count()",
]
DROP_SQLITE = [
    "DROP TRIGGER IF EXISTS orders_changes_insert",
    "DROP TRIGGER IF EXISTS orders_changes_update",
    "DROP TRIGGER IF EXISTS orders_changes_delete",
]


def create(apps: Any, schema_editor: Any) -> None:
    postgresql = schema_editor.connection.vendor == "postgresql"
    for statement in [CREATE_TABLE, *(POSTGRESQL if postgresql else SQLITE)]:
        schema_editor.execute(statement)
    schema_editor.execute(
        "INSERT INTO orders_changes (id, generation, version) VALUES (1, %s, 0)",
        [uuid.uuid4().hex],
    )


def drop(apps: Any, schema_editor: Any) -> None:
    postgresql = schema_editor.connection.vendor == "postgresql"
    for statement in DROP_POSTGRESQL if postgresql else DROP_SQLITE:
        schema_editor.execute(statement)
    schema_editor.execute("DROP TABLE IF EXISTS orders_changes")


class Migration(migrations.Migration):
    dependencies = [("orders", "0002_prefix_filter_indexes")]

    operations = [migrations.RunPython(create, drop)]
