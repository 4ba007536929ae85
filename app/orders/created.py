"""An order made by a signed-in user, by form or API: who made it is kept with it and audited."""

from __future__ import annotations

from accounts import audit
from accounts.models import AuditAction
from django.db import transaction
from django.http import HttpRequest

from .forms import OrderForm
from .metrics import ORDERS_CREATED
from .models import Order


def create_order(request: HttpRequest, form: OrderForm, *, channel: str) -> Order:
    """Save a valid form's order as the request's user's, with its audit event, at once."""
    user = request.user
    with transaction.atomic():
        order = form.save(created_by=user, created_by_name=audit.display_name(user))
        audit.record(
            AuditAction.ORDER_CREATED, request, user=user, target=str(order.id), detail=channel
        )
    ORDERS_CREATED.labels(channel=channel).inc()
    return order
