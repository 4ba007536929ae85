"""Routes. Other parts of the product (probes, scrapes, smoke tests) rely on these paths."""

from django.urls import include, path, re_path

from orders import api, views

from . import health

urlpatterns = [
    path("", views.order_list, name="order-list"),
    path("orders/new", views.order_create, name="order-create"),
    path("orders/<uuid:order_id>", views.order_detail, name="order-detail"),
    # Signing in and out; admins' pages for users, tokens and the audit trail.
    path("", include("accounts.urls")),
    path("api/orders", api.orders, name="api-orders"),
    path("api/orders/<uuid:order_id>", api.order_detail, name="api-order-detail"),
    # Every other /api/ path (a malformed id too) answers JSON, never the HTML 404 page.
    re_path(r"^api(?:/.*)?$", api.not_found),
    # Normally answered by InternalEndpointsMiddleware; routed too so reverse() and tests work.
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
]
