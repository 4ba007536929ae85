"""Test data: orders as the app would store them (no card number anywhere)."""

from __future__ import annotations

import datetime

import factory
from django.conf import settings
from django.utils import timezone

from orders.cards import fingerprint
from orders.models import Order

# The form's and the API's field names: part of the product's contract, so spelled out here
# rather than read back from OrderForm (which would make the tests agree with any rename).
REQUIRED_ORDER_FIELDS = (
    "user_id",
    "store_code",
    "product_code",
    "quantity",
    "order_date",
    "shipping_date",
    "card_number",
)
ORDER_FIELDS = (*REQUIRED_ORDER_FIELDS, "delivery_date")


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    user_id = factory.Sequence(lambda n: f"user-{n % 7}")
    store_code = factory.Sequence(lambda n: f"ST-{n % 3:03d}")
    product_code = factory.Sequence(lambda n: f"SKU-{n:05d}")
    quantity = 1
    order_date = factory.LazyFunction(lambda: timezone.localdate() - datetime.timedelta(days=3))
    shipping_date = factory.LazyAttribute(lambda o: o.order_date + datetime.timedelta(days=1))
    delivery_date = None
    card_brand = "Visa"
    card_last4 = "4242"
    card_fingerprint = factory.LazyFunction(
        lambda: fingerprint("4242424242424242", settings.CARD_FINGERPRINT_KEY)
    )
    created_at = factory.Sequence(
        lambda n: timezone.now() - datetime.timedelta(days=30) + datetime.timedelta(seconds=n)
    )
