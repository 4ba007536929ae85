"""Indexes behind the list filters, which match a prefix of user_id or store_code in any case.

Written per database because the right index differs: PostgreSQL uses an index for LIKE 'P%'
only with a pattern operator class (text_pattern_ops) unless the database's collation is C;
SQLite uses an expression index for a range on UPPER(column) (its LIKE optimisation needs a
plain column). See orders.queries.starting_with, which writes the matching query.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

COLUMNS = {"user_id": "order_user_upper_idx", "store_code": "order_store_upper_idx"}


def create(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    for column, name in COLUMNS.items():
        if vendor == "postgresql":
            expression = f'(UPPER("{column}"::text) text_pattern_ops)'
        else:
            expression = f'(UPPER("{column}"))'
        schema_editor.execute(f'CREATE INDEX "{name}" ON "orders_order" {expression}')


def drop(apps: Any, schema_editor: Any) -> None:
    for name in COLUMNS.values():
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [("orders", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
