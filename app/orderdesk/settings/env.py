"""Reading settings from the environment, including secrets mounted as files (Key Vault CSI)."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = env_str(name)
    if not raw:
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use true or false")


def env_int(name: str, default: int) -> int:
    raw = env_str(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number") from None


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = env_str(name)
    if not raw:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_secret(name: str) -> str:
    """A secret from NAME, or from the file named by NAME_FILE (how Key Vault mounts it).

    The file wins when both are set: it is the rotated value the CSI driver keeps current.
    """
    file_name = env_str(f"{name}_FILE")
    if file_name:
        path = Path(file_name)
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{name}_FILE points at {file_name}, which cannot be read ({exc.strerror}); "
                f"mount the secret there or set {name} instead"
            ) from None
        if not value:
            raise ImproperlyConfigured(f"{name}_FILE points at {file_name}, which is empty")
        return value
    return env_str(name)


def require_secret(name: str, purpose: str) -> str:
    value = env_secret(name)
    if not value:
        raise ImproperlyConfigured(
            f"{name} is not set: {purpose}. Set {name}, or {name}_FILE to a file holding it."
        )
    return value
