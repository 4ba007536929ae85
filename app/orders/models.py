"""Orders. Card data is kept the PCI DSS way: brand, last four digits and a keyed fingerprint."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

MAX_QUANTITY = 10_000


class Order(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user_id = models.CharField(max_length=64)
    store_code = models.CharField(max_length=16)
    product_code = models.CharField(max_length=32)
    quantity = models.PositiveIntegerField()
    order_date = models.DateField()
    shipping_date = models.DateField()
    delivery_date = models.DateField(null=True, blank=True)
    card_brand = models.CharField(max_length=32)
    card_last4 = models.CharField(max_length=4)
    card_fingerprint = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Who created it: the account, never deleted while it has orders (users are disabled
    # instead), and its name as it was then, which the API shows without a join.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    created_by_name = models.CharField(max_length=150, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # Keyset pagination walks (created_at, id) newest first, optionally within a filter.
            models.Index(fields=["-created_at", "-id"], name="order_newest_idx"),
            models.Index(fields=["user_id", "-created_at", "-id"], name="order_user_newest_idx"),
            models.Index(
                fields=["store_code", "-created_at", "-id"], name="order_store_newest_idx"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=1, quantity__lte=MAX_QUANTITY),
                name="order_quantity_in_range",
            ),
            models.CheckConstraint(
                condition=Q(shipping_date__gte=F("order_date")),
                name="order_ships_after_ordered",
            ),
            models.CheckConstraint(
                condition=Q(delivery_date__isnull=True) | Q(delivery_date__gte=F("shipping_date")),
                name="order_delivered_after_shipped",
            ),
        ]

    def __str__(self) -> str:
        return f"Order {self.id} ({self.quantity} x {self.product_code})"

    @property
    def masked_card(self) -> str:
        return masked_card(self.card_brand, self.card_last4)


def masked_card(brand: str, last4: str) -> str:
    return f"{brand} •••• {last4}"
