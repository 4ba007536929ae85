"""A fresh random token with every change to orders: a page key no restore can bring back.

The change counter of 0003 counts: a backup restored under running workers brings it back to an
old number, the next writes reach the same numbers again, and pages kept under them showed
orders that no longer existed. A token drawn at random by the changing transaction names one
state of the data: the restored state's token is the one its pages were kept under (the
restore brings back that same data), and every change after it draws a token never seen
before. `version` still counts, for people reading the table.

Only orders_changes gains a column, and the triggers are replaced by name: nothing here makes
Django's SQLite editor rebuild orders_order (which would drop 0002's indexes and these
triggers; see 0004's docstring). The PostgreSQL function runs with a fixed search_path,
pg_temp last, so no caller's search_path can put another orders_changes in its way.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

# Literal SQL, no names formatted in: what runs is what is read here.
ADD_TOKEN = "ALTER TABLE orders_changes ADD COLUMN token varchar(36) NOT NULL DEFAULT ''"  # nosec B105
DROP_TOKEN = "ALTER TABLE orders_changes DROP COLUMN token"  # nosec B105
POSTGRESQL = [
    "UPDATE orders_changes SET token = gen_random_uuid()::text",
    # The schema the migration runs in is where orders_changes lives: pinned into the function.
    # Run without parameters (params=None), so the driver leaves format()'s %I alone.
    """DO $do$ BEGIN
    EXECUTE format(
        $f$CREATE OR REPLACE FUNCTION orders_changes_count() RETURNS trigger
        LANGUAGE plpgsql SET search_path = pg_catalog, %I, pg_temp AS $body$
        BEGIN
            UPDATE orders_changes SET version = version + 1, token = gen_random_uuid()::text;
            RETURN NULL;
        END $body$$f$,
        current_schema()
    );
    END $do$""",
]
POSTGRESQL_BACK = [
    """CREATE OR REPLACE FUNCTION orders_changes_count() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE orders_changes SET version = version + 1;
        RETURN NULL;
    END $$""",
]
SQLITE_TRIGGERS = ("orders_changes_insert", "orders_changes_update", "orders_changes_delete")
SQLITE = [
    "UPDATE orders_changes SET token = lower(hex(randomblob(16)))",
    *(f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_TRIGGERS),
    """CREATE TRIGGER orders_changes_insert AFTER INSERT ON orders_order BEGIN
    UPDATE orders_changes SET version = version + 1, token = lower(hex(randomblob(16))); END""",
    """CREATE TRIGGER orders_changes_update AFTER UPDATE ON orders_order BEGIN
    UPDATE orders_changes SET version = version + 1, token = lower(hex(randomblob(16))); END""",
    """CREATE TRIGGER orders_changes_delete AFTER DELETE ON orders_order BEGIN
    UPDATE orders_changes SET version = version + 1, token = lower(hex(randomblob(16))); END""",
]
SQLITE_BACK = [
    *(f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_TRIGGERS),
    """CREATE TRIGGER orders_changes_insert AFTER INSERT ON orders_order
    BEGIN UPDATE orders_changes SET version = version + 1; END""",
    """CREATE TRIGGER orders_changes_update AFTER UPDATE ON orders_order
    BEGIN UPDATE orders_changes SET version = version + 1; END""",
    """CREATE TRIGGER orders_changes_delete AFTER DELETE ON orders_order
    BEGIN UPDATE orders_changes SET version = version + 1; END""",
]


def create(apps: Any, schema_editor: Any) -> None:
    postgresql = schema_editor.connection.vendor == "postgresql"
    schema_editor.execute(ADD_TOKEN)
    for statement in POSTGRESQL if postgresql else SQLITE:
        schema_editor.execute(statement, params=None)


def drop(apps: Any, schema_editor: Any) -> None:
    postgresql = schema_editor.connection.vendor == "postgresql"
    for statement in POSTGRESQL_BACK if postgresql else SQLITE_BACK:
        schema_editor.execute(statement, params=None)
    schema_editor.execute(DROP_TOKEN)


class Migration(migrations.Migration):
    dependencies = [("orders", "0004_order_created_by")]

    operations = [migrations.RunPython(create, drop)]
