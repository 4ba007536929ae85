"""Settings shared by every environment. Values a deployment changes come from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url

from orderdesk.environment import flag, names, secret, text, whole_number
from orderdesk.logs import json_stdout_logging

APP_DIR = Path(__file__).resolve().parent.parent.parent
DATA_DIR = Path(text("ORDERDESK_DATA_DIR") or APP_DIR.parent / ".data")

SECRET_KEY = secret("DJANGO_SECRET_KEY")
# HMAC key for card fingerprints; kept apart from SECRET_KEY so either can rotate on its own.
CARD_FINGERPRINT_KEY = secret("ORDERDESK_CARD_KEY")

DEBUG = False
ALLOWED_HOSTS = names("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = names("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_prometheus",
    "orders",
]

MIDDLEWARE = [
    # Probes and scrapes come first: they carry pod IPs as Host and must never be redirected.
    "orderdesk.middleware.InternalEndpointsMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "orderdesk.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

# Widgets render through Jinja2 too: Django's engine cost more than the rest of the list page.
FORM_RENDERER = "django.forms.renderers.Jinja2"

ROOT_URLCONF = "orderdesk.urls"
WSGI_APPLICATION = "orderdesk.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        # Pages live in each app's jinja2/ folder; see orderdesk/jinja2.py for why Jinja2.
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "environment": "orderdesk.jinja2.environment",
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def database_from_env(default_sqlite: Path) -> dict[str, Any]:
    """DATABASE_URL (SQLite file by default), with the password optionally from a file."""
    config: dict[str, Any] = {}
    config |= dj_database_url.parse(
        text("DATABASE_URL") or f"sqlite:///{default_sqlite}",
        conn_max_age=whole_number("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=flag("DATABASE_CONN_HEALTH_CHECKS", True),
    )
    password = secret("DATABASE_PASSWORD")
    if password:
        config["PASSWORD"] = password
    engine = config["ENGINE"]
    # django-prometheus' backends time every query: the dashboards' "database time".
    if engine == "django.db.backends.postgresql":
        config["ENGINE"] = "django_prometheus.db.backends.postgresql"
        # Readiness must answer in seconds when the database is gone, not hang on connect.
        config.setdefault("OPTIONS", {}).setdefault("connect_timeout", 3)
        if flag("DATABASE_REQUIRE_TLS", False):
            config["OPTIONS"]["sslmode"] = "require"
        # Parameters bound by the server let psycopg prepare a statement once a connection has
        # run it 5 times: PostgreSQL then skips parsing and planning it, 40 % of its CPU for a
        # list page (bench/throughput.py). Off for a transaction-mode pooler that cannot keep
        # prepared statements (PgBouncer before 1.21, or without max_prepared_statements).
        if flag("DATABASE_PREPARED_STATEMENTS", True):
            config["OPTIONS"] |= {"server_side_binding": True, "prepare_threshold": 5}
    elif engine == "django.db.backends.sqlite3":
        # django-prometheus' backend with its cursor class made once (orderdesk/sqlite/base.py).
        config["ENGINE"] = "orderdesk.sqlite"
        config.setdefault("OPTIONS", {})["timeout"] = 5
    return config


DATABASES = {"default": database_from_env(DATA_DIR / "orderdesk.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
# Only production collects static files (at image build); elsewhere they come from the apps.
STATIC_ROOT = text("STATIC_ROOT") or None
# Serve straight from the apps' static dirs; production swaps in collected, hashed files.
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Messages travel in a signed cookie: the app keeps no server-side sessions.
MESSAGE_STORAGE = "django.contrib.messages.storage.cookie.CookieStorage"

# The JSON API and the form accept small payloads only; bigger ones are refused with 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 100

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_COOKIE_HTTPONLY = True
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)

ORDERS_PAGE_SIZE = 25
# How long a worker reuses the database's estimate of the table's size, once it is above the
# list's exact-count cap (orders/pagination.py); 0 asks on every request.
ORDERS_ESTIMATE_SECONDS = whole_number("ORDERS_ESTIMATE_SECONDS", 10)
# How many list pages (HTML and API) a worker keeps while the orders stay unchanged
# (orders/pagecache.py); 0 makes every page afresh. A page is about 10-12 kB.
ORDERS_PAGE_CACHE_ENTRIES = whole_number("ORDERS_PAGE_CACHE_ENTRIES", 500)
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "pages": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "orders-pages",
        # Pages go out of date by the orders' change counter, which is part of their key.
        "TIMEOUT": None,
        "OPTIONS": {"MAX_ENTRIES": max(ORDERS_PAGE_CACHE_ENTRIES, 1)},
    },
}

# Django's own handlers would mail admins or print tracebacks with request data.
LOGGING = json_stdout_logging(text("LOG_LEVEL") or "INFO", {"django": {"level": "INFO"}})
