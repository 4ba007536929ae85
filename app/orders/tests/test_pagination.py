from __future__ import annotations

import datetime
import itertools
import re
import uuid
from html import unescape
from typing import Any
from urllib.parse import quote

import pytest
from django.core import signing
from django.db.models import F
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orders import pagination
from orders.forms import OrderFilterForm
from orders.models import Order
from orders.pagination import (
    Cursor,
    InvalidCursor,
    fetch,
    newest_first_after,
    oldest_first_before,
    paginate,
)
from orders.queries import filtered_orders, shown_rows
from orders.shown import SHOWN_COLUMNS, ShownOrder

pytestmark = pytest.mark.django_db


def walk_forward(size: int, between_pages: Any = None) -> list[str]:
    seen: list[str] = []
    after = None
    for _ in range(10_000):
        page = paginate(shown_rows(), size=size, after=after)
        seen.extend(str(order.id) for order in page.orders)
        if page.next_cursor is None:
            return seen
        after = page.next_cursor
        if between_pages:
            between_pages()
    raise AssertionError("pagination did not end")


def test_no_duplicates_or_gaps_while_new_orders_arrive(order_factory: Any) -> None:
    existing = {str(o.id) for o in order_factory.create_batch(103)}
    counter = itertools.count()

    def new_order_arrives() -> None:
        order_factory(created_at=timezone.now() + datetime.timedelta(seconds=next(counter)))

    seen = walk_forward(25, new_order_arrives)
    assert len(seen) == len(set(seen)), "an order appeared on two pages"
    assert set(seen) == existing, "an order was skipped"


def test_ties_on_created_at_are_broken_by_id(order_factory: Any) -> None:
    moment = timezone.now()
    created = {str(o.id) for o in order_factory.create_batch(60, created_at=moment)}
    seen = walk_forward(7)
    assert len(seen) == 60
    assert set(seen) == created


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    total=st.integers(0, 60),
    size=st.integers(1, 12),
    same_second=st.lists(st.booleans(), min_size=60, max_size=60),
)
def test_pages_cover_every_order_exactly_once(
    order_factory: Any, total: int, size: int, same_second: list[bool]
) -> None:
    Order.objects.all().delete()
    base = timezone.now()
    # Many rows share a timestamp so the id tie-breaker is exercised too.
    orders = [
        order_factory(created_at=base - datetime.timedelta(seconds=0 if same_second[i] else i))
        for i in range(total)
    ]
    seen = walk_forward(size)
    assert seen == [
        str(o.id) for o in sorted(orders, key=lambda o: (o.created_at, o.id), reverse=True)
    ]


def test_previous_returns_the_same_page(order_factory: Any) -> None:
    order_factory.create_batch(12)
    first = paginate(shown_rows(), size=5)
    second = paginate(shown_rows(), size=5, after=first.next_cursor)
    back = paginate(shown_rows(), size=5, before=second.previous_cursor)
    assert [o.id for o in back.orders] == [o.id for o in first.orders]
    assert back.previous_cursor is None


@pytest.mark.parametrize(
    "token", ["", "garbage", Cursor(timezone.now(), uuid.uuid4()).encode() + "x"]
)
def test_tampered_cursors_are_refused(token: str) -> None:
    with pytest.raises(InvalidCursor):
        Cursor.decode(token)


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"user_id": "USER-3"},
        {"store_code": "st-00"},
        {"user_id": "user-", "store_code": "ST-002"},
    ],
)
def test_a_page_query_compiled_once_returns_what_the_orm_does(
    order_factory: Any, filters: dict[str, str]
) -> None:
    moment = timezone.now()
    # Half the orders share a timestamp, so the cursor's id tie-breaker is in play.
    order_factory.create_batch(20, created_at=moment)
    order_factory.create_batch(20)
    queryset = filtered_orders(OrderFilterForm(filters))
    assert queryset.exists(), "the filters must match some orders"
    shape = tuple(sorted(filters.items()))
    middle = ShownOrder._make(list(newest_first_after(queryset, None))[len(queryset) // 2])
    for cursor in (None, Cursor.of(middle)):
        for newest_first, orm_order in ((True, newest_first_after), (False, oldest_first_before)):
            expected = [ShownOrder._make(row) for row in orm_order(queryset, cursor)[:7]]
            assert expected, "every direction must have rows to compare"
            for _ in range(2):  # compiled, then from the cache
                found = fetch(queryset, cursor, newest_first=newest_first, limit=7, shape=shape)
                assert found == expected


@pytest.mark.parametrize("microsecond", [0, 1, 999_999])
def test_the_database_writes_ids_times_and_dates_as_python_would(
    order_factory: Any, microsecond: int
) -> None:
    """The page shows the database's text of each value: it must be what formatting the typed
    value gives, on SQLite and on PostgreSQL alike (CI runs this file on both)."""
    created = datetime.datetime(2024, 2, 29, 23, 59, 58, microsecond, tzinfo=datetime.UTC)
    order_factory(created_at=created)
    order_factory(
        created_at=created - datetime.timedelta(hours=1),
        order_date=datetime.date(2024, 1, 31),
        shipping_date=datetime.date(2024, 2, 1),
        delivery_date=datetime.date(2024, 12, 9),
    )
    typed = list(Order.objects.order_by("-created_at"))
    rows = fetch(shown_rows(), None, newest_first=True, limit=5)
    assert rows == [ShownOrder.of(order) for order in typed]
    assert rows[0].id == str(typed[0].id)
    assert rows[0].created_iso == typed[0].created_at.isoformat()
    assert rows[0].created_minute == "2024-02-29 23:59"
    assert (rows[0].delivery_date, rows[1].delivery_date) == (None, "2024-12-09")
    assert (rows[1].order_date, rows[1].shipping_date) == ("2024-01-31", "2024-02-01")
    assert rows[0].key() == (typed[0].created_at, typed[0].id)


def test_a_shown_column_the_driver_would_type_is_refused() -> None:
    """Rows are made straight from the driver's values: a typed column would reach the page as
    whatever the driver returns (on SQLite, a time as text without its time zone)."""
    typed = Order.objects.annotate(
        **{
            column: F(column.removesuffix("_text"))
            for column in SHOWN_COLUMNS
            if column.endswith("_text")
        }
    ).values_list(*SHOWN_COLUMNS)
    with pytest.raises(TypeError, match="select it as text"):
        fetch(typed, None, newest_first=True, limit=1)


def test_a_cursor_needs_no_escaping_in_a_link_and_old_links_still_work() -> None:
    cursor = Cursor(timezone.now(), uuid.uuid4(), 26)
    token = cursor.encode()
    assert quote(token, safe="") == token
    assert Cursor.decode(token) == cursor
    # As links were made before: signing.dumps, ":" before the signature, compress asked for.
    fields = [cursor.created_at.isoformat(), cursor.id.hex, cursor.position]
    made_before = signing.dumps(fields, salt=pagination._SALT, compress=True)
    assert ":" in made_before
    assert Cursor.decode(made_before) == cursor


def arrive(order_factory: Any, count: int) -> None:
    """`count` orders newer than every order so far."""
    newest = Order.objects.order_by("-created_at").values_list("created_at", flat=True).first()
    start = (newest or timezone.now()) + datetime.timedelta(seconds=1)
    for offset in range(count):
        order_factory(created_at=start + datetime.timedelta(seconds=offset))


def summaries(html: str) -> list[str]:
    return [line for line in html.splitlines() if 'class="summary"' in line]


def previous_link(html: str) -> str | None:
    match = re.search(r'<a rel="prev" href="([^"]+)"', html)
    return unescape(match.group(1)) if match else None


@pytest.mark.parametrize("size", [5, 25])
def test_paging_back_while_orders_arrive_never_shows_a_place_below_one(
    client: Client, order_factory: Any, settings: Any, size: int
) -> None:
    """Forward two pages, then many orders arrive, then back along the app's own links."""
    settings.ORDERS_PAGE_SIZE = size
    arrive(order_factory, 3 * size)
    page = client.get("/")
    for _ in range(2):
        following = re.search(r'<a rel="next" href="([^"]+)"', page.content.decode())
        assert following is not None
        page = client.get("/" + unescape(following[1]))
        assert page.status_code == 200
    arrive(order_factory, 3 * size + 2)
    unknown_seen = False
    link = previous_link(page.content.decode())
    for _ in range(20):
        if link is None:
            break
        page = client.get("/" + link)
        assert page.status_code == 200, (link, page.content[:500])
        html = page.content.decode()
        places = [
            int(n.replace(",", ""))
            for n in re.findall(r"Orders ([\d,]+)", "".join(summaries(html)))
        ]
        assert all(place >= 1 for place in places), summaries(html)
        if "where these stand in the list is unknown" in html:
            unknown_seen = True
            assert not places, summaries(html)
        link = previous_link(html)
    else:
        pytest.fail("the previous links never reached the first page")
    assert unknown_seen, "the walk back never reached a page whose place was unknown"
    assert "Orders 1\N{EN DASH}" in "".join(summaries(page.content.decode()))


def test_the_apis_previous_links_answer_while_orders_arrive(
    client: Client, order_factory: Any, settings: Any
) -> None:
    settings.ORDERS_PAGE_SIZE = 5
    arrive(order_factory, 15)
    body = client.get("/api/orders").json()
    for _ in range(2):
        body = client.get(body["next"]).json()
    arrive(order_factory, 17)
    seen = 0
    link = body["previous"]
    while link is not None:
        response = client.get(link)
        assert response.status_code == 200, response.content
        seen += 1
        assert seen < 20, "the previous links never reached the first page"
        link = response.json()["previous"]
    assert seen >= 2


def test_a_link_made_with_a_place_below_one_is_followed_not_refused() -> None:
    """Earlier versions signed such places into links while orders arrived."""
    fields = [timezone.now().isoformat(), uuid.uuid4().hex, -24]
    token = pagination._signer().sign_object(fields)
    assert Cursor.decode(token).position is None
