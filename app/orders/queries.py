"""Query building shared by the HTML list and the JSON API."""

from __future__ import annotations

from django.db.models import QuerySet

from .forms import OrderFilterForm
from .models import Order


def filtered_orders(filters: OrderFilterForm) -> QuerySet[Order]:
    """Orders matching valid filters; an invalid filter matches nothing rather than everything."""
    if not filters.is_valid():
        return Order.objects.none()
    queryset = Order.objects.all()
    if filters.cleaned_data.get("user_id"):
        queryset = queryset.filter(user_id=filters.cleaned_data["user_id"])
    if filters.cleaned_data.get("store_code"):
        queryset = queryset.filter(store_code=filters.cleaned_data["store_code"])
    return queryset
