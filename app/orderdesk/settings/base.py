"""Settings shared by every environment. Values a deployment changes come from the environment."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url

from orderdesk.environment import flag, names, origin_of, secret, text, whole_number
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
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_prometheus",
    "axes",
    "accounts",
    "orders",
]

MIDDLEWARE = [
    # Probes and scrapes come first: they carry pod IPs as Host and must never be redirected.
    "orderdesk.middleware.InternalEndpointsMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "orderdesk.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # /api is signed in by a bearer token only, never by the session cookie (accounts/tokens.py).
    "accounts.middleware.ApiTokenMiddleware",
    # Signed-in sessions end after ORDERDESK_IDLE_MINUTES without a request.
    "accounts.middleware.IdleTimeoutMiddleware",
    # Every view needs a signed-in user unless marked @login_not_required; /api answers 401 JSON.
    "accounts.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Locks an account out of a client address after repeated failed sign-ins (django-axes).
    "axes.middleware.AxesMiddleware",
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
                # Who is signed in and what their role may do (accounts/header.py).
                "accounts.header.context",
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
        # Every write to orders queues on the change counter's one row (orders/pagecache.py):
        # a writer waits for it at most lock_timeout, then is told to retry (orders/busy.py),
        # and no statement outlives the worker (gunicorn's timeout, 30 s by default). Sent as
        # startup parameters: they cost no query and leave prepared statements alone.
        # 0 turns either off (a long migration or bulk load).
        lock_ms = whole_number("DATABASE_LOCK_TIMEOUT_MS", 5_000)
        statement_ms = whole_number("DATABASE_STATEMENT_TIMEOUT_MS", 25_000)
        config["OPTIONS"]["options"] = (
            f"-c lock_timeout={lock_ms} -c statement_timeout={statement_ms}"
        )
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
        # A transaction that reads and then writes (django-axes counting a failed sign-in, a
        # session's save) takes the write lock at BEGIN: two such deferred transactions in two
        # workers would deadlock, and SQLite answers one with "database is locked" at once.
        config["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
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

# Messages travel in a signed cookie: a kept list page can tell there are none without the session.
MESSAGE_STORAGE = "django.contrib.messages.storage.cookie.CookieStorage"

# --- Sign-in ------------------------------------------------------------------------------
# ORDERDESK_AUTH chooses how people sign in: "local" (accounts in this database, Django's
# password hashing) or "entra" (Microsoft Entra ID through OpenID Connect, accounts/entra.py).
ORDERDESK_AUTH = text("ORDERDESK_AUTH") or "local"
LOGIN_URL = "sign-in"
LOGIN_REDIRECT_URL = "order-list"
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out account before a password is checked.
    "axes.backends.AxesStandaloneBackend",
    "accounts.backends.RoleBackend",
    "accounts.entra.EntraBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sessions live in the database, so signing out or disabling a user ends them in every worker and
# pod at the next request. The cookie is HttpOnly and SameSite=Lax (production adds Secure).
SESSION_COOKIE_NAME = "orderdesk_session"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
ORDERDESK_IDLE_MINUTES = whole_number("ORDERDESK_IDLE_MINUTES", 30, minimum=1)
SESSION_COOKIE_AGE = ORDERDESK_IDLE_MINUTES * 60
# Who a signed-in user without a role is told to ask (the page lists the admins otherwise).
ORDERDESK_ACCESS_CONTACT = text("ORDERDESK_ACCESS_CONTACT")
# How many proxies in front of the app append to X-Forwarded-For (the Application Gateway: 1):
# the audit trail and the lockout read the client's address that many entries from the right.
ORDERDESK_TRUSTED_PROXIES = whole_number("ORDERDESK_TRUSTED_PROXIES", 0)
# Entra ID (ORDERDESK_AUTH=entra): the app registration's tenant and client id; the client
# proves itself with the pod's workload identity token (AZURE_FEDERATED_TOKEN_FILE, set by the
# AKS webhook) as its assertion, or with a client secret when there is none.
ENTRA_TENANT_ID = text("ORDERDESK_ENTRA_TENANT_ID")
ENTRA_CLIENT_ID = text("ORDERDESK_ENTRA_CLIENT_ID")
ENTRA_CLIENT_SECRET = secret("ORDERDESK_ENTRA_CLIENT_SECRET")
ENTRA_ASSERTION_FILE = text("AZURE_FEDERATED_TOKEN_FILE")
# Entra's v2.0 issuer for the tenant; a local OpenID Connect provider (invoke up --sso, the
# tests) stands in for it through ORDERDESK_OIDC_ISSUER.
ENTRA_ISSUER = text("ORDERDESK_OIDC_ISSUER") or (
    f"https://login.microsoftonline.com/{ENTRA_TENANT_ID}/v2.0" if ENTRA_TENANT_ID else ""
)
# Break-glass: local accounts may also sign in while Entra ID is the way in.
ORDERDESK_LOCAL_SIGN_IN = flag("ORDERDESK_LOCAL_SIGN_IN", ORDERDESK_AUTH == "local")

# django-axes: 5 failures of one account from one address lock that pair out for 15 minutes;
# attempts are kept in the database, so every worker and pod counts the same failures.
AXES_FAILURE_LIMIT = whole_number("ORDERDESK_LOCKOUT_FAILURES", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=whole_number("ORDERDESK_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "accounts.addresses.client_address"
# The name as the form would take it: axes keeps it in a varchar(255), and a 10 kB name tried
# must be refused by the form, not overflow that column (PostgreSQL) into a 500.
AXES_USERNAME_CALLABLE = "accounts.addresses.attempted_username"
AXES_LOCKOUT_CALLABLE = "accounts.views.locked_out"
# The attempts table keeps the names tried, never what was typed as a password.
AXES_SENSITIVE_PARAMETERS = ["password"]
AXES_VERBOSE = False

# The JSON API and the forms accept small payloads only; bigger ones are refused with 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 100
# No view takes a file: a multipart file part is refused by the parser (400) before CSRF or a
# form reads the body.
DATA_UPLOAD_MAX_NUMBER_FILES = 0

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_COOKIE_HTTPONLY = True
# Signing out of Entra ID is the sign-out form's redirect to the provider's end-session page,
# and browsers hold a form's redirects to form-action: the provider's origin is allowed there.
_SIGN_OUT_ORIGIN = (
    " " + origin_of(ENTRA_ISSUER) if ORDERDESK_AUTH == "entra" and ENTRA_ISSUER else ""
)
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    f"form-action 'self'{_SIGN_OUT_ORIGIN}; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
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
        # Pages go out of date by the orders' change token, which is part of their key; the
        # timeout is the last guard should the token ever fail to move (orders/pagecache.py).
        "TIMEOUT": whole_number("ORDERS_PAGE_CACHE_SECONDS", 300, minimum=1),
        "OPTIONS": {"MAX_ENTRIES": max(ORDERS_PAGE_CACHE_ENTRIES, 1)},
    },
}

# Django's own handlers would mail admins or print tracebacks with request data.
# django-axes reports every sign-in at INFO; accounts/audit.py already records each, once.
LOGGING = json_stdout_logging(
    text("LOG_LEVEL") or "INFO", {"django": {"level": "INFO"}, "axes": {"level": "WARNING"}}
)
