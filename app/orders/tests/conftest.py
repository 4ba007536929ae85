from __future__ import annotations

import datetime
import os
from typing import Any

import pytest
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
