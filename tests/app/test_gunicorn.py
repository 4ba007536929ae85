"""The app under a real gunicorn: probes, headers, logs and metrics across several workers."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest
import requests

from testkit.support import free_port, wait_for_http
from tests.appserver import run_app

pytestmark = pytest.mark.gunicorn

VALID = {
    "user_id": "metrics-user",
    "store_code": "ST-1",
    "product_code": "SKU-1",
    "quantity": 1,
    "order_date": "2026-01-02",
    "shipping_date": "2026-01-03",
    "card_number": "4242 4242 4242 4242",
}


def metric_total(text: str, name: str, labels: str = "") -> float:
    pattern = re.compile(rf"^{re.escape(name)}(\{{[^}}]*\}})? ([0-9.e+]+)$", re.M)
    return sum(float(m.group(2)) for m in pattern.finditer(text) if labels in (m.group(1) or ""))


def worker_pids(master_pid: int) -> set[int]:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    return {int(pid) for pid in children.read_text().split()}


def test_metrics_add_up_across_workers(tmp_path: Path) -> None:
    with run_app(tmp_path, workers=3) as app:
        session = requests.Session()
        bearer = app.bearer()
        for _ in range(30):
            # A fresh connection each time so requests spread over the workers.
            response = requests.post(
                f"{app.url}/api/orders", json=VALID, headers=bearer, timeout=10
            )
            assert response.status_code == 201, response.text
        pids_seen = {p.name.split("_")[-1] for p in app.metrics_dir.glob("counter_*.db")}
        assert len(pids_seen) >= 2, f"requests reached only {pids_seen}: not a multi-worker test"
        text = session.get(f"{app.url}/metrics", timeout=10).text
        assert metric_total(text, "orderdesk_orders_created_total", 'channel="api"') == 30
        assert (
            metric_total(text, "django_http_responses_total_by_status_total", 'status="201"') == 30
        )


def test_counts_survive_a_worker_restart(tmp_path: Path) -> None:
    with run_app(tmp_path, workers=2) as app:
        bearer = app.bearer()
        for _ in range(10):
            created = requests.post(f"{app.url}/api/orders", json=VALID, headers=bearer, timeout=10)
            assert created.status_code == 201
        victim = sorted(worker_pids(app.process.pid))[0]
        os.kill(victim, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            pids = worker_pids(app.process.pid)
            if victim not in pids and len(pids) == 2:
                break
            time.sleep(0.2)
        else:
            pytest.fail("gunicorn did not replace the stopped worker")
        text = requests.get(f"{app.url}/metrics", timeout=10).text
        assert metric_total(text, "orderdesk_orders_created_total", 'channel="api"') == 10


def test_probes_answer_any_host_and_pages_do_not(tmp_path: Path) -> None:
    with run_app(tmp_path) as app:
        for path in ("/healthz", "/readyz", "/metrics"):
            assert (
                requests.get(
                    app.url + path, headers={"Host": "10.244.1.7:5000"}, timeout=5
                ).status_code
                == 200
            )
        assert (
            requests.get(app.url + "/", headers={"Host": "evil.example"}, timeout=5).status_code
            == 400
        )


def test_security_headers(tmp_path: Path) -> None:
    with run_app(tmp_path, extra_env={"DJANGO_SECURE_SSL_REDIRECT": "true"}) as app:
        plain = requests.get(app.url + "/auth/sign-in", allow_redirects=False, timeout=5)
        assert plain.status_code == 301
        assert plain.headers["Location"].startswith("https://127.0.0.1")
        response = requests.get(
            app.url + "/auth/sign-in", headers={"X-Forwarded-Proto": "https"}, timeout=5
        )
        assert response.status_code == 200
        headers = response.headers
        assert (
            headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
        )
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin"
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        # Probes stay plain HTTP.
        assert (
            requests.get(app.url + "/readyz", allow_redirects=False, timeout=5).status_code == 200
        )


def test_logs_are_json_lines_without_card_numbers(tmp_path: Path) -> None:
    with run_app(tmp_path) as app:
        token = app.token()
        bearer = {"Authorization": f"Bearer {token}"}
        created = requests.post(f"{app.url}/api/orders", json=VALID, headers=bearer, timeout=5)
        assert created.status_code == 201, created.text
        requests.get(f"{app.url}/orders/4111111111111111", timeout=5)
        requests.get(f"{app.url}/?user_id=4111-1111-1111-1111", timeout=5)
        # A token sent where it is refused (the query string) must not reach the log either.
        assert requests.get(f"{app.url}/api/orders?token={token}", timeout=5).status_code == 401
        time.sleep(0.5)
        log = app.log()
    lines = [line for line in log.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]
    paths = {r.get("path") for r in records if r.get("logger") == "gunicorn.access"}
    assert "/api/orders" in paths
    assert "/orders/[REDACTED-PAN]" in paths
    for number in ("4242424242424242", "4111111111111111", "4111-1111-1111-1111"):
        assert number not in log
    assert token not in log
    assert token[12:] not in log, "no part of the token's secret is logged"


def test_readiness_fails_and_liveness_holds_when_the_database_is_down(tmp_path: Path) -> None:
    closed_port = free_port()
    env = {"DATABASE_URL": f"postgresql://orderdesk@127.0.0.1:{closed_port}/orderdesk"}
    with run_app(tmp_path, extra_env=env, wait_ready=False, migrate=False) as app:
        # Alive (200) with the database down: the wait fails unless /healthz answers 200.
        wait_for_http(app.url + "/healthz", app.process, timeout=20)
        started = time.monotonic()
        ready = requests.get(app.url + "/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.json() == {"status": "unavailable", "database": "down"}
        assert time.monotonic() - started < 5, "readiness must fail fast, not hang"
