from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import ApiToken
from accounts.roles import ADMIN, CLERK, VIEWER
from orders.tests.conftest import today, valid_order

from .users import make_user

__all__ = ["today", "valid_order"]


@pytest.fixture
def people(db: None) -> dict[str, Any]:
    return {
        "viewer": make_user("vera", VIEWER),
        "clerk": make_user("carl", CLERK),
        "admin": make_user("ada", ADMIN),
        "none": make_user("nobody", None),
    }


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def bearer(user: Any, *, read_only: bool = False, **extra: Any) -> dict[str, str]:
    _, text = ApiToken.issue(user, "test", read_only=read_only, **extra)
    return {"Authorization": f"Bearer {text}"}
