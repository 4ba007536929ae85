from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from orders.models import Order
from orders.tests.factories import ORDER_FIELDS

pytestmark = pytest.mark.django_db


def test_empty_list_is_friendly(client: Client) -> None:
    page = client.get("/").content.decode()
    assert "No orders yet." in page
    assert 'href="/orders/new"' in page


def test_list_shows_masked_cards_newest_first(client: Client, order_factory: Any) -> None:
    old, new = order_factory(product_code="OLD-1"), order_factory(product_code="NEW-1")
    page = client.get("/").content.decode()
    assert page.index(new.product_code) < page.index(old.product_code)
    assert "Visa •••• 4242" in page


def test_list_pages_25_at_a_time_with_next_and_previous(client: Client, order_factory: Any) -> None:
    order_factory.create_batch(30)
    first = client.get("/").content.decode()
    assert first.count("<tr>") == 26  # header row + 25 orders
    assert 'rel="prev"' not in first
    next_link = re.search(r'rel="next" href="([^"]+)"', first)
    assert next_link is not None
    second = client.get("/" + next_link.group(1).replace("&amp;", "&")).content.decode()
    assert second.count("<tr>") == 6
    assert 'rel="next"' not in second
    assert 'rel="prev"' in second


def test_list_filters_by_user_and_store(client: Client, order_factory: Any) -> None:
    order_factory(user_id="alice", store_code="ST-1", product_code="A-ONE")
    order_factory(user_id="alice", store_code="ST-2", product_code="A-TWO")
    order_factory(user_id="bob", store_code="ST-1", product_code="B-ONE")
    page = client.get("/", {"user_id": "alice", "store_code": "st-1"}).content.decode()
    assert "A-ONE" in page
    assert "A-TWO" not in page
    assert "B-ONE" not in page
    empty = client.get("/", {"user_id": "carol"}).content.decode()
    assert "No orders match these filters." in empty


def test_invalid_filter_is_reported_not_widened(client: Client, order_factory: Any) -> None:
    order_factory()
    page = client.get("/", {"store_code": "<x>"}).content.decode()
    assert "Use letters, digits and dashes only." in page
    assert "Visa •••• 4242" not in page


def test_tampered_cursor_is_a_400_with_a_way_back(client: Client) -> None:
    response = client.get("/", {"after": "not-a-cursor"})
    assert response.status_code == 400
    assert "Go to the first page of orders" in response.content.decode()


def test_form_shows_every_field(client: Client) -> None:
    page = client.get(reverse("order-create")).content.decode()
    for name in ORDER_FIELDS:
        assert f'name="{name}"' in page
    assert "csrfmiddlewaretoken" in page


def test_bad_order_shows_messages_and_keeps_entries_except_card(
    client: Client, valid_order: dict[str, Any]
) -> None:
    response = client.post(
        reverse("order-create"), {**valid_order, "quantity": "0", "card_number": "4242424242424241"}
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert "Ensure this value is greater than or equal to 1." in page
    assert "This card number is not valid" in page
    assert 'value="user-42"' in page
    assert "4242424242424241" not in page
    assert Order.objects.count() == 0


def test_good_order_redirects_with_confirmation(
    client: Client, valid_order: dict[str, Any]
) -> None:
    response = client.post(reverse("order-create"), valid_order, follow=True)
    page = response.content.decode()
    assert response.redirect_chain == [("/", 302)]
    assert "Order created: 3 x SKU-1001 for user-42, paid with Visa •••• 4242." in page
    order = Order.objects.get()
    assert (order.card_brand, order.card_last4) == ("Visa", "4242")


def test_form_enforces_csrf(valid_order: dict[str, Any]) -> None:
    response = Client(enforce_csrf_checks=True).post(reverse("order-create"), valid_order)
    assert response.status_code == 403
    assert Order.objects.count() == 0


def test_detail_page_and_404(client: Client, order_factory: Any) -> None:
    order = order_factory()
    assert "Visa •••• 4242" in client.get(f"/orders/{order.id}").content.decode()
    assert client.get("/orders/00000000-0000-4000-8000-000000000000").status_code == 404
    assert client.get("/orders/not-a-uuid").status_code == 404
