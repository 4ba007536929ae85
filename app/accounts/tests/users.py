"""Users for tests: made with a role, a password Django's validators accept."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from accounts.roles import set_role

PASSWORD = "correct horse battery staple 42"  # pragma: allowlist secret


def make_user(username: str, role: str | None, *, password: str = PASSWORD) -> Any:
    user = get_user_model().objects.create_user(username=username, password=password)
    set_role(user, role)
    return user
