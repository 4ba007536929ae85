"""Writers queued on a row another holds: they succeed or are told to retry, never 500.

transaction=True: the writers are threads with connections of their own, which must see each
other's commits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from accounts.models import ApiToken
from django.db import connection, transaction
from django.test import Client

from orderdesk.settings.base import database_from_env
from orders.models import Order
from orders.tests.factories import OrderFactory
from testkit.support import need

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def postgres_only() -> None:
    if connection.vendor != "postgresql":
        need("needs PostgreSQL: run `nox -s tests` (it starts one) or set DATABASE_URL")


@pytest.fixture
def reconnect(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Change the OPTIONS the next connections open with; this thread's reconnects at once."""

    def options(**changes: Any) -> None:
        for name, value in changes.items():
            monkeypatch.setitem(connection.settings_dict["OPTIONS"], name, value)
        connection.close()

    yield options
    connection.close()


def test_timeouts_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://app@db.example/orderdesk")
    defaults = database_from_env(tmp_path / "unused.sqlite3")["OPTIONS"]
    assert defaults["options"] == "-c lock_timeout=5000 -c statement_timeout=25000"
    monkeypatch.setenv("DATABASE_LOCK_TIMEOUT_MS", "750")
    monkeypatch.setenv("DATABASE_STATEMENT_TIMEOUT_MS", "0")
    options = database_from_env(tmp_path / "unused.sqlite3")["OPTIONS"]
    assert options["options"] == "-c lock_timeout=750 -c statement_timeout=0"
    # Set beside the prepared statements, not instead of them.
    assert options["prepare_threshold"] == 5


@pytest.mark.postgres
def test_the_apps_connections_run_with_both_timeouts(postgres_only: None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')"
        )
        assert cursor.fetchone() == ("5s", "25s")


def hold_the_counter_row(holding: threading.Event, release: threading.Event) -> None:
    """A writer in another connection that has changed orders and not yet committed."""
    try:
        with transaction.atomic():
            OrderFactory(product_code="HOLDER-1")
            holding.set()
            release.wait(10)
    finally:
        connection.close()


def post(client: Client, order: dict[str, Any]) -> Any:
    return client.post("/api/orders", order, content_type="application/json")


@pytest.mark.postgres
def test_a_writer_kept_waiting_past_lock_timeout_is_told_to_retry(
    client: Client, valid_order: dict[str, Any], reconnect: Any, postgres_only: None
) -> None:
    reconnect(options="-c lock_timeout=200")
    holding, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=hold_the_counter_row, args=(holding, release))
    holder.start()
    try:
        assert holding.wait(10)
        response = post(client, valid_order)
    finally:
        release.set()
        holder.join()
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "1"
    assert response.json()["retryable"] is True
    assert "Send it again" in response.json()["error"]
    assert list(Order.objects.values_list("product_code", flat=True)) == ["HOLDER-1"]


@pytest.mark.postgres
def test_a_serialization_failure_at_repeatable_read_is_run_again(
    client: Client,
    valid_order: dict[str, Any],
    reconnect: Any,
    postgres_only: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The request's snapshot predates the holder's commit to the counter row: 40001, retried."""
    reconnect(isolation_level=psycopg.IsolationLevel.REPEATABLE_READ)
    caplog.set_level("INFO", logger="orders.busy")
    holding, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=hold_the_counter_row, args=(holding, release))
    holder.start()
    assert holding.wait(10)
    threading.Timer(0.5, release.set).start()
    try:
        response = post(client, valid_order)
    finally:
        release.set()
        holder.join()
    assert response.status_code == 201, response.content
    assert any("SQLSTATE 40001" in r.getMessage() for r in caplog.records), caplog.text
    assert Order.objects.count() == 2


@pytest.mark.parametrize(
    "isolation", ["default", pytest.param("repeatable read", marks=pytest.mark.postgres)]
)
def test_concurrent_writers_succeed_or_are_told_to_retry(
    clerk: Any, valid_order: dict[str, Any], reconnect: Any, isolation: str
) -> None:
    if isolation != "default":
        if connection.vendor != "postgresql":
            need("needs PostgreSQL: run `nox -s tests` (it starts one) or set DATABASE_URL")
        reconnect(isolation_level=psycopg.IsolationLevel.REPEATABLE_READ)
    _, token = ApiToken.issue(clerk, "writers")
    answers: list[tuple[int, str, dict[str, Any]]] = []
    start = threading.Barrier(8)

    def writer() -> None:
        writer_client = Client(headers={"Authorization": f"Bearer {token}"})
        try:
            start.wait(10)
            for _ in range(4):
                response = post(writer_client, valid_order)
                answers.append(
                    (response.status_code, response.get("Retry-After", ""), response.json())
                )
        finally:
            connection.close()

    writers = [threading.Thread(target=writer) for _ in range(8)]
    started = time.monotonic()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(60)
    assert time.monotonic() - started < 60
    assert len(answers) == 32
    statuses = [status for status, _, _ in answers]
    assert set(statuses) <= {201, 503}, statuses
    for status, retry_after, body in answers:
        if status == 503:
            assert retry_after == "1"
            assert body["retryable"] is True
    assert Order.objects.count() == statuses.count(201) > 0


def test_a_busy_database_skips_the_tokens_last_use_and_serves_the_call(
    clerk: Any, reconnect: Any, caplog: pytest.LogCaptureFixture
) -> None:
    token, text = ApiToken.issue(clerk, "script")
    if connection.vendor == "postgresql":
        reconnect(options="-c lock_timeout=200")
    else:
        reconnect(timeout=0.2)
    holding, release = threading.Event(), threading.Event()

    def hold_the_token_row() -> None:
        try:
            with transaction.atomic():
                ApiToken.objects.filter(pk=token.pk).update(name="held")
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_token_row)
    holder.start()
    try:
        assert holding.wait(10)
        response = Client(headers={"Authorization": f"Bearer {text}"}).get("/api/orders")
    finally:
        release.set()
        holder.join()
    assert response.status_code == 200, response.content
    assert "last use not recorded, the database is busy" in caplog.text
    assert ApiToken.objects.get(pk=token.pk).last_used_at is None
