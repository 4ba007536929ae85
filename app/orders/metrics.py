"""Business metrics, beside django-prometheus' request and database metrics."""

from prometheus_client import Counter

ORDERS_CREATED = Counter(
    "orderdesk_orders_created",
    "Orders created, by the channel they came through.",
    ["channel"],
)
