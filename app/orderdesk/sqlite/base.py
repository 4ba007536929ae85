"""django-prometheus' SQLite backend, timing every query as before, with its cursor class made
once per connection.

Its mixin's create_cursor() defines a new wrapper class for every cursor: ~15 µs each, a tenth of
the list page's database time (bench/request_cpu.py). Its PostgreSQL backend already builds the
class once per connection.
"""

from __future__ import annotations

from typing import Any

from django.utils.functional import cached_property
from django_prometheus.db.backends.sqlite3 import base
from django_prometheus.db.common import ExportingCursorWrapper

DatabaseFeatures = base.DatabaseFeatures


class DatabaseWrapper(base.DatabaseWrapper):
    @cached_property
    def exporting_cursor_class(self) -> type:
        return ExportingCursorWrapper(self.CURSOR_CLASS, self.alias, self.vendor)

    def create_cursor(self, name: Any = None) -> Any:
        return self.connection.cursor(factory=self.exporting_cursor_class)
