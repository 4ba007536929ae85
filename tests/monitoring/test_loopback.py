"""End to end on loopback: the app's errors and failed sign-ins reach a (stand-in) Teams channel.

Real processes, all on 127.0.0.1: the app under gunicorn with two workers and production settings,
Debian's Prometheus scraping it with our recording and alerting rules, Alertmanager (>= 0.28, the
Go-built one) with our routes, inhibitions and Teams receivers, and a local HTTP server standing in
for the Teams webhook that records what it receives.

What the test copies change, and nothing else: every alert's `for` is 5s instead of minutes, and
Alertmanager's group_wait/group_interval are 1s/2s (stack.TEST_FOR, stack.TEST_TIMING). The
expressions, their 5-minute windows, labels, annotations, routes and receivers are the committed
ones; the promtool tests in monitoring/rules/tests/ cover the real `for` boundaries.
"""

from __future__ import annotations

import datetime
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from secrets import token_urlsafe
from typing import Any

import pytest
import requests
from invoke import Context

from ops.core.wait import NotYet, wait_until
from ops.monitoring import alerts, render, send_test_alert
from ops.monitoring.layout import RUNBOOK_BASE, Layout
from testkit.support import free_port, need_tool
from tests.monitoring import stack
from tests.monitoring.teams import Delivery, WebhookSink, adaptive_card, card_texts, message_card

pytestmark = [pytest.mark.slow, pytest.mark.gunicorn]

LAYOUT = Layout()
TEAM_PATH = "/workflows/team"
ONCALL_PATH = "/workflows/oncall"
ERROR_SUMMARY = "More than 5% of Orderdesk responses are server errors."
# Behind the ingress the app sees HTTPS; without this header production settings redirect.
APP_HEADERS = {"X-Forwarded-Proto": "https"}
# The account the API calls use (a clerk may create orders) and whose sign-in a person mistypes.
CLERK = "loopback-clerk"
SIGN_IN_PATH = "/auth/sign-in"
# Production's CSRF cookie name (settings/production.py).
CSRF_COOKIE = "__Host-csrftoken"
# orders 0004 adds the column every order query reads (created_by): without it, /api/orders
# answers 500 while signing in, which reads only the accounts' tables, still works.
ORDERS_BEFORE_NEWEST = "0003"
VALID_ORDER = {
    "user_id": "loopback-user",
    "store_code": "LDN-01",
    "product_code": "SKU-1",
    "quantity": 2,
    "card_number": "4111 1111 1111 1111",
}


@dataclass
class Stack:
    workdir: Path
    app_url: str
    prometheus_url: str
    alertmanager_url: str
    alertmanager_binary: str
    app_env: dict[str, str]
    clerk_token: str
    clerk_password: str
    sink: WebhookSink
    processes: stack.Processes
    gunicorn_pid: int


@pytest.fixture(scope="module")
def loopback(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    prometheus = need_tool("prometheus", "Debian package prometheus (tools/apt/monitoring.txt)")
    alertmanager = need_tool(
        "alertmanager", "Alertmanager >= 0.28: python -m ops.toolchain install alertmanager"
    )
    workdir = tmp_path_factory.mktemp("loopback")
    processes = stack.Processes(workdir)
    with WebhookSink() as sink:
        try:
            # The webhook URLs live in files, as the mounted Secret does in the cluster.
            secrets = workdir / "teams-webhook"
            secrets.mkdir()
            (secrets / "alerts-url").write_text(sink.url(TEAM_PATH) + "\n")
            (secrets / "oncall-url").write_text(sink.url(ONCALL_PATH) + "\n")

            # A release whose newest orders migration did not run: every view that reads orders
            # fails with a 500 until `migrate` runs; accounts, tokens and sign-in work.
            database = workdir / "orderdesk.sqlite3"
            app_port, prometheus_port, alertmanager_port = free_port(), free_port(), free_port()
            env = stack.app_env(workdir, app_port, database)
            stack.manage(env, "migrate", "--noinput")
            stack.manage(env, "migrate", "orders", ORDERS_BEFORE_NEWEST, "--noinput")
            clerk_password = token_urlsafe(18)
            stack.create_user(env, CLERK, "clerk", clerk_password)
            clerk_token = stack.issue_token(env, CLERK)
            stack.manage(env, "collectstatic", "--noinput")
            app = stack.start_app(processes, env, app_port)

            config = render.alertmanager_config(
                LAYOUT, secrets_dir=str(secrets), timing=stack.TEST_TIMING
            )
            stack.start_alertmanager(
                processes,
                name="alertmanager",
                binary=alertmanager,
                workdir=workdir / "am",
                port=alertmanager_port,
                config=config,
            )
            rules = stack.rule_copies(LAYOUT, workdir / "rules", LAYOUT.default_rule_files)
            stack.start_prometheus(
                processes,
                prometheus,
                workdir / "prometheus",
                prometheus_port,
                stack.prometheus_config(
                    app_port=app_port, alertmanager_port=alertmanager_port, rule_files=rules
                ),
            )
            yield Stack(
                workdir=workdir,
                app_url=f"http://127.0.0.1:{app_port}",
                prometheus_url=f"http://127.0.0.1:{prometheus_port}",
                alertmanager_url=f"http://127.0.0.1:{alertmanager_port}",
                alertmanager_binary=alertmanager,
                app_env=env,
                clerk_token=clerk_token,
                clerk_password=clerk_password,
                sink=sink,
                processes=processes,
                gunicorn_pid=app.pid,
            )
        finally:
            processes.stop_all()


class AppClient:
    """Bounded bursts of requests, one keep-alive session per thread, signed in by a token."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.token = token
        self._local = threading.local()

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
            self._local.session.headers.update(APP_HEADERS)
            # /api reads the bearer token; the pages ignore it.
            self._local.session.headers["Authorization"] = f"Bearer {self.token}"
        session: requests.Session = self._local.session
        return session

    def get(self, path: str) -> int:
        return self._session().get(self.base + path, timeout=10, allow_redirects=False).status_code

    def burst(self, paths: list[str], concurrency: int = 8) -> Counter[int]:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            return Counter(pool.map(self.get, paths))

    def create_order(self) -> int:
        today = datetime.datetime.now(datetime.UTC).date().isoformat()
        payload = {**VALID_ORDER, "order_date": today, "shipping_date": today}
        response = self._session().post(self.base + "/api/orders", json=payload, timeout=10)
        return response.status_code


class SignInForm:
    """The local sign-in form as a browser posts it: CSRF cookie and token, Origin, over HTTPS."""

    def __init__(self, base: str) -> None:
        self.url = base + SIGN_IN_PATH
        page = requests.get(self.url, headers=APP_HEADERS, timeout=10)
        assert page.status_code == 200, page.status_code
        # The production cookie is Secure: requests keeps it off plain http, so it is sent by
        # hand, as the browser sends it through the gateway's HTTPS. Django takes the cookie's
        # value as the form's token too.
        self.csrf = page.cookies[CSRF_COOKIE]
        self.headers = {
            **APP_HEADERS,
            "Origin": base.replace("http://", "https://", 1),
            "Cookie": f"{CSRF_COOKIE}={self.csrf}",
        }

    def try_password(self, name: str, password: str) -> int:
        form = {"username": name, "password": password, "csrfmiddlewaretoken": self.csrf}
        response = requests.post(
            self.url, data=form, headers=self.headers, timeout=60, allow_redirects=False
        )
        return response.status_code


def prometheus_query(base: str, expr: str) -> list[dict[str, Any]]:
    response = requests.get(f"{base}/api/v1/query", params={"query": expr}, timeout=10)
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


def scalar(base: str, expr: str) -> float | None:
    result = prometheus_query(base, expr)
    return float(result[0]["value"][1]) if result else None


def wait_for_scalar(base: str, expr: str, expected: float, what: str) -> None:
    """Until Prometheus has scraped what the test sent (both workers' counters, summed)."""
    wait_until(lambda: scalar(base, expr) == expected, what=what, timeout=20, interval=0.5)


def is_card(delivery: Delivery, path: str, title_start: str) -> bool:
    try:
        title = delivery.body["attachments"][0]["content"]["body"][0]["text"]
    except (KeyError, IndexError, TypeError):
        return False
    return delivery.path == path and str(title).startswith(title_start)


def test_gunicorn_runs_two_workers(loopback: Stack) -> None:
    workers = wait_until(
        lambda: len(stack.child_pids(loopback.gunicorn_pid)) == 2,
        what="two gunicorn workers",
        timeout=20,
        interval=0.5,
    )
    assert workers


def test_server_errors_page_oncall_in_teams_and_resolve(loopback: Stack) -> None:
    client = AppClient(loopback.app_url, loopback.clerk_token)
    prometheus = loopback.prometheus_url

    # 1. Errors: ten one-second bursts, so the error counter keeps rising after Prometheus has
    #    first seen it (a counter's first sample is its baseline, not an increase).
    statuses: Counter[int] = Counter()
    for _ in range(10):
        statuses += client.burst(["/api/orders"] * 6 + [SIGN_IN_PATH] * 2)
        time.sleep(1)
    assert statuses[500] == 60, statuses
    assert statuses[200] == 20, statuses

    # Both workers' counters reach Prometheus, summed (PROMETHEUS_MULTIPROC_DIR).
    errors_seen = 'sum(django_http_responses_total_by_status_total{job="orderdesk", status="500"})'
    wait_for_scalar(
        prometheus, errors_seen, 60, "Prometheus counting all 60 server errors across both workers"
    )

    # 2. The alert fires and reaches the on-call channel as an Adaptive Card.
    firing = loopback.sink.wait_for(
        lambda d: is_card(d, ONCALL_PATH, "FIRING: OrderdeskHighErrorRatio"),
        timeout=90,
        what="FIRING OrderdeskHighErrorRatio on the on-call channel",
    )
    card = adaptive_card(firing.body)
    title, text = card_texts(card)
    assert title == "FIRING: OrderdeskHighErrorRatio in orderdesk (1)"
    assert card["body"][0]["color"] == "Attention"
    assert f"**{ERROR_SUMMARY}**" in text
    assert "of the responses of orderdesk in namespace orderdesk were 5xx" in text
    assert f"[Runbook]({RUNBOOK_BASE}#orderdeskhigherrorratio)" in text
    assert "Severity: critical" in text
    firing_alerts = prometheus_query(prometheus, 'ALERTS{alertname="OrderdeskHighErrorRatio"}')
    assert firing_alerts, "Prometheus shows no OrderdeskHighErrorRatio alert"
    assert firing_alerts[0]["metric"]["alertstate"] == "firing"

    # 3. The fix: migrations run, orders can be created, errors stop. Healthy traffic dilutes the
    #    5-minute error ratio below 5%; bounded bursts until the resolved card arrives.
    stack.manage(loopback.app_env, "migrate", "--noinput")
    assert [client.create_order() for _ in range(5)] == [201] * 5

    def resolved_after_a_healthy_burst() -> Any:
        healthy = client.burst(["/api/orders"] * 300)
        assert set(healthy) == {200}, healthy
        return next(
            (
                delivery
                for delivery in loopback.sink.received()
                if is_card(delivery, ONCALL_PATH, "RESOLVED: OrderdeskHighErrorRatio")
            ),
            None,
        )

    resolved = wait_until(
        resolved_after_a_healthy_burst,
        what="a RESOLVED card after the errors stopped",
        timeout=120,
        interval=0.1,
    )
    resolved_card = adaptive_card(resolved.body)
    resolved_title, resolved_text = card_texts(resolved_card)
    assert resolved_title == "RESOLVED: OrderdeskHighErrorRatio in orderdesk (1)"
    assert resolved_card["body"][0]["color"] == "Good"
    assert f"**{ERROR_SUMMARY}**" in resolved_text
    assert f"[Runbook]({RUNBOOK_BASE}#orderdeskhigherrorratio)" in resolved_text


def test_every_app_dashboard_query_returns_data_from_the_real_app(loopback: Stack) -> None:
    """The app dashboard's panels read series the real app exports (through our recording rules)."""
    client = AppClient(loopback.app_url, loopback.clerk_token)
    stack.manage(loopback.app_env, "migrate", "--noinput")
    assert client.create_order() == 201
    assert set(client.burst(["/api/orders"] * 50)) == {200}
    dashboard = render.load_yaml(LAYOUT.dashboards_dir / "orderdesk-app.json")
    queries = {
        f"{panel['title']} / {target['refId']}": target["expr"]
        .replace("$namespace", "orderdesk")
        .replace("$job", "orderdesk")
        .replace("$__range", "1h")
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    }
    assert len(queries) >= 10

    def empty_panels() -> list[str]:
        return [
            name
            for name, expr in queries.items()
            if not prometheus_query(loopback.prometheus_url, expr)
        ]

    def every_panel_has_data() -> bool:
        missing = empty_panels()
        if missing:
            raise NotYet(f"dashboard panels without data from the real app: {missing}")
        return True

    assert wait_until(every_panel_has_data, what="data in every panel", timeout=30, interval=1)


def test_a_spray_of_failed_sign_ins_alerts_and_one_person_locked_out_does_not(
    loopback: Stack,
) -> None:
    form = SignInForm(loopback.app_url)
    prometheus = loopback.prometheus_url
    failed = 'sum(orderdesk_sign_ins_total{job="orderdesk", result=~"failure|locked"})'
    failed_in_window = (
        "sum(namespace_job_method_result:orderdesk_sign_ins:rate5m"
        '{job="orderdesk", result=~"failure|locked"}) * 300'
    )
    # The counters are pre-declared at 0: present from the first scrape, before any sign-in.
    scraped = wait_until(
        lambda: prometheus_query(prometheus, failed),
        what="the sign-in counters in Prometheus",
        timeout=20,
        interval=0.5,
    )
    before = float(scraped[0]["value"][1])

    # 1. One person: five wrong passwords (django-axes locks the account from this address at
    #    the fifth), then the right one three times, each answered "locked".
    mistyped = [form.try_password(CLERK, "not-the-password") for _ in range(5)]
    remembered = [form.try_password(CLERK, loopback.clerk_password) for _ in range(3)]
    assert mistyped + remembered == [400] * 4 + [429] * 4
    wait_for_scalar(prometheus, failed, before + 8, "Prometheus counting 8 failed sign-ins")
    lockout = loopback.sink.wait_for(
        lambda d: is_card(d, TEAM_PATH, "FIRING: OrderdeskSignInLockout"),
        timeout=60,
        what="FIRING OrderdeskSignInLockout on the team channel",
    )
    title, text = card_texts(adaptive_card(lockout.body))
    assert title == "FIRING: OrderdeskSignInLockout in orderdesk (1)"
    assert "**An Orderdesk account was locked out after repeated failed sign-ins.**" in text
    assert f"[Runbook]({RUNBOOK_BASE}#orderdesksigninlockout)" in text
    assert "Severity: info" in text
    # The lockout alert has waited out its `for`, as long as the burst alert's here: a person
    # locked out is no burst, not even a pending one.
    value = scalar(prometheus, failed_in_window)
    assert value is not None
    assert value < 30, value
    assert not prometheus_query(prometheus, 'ALERTS{alertname="OrderdeskSignInFailureBurst"}')

    # 2. A spray: one common password against 32 names, one try each, so no account locks.
    #    One after another: on SQLite, concurrent failed sign-ins in two workers can meet
    #    "database is locked" (django-axes reads, then writes, in one deferred transaction).
    sprayed = [f"spray-{index:02d}" for index in range(32)]
    statuses = Counter(form.try_password(name, "Winter2026!") for name in sprayed)
    assert statuses == Counter({400: 32}), statuses
    # The latency objective leaves the password form out by this view name (recording rules).
    assert prometheus_query(
        prometheus,
        'django_http_requests_latency_seconds_by_view_method_bucket{view="sign-in", method="POST"}',
    )
    burst = loopback.sink.wait_for(
        lambda d: is_card(d, TEAM_PATH, "FIRING: OrderdeskSignInFailureBurst"),
        timeout=90,
        what="FIRING OrderdeskSignInFailureBurst on the team channel",
    )
    title, text = card_texts(adaptive_card(burst.body))
    assert title == "FIRING: OrderdeskSignInFailureBurst in orderdesk (1)"
    assert "**A burst of failed Orderdesk sign-ins, as password spraying makes.**" in text
    assert "sign-ins to orderdesk in namespace orderdesk failed or met a locked account" in text
    assert f"[Runbook]({RUNBOOK_BASE}#orderdesksigninfailureburst)" in text
    assert "Severity: warning" in text

    # 3. The runbook's second source of who and from where: the JSON log's audit lines, one per
    #    try, with the name and address and never what was typed as a password.
    log = loopback.processes.log("gunicorn", tail=100_000)
    audit = [
        json.loads(line)
        for line in log.splitlines()
        if '"audit_action": "sign_in_failed"' in line and line.startswith("{")
    ]
    assert [event["actor"] for event in audit].count(CLERK) == 8
    assert {event["actor"] for event in audit} >= set(sprayed)
    assert {event["address"] for event in audit} == {"127.0.0.1"}
    assert {event["logger"] for event in audit} == {"orderdesk.audit"}
    for typed in ("not-the-password", loopback.clerk_password, "Winter2026!"):
        assert typed not in log


def test_test_alert_task_reaches_the_team_channel(loopback: Stack) -> None:
    send_test_alert(Context(), alertmanager_url=loopback.alertmanager_url, minutes=2)
    delivery = loopback.sink.wait_for(
        lambda d: is_card(d, TEAM_PATH, f"FIRING: {alerts.TEST_ALERT_NAME}"),
        timeout=30,
        what=f"FIRING {alerts.TEST_ALERT_NAME} on the team channel",
    )
    _, text = card_texts(adaptive_card(delivery.body))
    assert "Test alert from invoke monitoring.test-alert" in text
    assert f"[Runbook]({RUNBOOK_BASE}#orderdesktestalert)" in text
    assert "Severity: warning" in text


def _alert(name: str, severity: str, namespace: str, **labels: str) -> dict[str, Any]:
    now = datetime.datetime.now(datetime.UTC)
    return {
        "labels": {"alertname": name, "severity": severity, "namespace": namespace, **labels},
        "annotations": {
            "summary": f"{name} (synthetic)",
            "description": f"{name} in {namespace}",
            "runbook_url": f"{RUNBOOK_BASE}#{name.lower()}",
        },
        "startsAt": now.isoformat(),
        "endsAt": (now + datetime.timedelta(minutes=5)).isoformat(),
    }


def test_target_missing_inhibits_the_apps_other_alerts_in_its_namespace(loopback: Stack) -> None:
    am = loopback.alertmanager_url
    alerts.post_alerts(
        am,
        [
            _alert("OrderdeskTargetMissing", "critical", "inhibited-ns", job="orderdesk"),
            _alert("OrderdeskHighLatency", "warning", "inhibited-ns", job="orderdesk"),
            _alert("OrderdeskHighLatency", "warning", "control-ns", job="orderdesk"),
        ],
    )
    sink = loopback.sink
    sink.wait_for(
        lambda d: is_card(d, ONCALL_PATH, "FIRING: OrderdeskTargetMissing in inhibited-ns"),
        timeout=30,
        what="the target-missing page",
    )
    sink.wait_for(
        lambda d: is_card(d, TEAM_PATH, "FIRING: OrderdeskHighLatency in control-ns"),
        timeout=30,
        what="the latency warning of the namespace whose target is up",
    )
    # Two more group intervals: the inhibited card would have been sent by now.
    time.sleep(5)
    assert not [
        d
        for d in sink.received()
        if is_card(d, TEAM_PATH, "FIRING: OrderdeskHighLatency in inhibited-ns")
    ]
    response = requests.get(
        f"{am}/api/v2/alerts",
        params={"filter": ['alertname="OrderdeskHighLatency"', 'namespace="inhibited-ns"']},
        timeout=10,
    )
    response.raise_for_status()
    (suppressed,) = response.json()
    assert suppressed["status"]["state"] == "suppressed"
    assert suppressed["status"]["inhibitedBy"], suppressed["status"]


def test_alerts_of_one_name_and_namespace_share_one_card(loopback: Stack) -> None:
    alerts.post_alerts(
        loopback.alertmanager_url,
        [
            _alert("OrderdeskPodMemoryNearLimit", "warning", "grouping-ns", pod="orderdesk-a"),
            _alert("OrderdeskPodMemoryNearLimit", "warning", "grouping-ns", pod="orderdesk-b"),
        ],
    )
    delivery = loopback.sink.wait_for(
        lambda d: is_card(d, TEAM_PATH, "FIRING: OrderdeskPodMemoryNearLimit in grouping-ns"),
        timeout=30,
        what="the grouped memory warning",
    )
    title, text = card_texts(adaptive_card(delivery.body))
    assert title.endswith("(2)")
    assert text.count("**OrderdeskPodMemoryNearLimit (synthetic)**") == 2


def test_legacy_connector_receiver_sends_a_message_card(loopback: Stack) -> None:
    """The `--teams=connector` variant: the same routes through the legacy msteams receiver."""
    secrets = loopback.workdir / "connector-webhook"
    secrets.mkdir()
    (secrets / "alerts-url").write_text(loopback.sink.url("/connector/team"))
    (secrets / "oncall-url").write_text(loopback.sink.url("/connector/oncall"))
    port = free_port()
    config = render.alertmanager_config(
        LAYOUT, teams="connector", secrets_dir=str(secrets), timing=stack.TEST_TIMING
    )
    assert "msteams_configs" in config["receivers"][1]
    stack.start_alertmanager(
        loopback.processes,
        name="alertmanager-connector",
        binary=loopback.alertmanager_binary,
        workdir=loopback.workdir / "am-connector",
        port=port,
        config=config,
    )
    send_test_alert(Context(), alertmanager_url=f"http://127.0.0.1:{port}", severity="critical")
    delivery = loopback.sink.wait_for(
        lambda d: d.path == "/connector/oncall" and isinstance(d.body, dict),
        timeout=30,
        what="a MessageCard on the legacy connector's on-call URL",
    )
    card = message_card(delivery.body)
    assert card["title"].startswith(f"FIRING: {alerts.TEST_ALERT_NAME}")
    assert "Test alert from invoke monitoring.test-alert" in card["text"]
    assert f"[Runbook]({RUNBOOK_BASE}#orderdesktestalert)" in card["text"]
