from __future__ import annotations

import datetime
import os
import time
from typing import Any

import pytest
from accounts.middleware import IdleTimeoutMiddleware
from accounts.models import ApiToken
from accounts.roles import CLERK
from accounts.tests.users import make_user
from django.test import Client
from django.utils import timezone

from orders.tests.factories import OrderFactory

VISA = "4242 4242 4242 4242"


@pytest.fixture
def today() -> datetime.date:
    return timezone.localdate()


@pytest.fixture
def valid_order(today: datetime.date) -> dict[str, Any]:
    """A form/API payload that passes every rule; tests change one field at a time."""
    return {
        "user_id": "user-42",
        "store_code": "st-001",
        "product_code": "sku-1001",
        "quantity": 3,
        "order_date": (today - datetime.timedelta(days=2)).isoformat(),
        "shipping_date": (today - datetime.timedelta(days=1)).isoformat(),
        "delivery_date": today.isoformat(),
        "card_number": VISA,
    }


@pytest.fixture
def order_factory(db: None) -> type[OrderFactory]:
    return OrderFactory


@pytest.fixture
def on_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith("postgres")


@pytest.fixture
def clerk(db: None) -> Any:
    """A signed-in clerk: may list, read and create orders (accounts/roles.py)."""
    return make_user("clerk-1", CLERK)


@pytest.fixture
def client(clerk: Any) -> Client:
    """The test client of pytest-django, signed in as a clerk, with the clerk's API token:
    the order tests are about orders, the sign-in tests (app/accounts/tests) about access."""
    _, token = ApiToken.issue(clerk, "tests")
    signed_in = Client(headers={"Authorization": f"Bearer {token}"})
    signed_in.force_login(clerk)
    # The idle clock set now: the session is not saved again by the requests a test counts.
    session = signed_in.session
    session[IdleTimeoutMiddleware.KEY] = int(time.time())
    session.save()
    return signed_in
