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

TABLE = "orders_changes"

POSTGRESQL = [
    f"""CREATE FUNCTION {TABLE}_count() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE {TABLE} SET version = version + 1;
        RETURN NULL;
    END $$""",
    f"""CREATE TRIGGER {TABLE}_count AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON orders_order FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_count()""",
]

SQLITE = [
    f"""CREATE TRIGGER {TABLE}_{event.lower()} AFTER {event} ON orders_order
    BEGIN UPDATE {TABLE} SET version = version + 1; END"""
    for event in ("INSERT", "UPDATE", "DELETE")
]


def create(apps: Any, schema_editor: Any) -> None:
    schema_editor.execute(
        f"CREATE TABLE {TABLE} (id integer PRIMARY KEY CHECK (id = 1), "
        "generation varchar(32) NOT NULL, version bigint NOT NULL)"
    )
    schema_editor.execute(
        f"INSERT INTO {TABLE} (id, generation, version) VALUES (1, %s, 0)", [uuid.uuid4().hex]
    )
    postgresql = schema_editor.connection.vendor == "postgresql"
    for statement in POSTGRESQL if postgresql else SQLITE:
        schema_editor.execute(statement)


def drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_count ON orders_order")
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {TABLE}_count()")
    else:
        for event in ("insert", "update", "delete"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_{event}")
    schema_editor.execute(f"DROP TABLE IF EXISTS {TABLE}")


class Migration(migrations.Migration):
    dependencies = [("orders", "0002_prefix_filter_indexes")]

    operations = [migrations.RunPython(create, drop)]
