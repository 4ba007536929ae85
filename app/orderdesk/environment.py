"""Settings from the environment, through django-environ's FileAwareEnv.

A secret may come as NAME or as a file named by NAME_FILE (how Key Vault's CSI driver mounts it;
the file wins). What the library leaves out is here: values are checked, and a bad one stops
the start with a message that names the variable and the fix. Free of Django settings so that
gunicorn.conf.py reads through it too.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

env = environ.FileAwareEnv()

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def text(name: str, default: str = "") -> str:
    return str(env.str(name, default=default)).strip()


def flag(name: str, default: bool) -> bool:
    raw = text(name).lower()
    if not raw:
        return default
    if raw in _TRUE | _FALSE:
        return raw in _TRUE
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use true or false")


def whole_number(name: str, default: int, *, minimum: int = 0) -> int:
    raw = text(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number of at least {minimum}")
    return value


def names(name: str, default: list[str] | None = None) -> list[str]:
    items = [item.strip() for item in env.list(name, default=default or [])]
    return [item for item in items if item]


def secret(name: str, *, required_for: str = "") -> str:
    """NAME, or the content of the file NAME_FILE names; required when required_for says why."""
    file_name = os.environ.get(f"{name}_FILE", "").strip()
    try:
        value = text(name)
    except OSError as exc:
        raise ImproperlyConfigured(
            f"{name}_FILE points at {file_name}, which cannot be read ({exc.strerror}); "
            f"mount the secret there or set {name} instead"
        ) from None
    if file_name and not value:
        raise ImproperlyConfigured(f"{name}_FILE points at {file_name}, which is empty")
    if required_for and not value:
        raise ImproperlyConfigured(
            f"{name} is not set: {required_for}. Set {name}, or {name}_FILE to a file holding it."
        )
    return value


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL, as CSP and CORS name an origin."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
