"""A backup restored under running workers: their kept list pages must not outlive the data.

Each test runs the app under gunicorn (2 workers, each keeping its own pages), writes orders,
takes a backup, writes more (the orders a restore will make vanish), has the workers keep list
pages of that state, restores the backup with the database's own tool, and writes as many new
orders as vanished. With a counter that counts, those writes bring it back to the number the
kept pages stood at; the token drawn with each change (migration 0005) never repeats.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from testkit.pgcluster import Cluster
from tests.app import test_postgres
from tests.appserver import AppServer, run_app

pytestmark = pytest.mark.gunicorn
# A throwaway PostgreSQL server for the test, as test_postgres.py starts one.
postgres = test_postgres.postgres

# Enough requests, each on a new connection, for both workers to keep pages.
REQUESTS = 16


class Desk:
    """The app as an API client sees it."""

    def __init__(self, app: AppServer, token: str) -> None:
        self.app = app
        self.headers = {"Authorization": f"Bearer {token}"}

    def add(self, product_code: str) -> None:
        order = {
            "user_id": "restore",
            "store_code": "ST-1",
            "product_code": product_code,
            "quantity": 1,
            "order_date": "2026-01-02",
            "shipping_date": "2026-01-03",
            "card_number": "4242 4242 4242 4242",
        }
        created = requests.post(
            f"{self.app.url}/api/orders", json=order, headers=self.headers, timeout=10
        )
        assert created.status_code == 201, created.text

    def lists(self) -> list[set[str]]:
        """The products on page 1 of the API list, once per request, each on a new connection."""
        shown = []
        for _ in range(REQUESTS):
            page = requests.get(f"{self.app.url}/api/orders", headers=self.headers, timeout=10)
            assert page.status_code == 200, page.text
            shown.append({order["product_code"] for order in page.json()["results"]})
        return shown

    def page_cache(self) -> Any:
        return requests.get(f"{self.app.url}/readyz", timeout=10).json()["page_cache"]


def assert_restore_is_seen(desk: Desk, take_backup: Any, restore: Any) -> None:
    for code in ("KEPT-1", "KEPT-2", "KEPT-3"):
        desk.add(code)
    take_backup()
    for code in ("VANISH-1", "VANISH-2"):
        desk.add(code)
    before = desk.lists()
    assert all(shown >= {"KEPT-1", "VANISH-1", "VANISH-2"} for shown in before), before
    restore()
    for code in ("AFTER-1", "AFTER-2"):
        desk.add(code)
    after = desk.lists()
    for shown in after:
        assert shown == {"KEPT-1", "KEPT-2", "KEPT-3", "AFTER-1", "AFTER-2"}, after
    assert desk.page_cache() == {"state": "on"}


def test_sqlite_backup_api_restore_under_running_workers(tmp_path: Path) -> None:
    with run_app(tmp_path, workers=2) as app:
        live = app.data_dir / "orderdesk.sqlite3"
        assert live.exists(), list(app.data_dir.iterdir())
        desk = Desk(app, app.token())
        copy = tmp_path / "backup.sqlite3"

        def take_backup() -> None:
            with sqlite3.connect(live) as source, sqlite3.connect(copy) as target:
                source.backup(target)

        def restore() -> None:
            with sqlite3.connect(copy) as source, sqlite3.connect(live) as target:
                source.backup(target)

        assert_restore_is_seen(desk, take_backup, restore)


def pg_tool(cluster: Cluster, tool: str, *args: str, stdin: bytes | None = None) -> bytes:
    """pg_dump or pg_restore as the cluster's owner through its socket (as root: as postgres)."""
    command = [*cluster.runner, str(cluster.bindir / tool), "-h", str(cluster.sockets)]
    done = subprocess.run(
        [*command, "-p", str(cluster.port), "-U", "orderdesk", *args],
        input=stdin,
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


@pytest.mark.postgres
def test_pg_dump_and_pg_restore_under_running_workers(tmp_path: Path, postgres: Cluster) -> None:
    with run_app(tmp_path, workers=2, extra_env={"DATABASE_URL": postgres.url}) as app:
        desk = Desk(app, app.token())
        dump: list[bytes] = []

        def take_backup() -> None:
            dump.append(pg_tool(postgres, "pg_dump", "-Fc", "orderdesk"))

        def restore() -> None:
            # --clean drops and recreates every table, the counter's too, as a restore into
            # the same server does; the workers keep their connections throughout.
            pg_tool(
                postgres,
                "pg_restore",
                "--clean",
                "--if-exists",
                "--single-transaction",
                "-d",
                "orderdesk",
                stdin=dump[0],
            )

        assert_restore_is_seen(desk, take_backup, restore)
