"""A developer's machine: `invoke up`. Debug on, SQLite, secrets generated once per checkout."""

from __future__ import annotations

import secrets
from pathlib import Path

from orderdesk.environment import flag

from .base import *  # noqa: F403
from .base import DATA_DIR


def _local_secret(name: str) -> str:
    """A random secret kept in .data/ (git-ignored), so a restart keeps cookies and fingerprints."""
    path = Path(DATA_DIR) / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


DEBUG = flag("DJANGO_DEBUG", True)
SECRET_KEY = SECRET_KEY or _local_secret("secret_key")  # noqa: F405
CARD_FINGERPRINT_KEY = CARD_FINGERPRINT_KEY or _local_secret("card_key")  # noqa: F405
