"""Seed N fake orders fast: bulk inserts in one transaction per batch (a million in minutes)."""

from __future__ import annotations

import datetime
import random
import time
import uuid
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from orders.cards import detect_brand, fingerprint, luhn_valid
from orders.models import Order

# Issuer prefixes that detect_brand accepts, with the length their numbers have.
_CARD_SHAPES = (("4", 16), ("51", 16), ("37", 15), ("6011", 16), ("3530", 16), ("62", 16))


def fake_card_number(rng: random.Random) -> str:
    prefix, length = rng.choice(_CARD_SHAPES)
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    for check in "0123456789":
        if luhn_valid(body + check):
            return body + check
    raise AssertionError("unreachable: one check digit always satisfies Luhn")


class Command(BaseCommand):
    help = "Insert N fake orders (bulk, fast). Used by `invoke up`, the tests and bench/."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("count", type=int, help="how many orders to create")
        parser.add_argument("--batch-size", type=int, default=5000)
        parser.add_argument("--seed", type=int, default=None, help="random seed (repeatable)")
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing when orders already exist"
        )

    def handle(self, *args: Any, count: int, batch_size: int, **options: Any) -> None:
        if count < 1:
            raise CommandError("count must be at least 1")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if options["if_empty"] and Order.objects.exists():
            self.stdout.write("Orders exist already; nothing seeded.")
            return
        rng = random.Random(options["seed"])  # noqa: S311  # nosec B311 - fake data, not secrets
        key = settings.CARD_FINGERPRINT_KEY
        now = timezone.now()
        today = timezone.localdate()
        started = time.perf_counter()
        created = 0
        while created < count:
            size = min(batch_size, count - created)
            batch = [self._fake(rng, key, now, today, created + i) for i in range(size)]
            with transaction.atomic():
                Order.objects.bulk_create(batch, batch_size=min(size, 2000))
            created += size
        elapsed = time.perf_counter() - started
        self.stdout.write(f"Seeded {created} orders in {elapsed:.1f}s.")

    @staticmethod
    def _fake(
        rng: random.Random, key: str, now: datetime.datetime, today: datetime.date, index: int
    ) -> Order:
        number = fake_card_number(rng)
        ordered = today - datetime.timedelta(days=rng.randrange(365))
        shipped = ordered + datetime.timedelta(days=rng.randrange(5))
        delivered = shipped + datetime.timedelta(days=rng.randrange(1, 8))
        return Order(
            id=uuid.UUID(int=rng.getrandbits(128), version=4),
            user_id=f"user-{rng.randrange(50_000):05d}",
            store_code=f"ST-{rng.randrange(200):03d}",
            product_code=f"SKU-{rng.randrange(10_000):05d}",
            quantity=rng.randrange(1, 21),
            order_date=ordered,
            shipping_date=shipped,
            delivery_date=delivered if rng.random() < 0.7 else None,
            card_brand=detect_brand(number) or "Unknown",
            card_last4=number[-4:],
            card_fingerprint=fingerprint(number, key),
            # One order a second, going back in time: distinct and realistic timestamps.
            created_at=now - datetime.timedelta(seconds=index),
        )
