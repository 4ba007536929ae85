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


def follow(client: Client, page: str, rel: str) -> str:
    link = re.search(rf'rel="{rel}" href="([^"]+)"', page)
    assert link is not None, f"no {rel} link"
    return client.get("/" + link.group(1).replace("&amp;", "&")).content.decode()


def test_list_pages_25_at_a_time_and_says_where_you_are(client: Client, order_factory: Any) -> None:
    order_factory.create_batch(30)
    first = client.get("/").content.decode()
    assert first.count("<tr>") == 26  # header row + 25 orders
    assert "Orders 1\N{EN DASH}25 of 30, newest first" in first
    assert 'rel="prev"' not in first
    assert 'rel="first"' not in first
    second = follow(client, first, "next")
    assert second.count("<tr>") == 6
    assert "Orders 26\N{EN DASH}30 of 30" in second
    assert 'rel="next"' not in second
    assert 'rel="last"' not in second
    assert "Orders 1\N{EN DASH}25 of 30" in follow(client, second, "prev")
    assert "Orders 1\N{EN DASH}25 of 30" in follow(client, second, "first")


def test_last_page_is_the_oldest_orders(client: Client, order_factory: Any) -> None:
    orders = order_factory.create_batch(30)
    last = follow(client, client.get("/").content.decode(), "last")
    assert "Orders 6\N{EN DASH}30 of 30" in last
    assert orders[0].product_code in last  # the oldest
    assert orders[-1].product_code not in last  # the newest
    assert 'rel="next"' not in last
    assert "Orders 1\N{EN DASH}5 of 30" in follow(client, last, "prev")


def test_rows_link_to_the_order_and_to_their_user_and_store(
    client: Client, order_factory: Any
) -> None:
    order = order_factory(user_id="alice.b", store_code="ST-9")
    page = client.get("/").content.decode()
    assert f'href="/orders/{order.id}"' in page
    assert f"<code>{order.id.hex[:8]}</code>" in page
    assert 'href="/?user_id=alice.b"' in page
    assert 'href="/?store_code=ST-9"' in page


def test_list_filters_by_user_and_store_prefix_in_any_case(
    client: Client, order_factory: Any
) -> None:
    order_factory(user_id="Alice", store_code="ST-1", product_code="A-ONE")
    order_factory(user_id="alice2", store_code="ST-2", product_code="A-TWO")
    order_factory(user_id="bob", store_code="ST-1", product_code="B-ONE")
    page = client.get("/", {"user_id": "ALI", "store_code": "st-1"}).content.decode()
    assert "A-ONE" in page
    assert "A-TWO" not in page
    assert "B-ONE" not in page
    assert "Orders 1\N{EN DASH}1 of 1 matching the filters" in page
    both_alices = client.get("/", {"user_id": "alice"}).content.decode()
    assert "A-ONE" in both_alices
    assert "A-TWO" in both_alices


def test_a_filter_that_finds_nothing_says_what_was_searched(
    client: Client, order_factory: Any
) -> None:
    order_factory(user_id="alice")
    empty = client.get("/", {"user_id": "carol"}).content.decode()
    assert "No orders match user ID starting with “carol” (any case)." in empty
    assert "shorten the prefix" in empty
    assert '<a href="/">show all orders</a>' in empty


def test_invalid_filter_is_reported_not_widened(client: Client, order_factory: Any) -> None:
    order_factory()
    page = client.get("/", {"store_code": "<x>"}).content.decode()
    assert "Use letters, digits and dashes only" in page
    assert 'aria-describedby="id_store_code_error"' in page
    assert 'id="id_store_code_error"' in page
    assert 'aria-invalid="true"' in page
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
    # Each error is tied to its input, and the summary links to the fields.
    assert 'aria-describedby="id_quantity_error"' in page
    assert 'id="id_quantity_error"' in page
    assert '<a href="#id_quantity">Quantity: Ensure this value' in page
    assert 'value="user-42"' in page
    assert "4242424242424241" not in page
    assert Order.objects.count() == 0


def test_good_order_redirects_with_confirmation(
    client: Client, valid_order: dict[str, Any]
) -> None:
    response = client.post(reverse("order-create"), valid_order, follow=True)
    page = response.content.decode()
    assert response.redirect_chain == [("/", 302)]
    order = Order.objects.get()
    assert (
        f'Order created: <a href="/orders/{order.id}">3 x SKU-1001 for user-42</a>, '
        "paid with Visa •••• 4242." in page
    )
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
