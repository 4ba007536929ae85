"""PostgreSQL, the production database: readiness follows the server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from testkit.pgcluster import Cluster, find_bindir, temporary_cluster
from testkit.support import need_tool
from tests.appserver import run_app

pytestmark = [pytest.mark.postgres, pytest.mark.gunicorn]


@pytest.fixture
def postgres() -> Iterator[Cluster]:
    bindir = find_bindir()
    need_tool(str(bindir / "initdb") if bindir else "initdb", "PostgreSQL server binaries")
    with temporary_cluster(bindir) as cluster:
        yield cluster


def wait_for_status(url: str, status: int, timeout: float = 20) -> requests.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = requests.get(url, timeout=10)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def test_readiness_follows_the_database(tmp_path: Path, postgres: Cluster) -> None:
    with run_app(tmp_path, extra_env={"DATABASE_URL": postgres.url}) as app:
        assert requests.get(app.url + "/readyz", timeout=5).json()["database"] == "up"
        created = requests.post(
            f"{app.url}/api/orders",
            json={
                "user_id": "pg",
                "store_code": "ST-1",
                "product_code": "SKU-1",
                "quantity": 2,
                "order_date": "2026-01-01",
                "shipping_date": "2026-01-02",
                "card_number": "5555 5555 5555 4444",
            },
            headers=app.bearer(),
            timeout=5,
        )
        assert created.status_code == 201, created.text
        postgres.stop()
        down = wait_for_status(app.url + "/readyz", 503)
        assert down.status_code == 503
        assert down.elapsed.total_seconds() < 5, "readiness must fail fast, not hang"
        assert requests.get(app.url + "/healthz", timeout=5).status_code == 200
        postgres.start()
        assert wait_for_status(app.url + "/readyz", 200).status_code == 200
        assert requests.get(app.url + created.json()["url"], headers=app.bearer(), timeout=5).ok


def test_list_pages_answer_right_after_a_database_restart(
    tmp_path: Path, postgres: Cluster
) -> None:
    """A kept connection the restart closed is replaced (Django's health check, before the
    request's first query: the session's) before the page is served, never a 500."""
    with run_app(tmp_path, extra_env={"DATABASE_URL": postgres.url}) as app:
        browser, script = app.signed_in("viewer"), app.bearer("viewer")

        def statuses() -> list[int]:
            # Fresh connections, so that every worker thread keeps a database connection.
            pages = [
                requests.get(
                    app.url + "/", headers=browser.headers, timeout=5, allow_redirects=False
                )
                for _ in range(16)
            ]
            api = [
                requests.get(app.url + "/api/orders", headers=script, timeout=5) for _ in range(16)
            ]
            return [r.status_code for r in pages + api]

        assert statuses() == [200] * 32
        postgres.stop()
        postgres.start()
        assert statuses() == [200] * 32, app.log()[-3000:]
