"""Liveness, readiness and metrics: small views that never touch templates or sessions."""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django_prometheus.exports import ExportToDjangoView

from orders import pagecache

logger = logging.getLogger(__name__)


@login_not_required
def healthz(request: HttpRequest) -> HttpResponse:
    """The process is alive and serving; no database, so a database outage never restarts pods."""
    return JsonResponse({"status": "ok"})


@login_not_required
def readyz(request: HttpRequest) -> HttpResponse:
    """Ready when the database answers a trivial query; the detail says whether the list's
    page cache is on or standing aside, and why (orders/pagecache.py), which never makes the
    pod unready: pages are then made afresh."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        logger.warning("readiness check failed: database unavailable (%s)", type(exc).__name__)
        # Drop the broken connection so the next probe reconnects instead of reusing it.
        connection.close_if_unusable_or_obsolete()
        return JsonResponse({"status": "unavailable", "database": "down"}, status=503)
    return JsonResponse({"status": "ready", "database": "up", "page_cache": pagecache.state()})


@login_not_required
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition; with PROMETHEUS_MULTIPROC_DIR set it sums every gunicorn worker."""
    return ExportToDjangoView(request)
