"""Who created each order: the account, and its name as it was then.

created_by_name is added by hand: Django's SQLite editor would rebuild the whole table for a NOT
NULL column with a default, and a rebuilt table loses what migrations 0002 and 0003 made in
SQL (the filters' expression indexes and the change counter's triggers). ADD COLUMN with a
constant default is one statement on both databases (PostgreSQL 11+ writes no row for it).
"""

from __future__ import annotations

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

ADD_NAME = """ALTER TABLE "orders_order" ADD COLUMN "created_by_name" varchar(150) DEFAULT '' NOT NULL"""
DROP_NAME = """ALTER TABLE "orders_order" DROP COLUMN "created_by_name\""""


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0003_orders_changes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # Nullable: both databases add it in place.
        migrations.AddField(
            model_name="order",
            name="created_by",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(ADD_NAME, DROP_NAME)],
            state_operations=[
                migrations.AddField(
                    model_name="order",
                    name="created_by_name",
                    field=models.CharField(blank=True, editable=False, max_length=150),
                ),
            ],
        ),
    ]
