"""Benchmark: the order list at page 1 and 40,000 pages deep, keyset versus OFFSET + COUNT(*).

    .venv/bin/python bench/orders_list.py                    # 1,000,000 rows, SQLite and PostgreSQL
    .venv/bin/python bench/orders_list.py --rows 100000 --db sqlite

Seeds N orders into a fresh database, then times full page renders through Django's test client
(view, query and template: what a request costs minus the network). The baseline renders the
same template from Django's Paginator, which is how the original app paged: OFFSET plus an exact
COUNT(*) on every request. Prints p50/p99 per case and the deep/first ratio (goal: keyset <= 1.5x).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO_ROOT / "app"), str(REPO_ROOT)]


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def time_requests(fetch: Callable[[], int], repeats: int) -> tuple[float, float]:
    fetch()  # warm caches once; every timed request is a steady-state one
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        status = fetch()
        samples.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise RuntimeError(f"page answered {status}")
    return statistics.median(samples), percentile(samples, 0.99)


def run(database_url: str, rows: int, repeats: int, label: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "orderdesk.settings.test"
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.core.paginator import Paginator
    from django.db import connection
    from django.shortcuts import render
    from django.test import Client, RequestFactory

    from orders.forms import OrderFilterForm
    from orders.models import Order
    from orders.pagination import Cursor, Page
    from orders.rows import rows as table_rows
    from orders.shown import ShownOrder, shown
    from orders.views import filter_fields

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    call_command("seed_orders", rows, seed=1, batch_size=20_000, stdout=open(os.devnull, "w"))  # noqa: SIM115
    seeded = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE" if connection.vendor == "sqlite" else "ANALYZE orders_order")

    size = settings.ORDERS_PAGE_SIZE
    deep_page = min(40_000, rows // size)
    # Setup only: the cursor a user holds after clicking Next deep_page - 1 times.
    previous_row = Order.objects.order_by("-created_at", "-id")[(deep_page - 1) * size - 1]
    deep_cursor = Cursor.of(previous_row).encode()

    client = Client()
    factory = RequestFactory()

    def keyset(after: str | None) -> Callable[[], int]:
        query = {"after": after} if after else {}
        return lambda: client.get("/", query).status_code

    def offset_and_count(number: int) -> Callable[[], int]:
        def fetch() -> int:
            # The rows the list shows, as keyset pages read them: only the paging differs.
            paginator = Paginator(shown(Order.objects.order_by("-created_at", "-id")), size)
            page = paginator.page(number)  # COUNT(*) then OFFSET (number - 1) * size
            orders = [ShownOrder._make(row) for row in page.object_list]
            response = render(
                factory.get("/"),
                "orders/list.html",
                {
                    "page": Page(orders, None, None, start=page.start_index()),
                    "filters": OrderFilterForm(),
                    "filter_fields": filter_fields(OrderFilterForm()),
                    "active_filters": {},
                    "rows": table_rows(orders),
                    "filter_query": "",
                },
            )
            return response.status_code

        return fetch

    cases = {
        "keyset page 1": keyset(None),
        f"keyset page {deep_page}": keyset(deep_cursor),
        "OFFSET+COUNT page 1": offset_and_count(1),
        f"OFFSET+COUNT page {deep_page}": offset_and_count(deep_page),
    }
    print(f"\n{label}: {rows:,} orders seeded in {seeded:.0f}s ({rows / seeded:,.0f} rows/s)")
    print(f"{'case':<28}{'p50 ms':>10}{'p99 ms':>10}")
    results = {}
    for name, fetch in cases.items():
        results[name] = time_requests(fetch, repeats)
        print(f"{name:<28}{results[name][0]:>10.2f}{results[name][1]:>10.2f}", flush=True)
    first, deep = results["keyset page 1"][0], results[f"keyset page {deep_page}"][0]
    base_first = results["OFFSET+COUNT page 1"][0]
    base_deep = results[f"OFFSET+COUNT page {deep_page}"][0]
    print(f"keyset deep/first p50 ratio: {deep / first:.2f} (goal <= 1.5)")
    print(f"OFFSET+COUNT deep/first p50 ratio: {base_deep / base_first:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    if args.rows < 25:
        parser.error("--rows must be at least one page (25)")
    # Each database gets its own interpreter: Django can be set up once per process.
    if args.db == "both":
        for db in ("sqlite", "postgresql"):
            argv = [
                sys.executable,
                __file__,
                "--rows",
                str(args.rows),
                "--repeats",
                str(args.repeats),
                "--db",
                db,
            ]
            os.spawnv(os.P_WAIT, sys.executable, argv)  # noqa: S606
        return 0
    if args.db == "sqlite":
        with tempfile.TemporaryDirectory() as temp:
            run(f"sqlite:///{temp}/bench.sqlite3", args.rows, args.repeats, "SQLite")
        return 0
    from testkit.pgcluster import temporary_cluster

    try:
        with temporary_cluster() as cluster:
            run(cluster.url, args.rows, args.repeats, "PostgreSQL")
    except FileNotFoundError as exc:
        print(f"PostgreSQL skipped: {exc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
