"""Fast, deterministic settings for the test suite. DATABASE_URL selects PostgreSQL runs."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import database_from_env

SECRET_KEY = "test-only-secret-key-not-for-production-use-0123456789abcdef"  # noqa: S105  # nosec B105  # pragma: allowlist secret
CARD_FINGERPRINT_KEY = "test-only-card-fingerprint-key"
# SQLite unless DATABASE_URL points at a server.
DATABASES = {"default": database_from_env(default_sqlite=":memory:")}  # type: ignore[arg-type]
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
# Each test makes its own table: none may see the size an earlier one left.
ORDERS_ESTIMATE_SECONDS = 0
# Password hashing is the slowest part of a sign-in; the tests sign in a lot and prove nothing
# about the hasher's cost (production keeps Django's PBKDF2 default).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if DATABASES["default"]["ENGINE"] == "orderdesk.sqlite":
    # A file, as in production: an in-memory database is shared between connections through
    # SQLite's shared cache, whose table locks fail at once ("table is locked") where a file's
    # writers wait out the busy timeout, so tests with concurrent writers would prove nothing.
    # A directory of this process's own, so parallel runs never share the file.
    _TEST_DB_DIR = tempfile.mkdtemp(prefix="orderdesk-test-db-")
    atexit.register(shutil.rmtree, _TEST_DB_DIR, ignore_errors=True)
    DATABASES["default"]["TEST"] = {"NAME": str(Path(_TEST_DB_DIR) / "test.sqlite3")}
