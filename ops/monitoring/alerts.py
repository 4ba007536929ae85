"""Send a synthetic alert straight to Alertmanager's API, to prove the path to Teams works."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from ops.core import web
from ops.monitoring.layout import RUNBOOK_BASE

TEST_ALERT_NAME = "OrderdeskTestAlert"


class AlertmanagerUnreachable(Exception):
    """Alertmanager did not accept the alert."""


def synthetic_alert(
    *,
    severity: str = "warning",
    namespace: str = "orderdesk",
    lasts: timedelta = timedelta(minutes=5),
    now: datetime | None = None,
) -> dict[str, Any]:
    """A test alert that resolves by itself after `lasts` (Alertmanager then sends "resolved")."""
    start = now or datetime.now(UTC)
    return {
        "labels": {
            "alertname": TEST_ALERT_NAME,
            "severity": severity,
            "namespace": namespace,
            "job": "orderdesk-test-alert",
        },
        "annotations": {
            "summary": "Test alert from invoke monitoring.test-alert: the path to Teams works.",
            "description": (
                f"A synthetic {severity} alert for namespace {namespace}, sent at "
                f"{start:%Y-%m-%d %H:%M:%S} UTC. It resolves by itself at "
                f"{start + lasts:%H:%M:%S} UTC."
            ),
            "runbook_url": f"{RUNBOOK_BASE}#orderdesktestalert",
        },
        "startsAt": start.isoformat(),
        "endsAt": (start + lasts).isoformat(),
        "generatorURL": "https://github.com/orderdesk/orderdesk/blob/main/ops/monitoring/alerts.py",
    }


def post_alerts(alertmanager_url: str, alerts: list[dict[str, Any]], timeout: float = 10.0) -> None:
    """POST alerts to Alertmanager's v2 API."""
    url = alertmanager_url.rstrip("/") + "/api/v2/alerts"
    if not url.startswith(("http://", "https://")):
        raise AlertmanagerUnreachable(f"{alertmanager_url!r} is not an http(s) URL")
    try:
        response = web.post_json(url, alerts, timeout=timeout)
    except requests.RequestException as exc:
        raise AlertmanagerUnreachable(f"cannot reach {url}: {exc}") from exc
    if response.status_code != 200:
        detail = response.text[:300]
        raise AlertmanagerUnreachable(
            f"{url} refused the alert: HTTP {response.status_code} {detail}"
        )
