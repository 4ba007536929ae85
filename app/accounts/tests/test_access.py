"""Who may reach what: login required everywhere, roles, and the answers for everyone else."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client

from orders.tests.factories import OrderFactory

from .conftest import bearer, signed_in

pytestmark = pytest.mark.django_db

PAGES = ["/", "/orders/new", "/manage/users", "/manage/tokens", "/manage/audit"]


@pytest.mark.parametrize("path", PAGES)
def test_a_browser_without_a_session_is_sent_to_sign_in_with_next(path: str) -> None:
    response = Client().get(path + "?x=1")
    assert response.status_code == 302
    assert response["Location"] == "/auth/sign-in?next=" + quote(path + "?x=1", safe="/")


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/orders"), ("post", "/api/orders"), ("get", "/api/orders/x"), ("get", "/api")],
)
def test_the_api_answers_401_json_with_a_bearer_challenge_never_a_redirect(
    method: str, path: str
) -> None:
    response = getattr(Client(), method)(path)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response["WWW-Authenticate"] == 'Bearer realm="orderdesk"'
    assert "Location" not in response
    assert "Authorization: Bearer" in json.loads(response.content)["error"]


@pytest.mark.parametrize(
    "path", ["/healthz", "/readyz", "/metrics", "/auth/sign-in", "/auth/signed-out"]
)
def test_probes_scrapes_and_the_sign_in_pages_need_no_session(path: str) -> None:
    assert Client().get(path).status_code == 200


def test_static_files_need_no_session() -> None:
    response = Client().get("/static/orders/app.css")
    assert response.status_code == 200


def test_the_session_cookie_does_not_sign_in_the_api(people: dict[str, Any]) -> None:
    """Only a bearer token does: a browser's cookie could otherwise be ridden cross-site."""
    client = signed_in(people["admin"])
    assert client.get("/").status_code == 200
    assert client.get("/api/orders").status_code == 401


def test_a_viewer_reads_but_never_writes(
    people: dict[str, Any], valid_order: dict[str, Any]
) -> None:
    order: Any = OrderFactory()
    client = signed_in(people["viewer"])
    listing = client.get("/")
    assert listing.status_code == 200
    assert b"Add order" not in listing.content
    assert client.get(f"/orders/{order.pk}").status_code == 200
    refused = client.get("/orders/new")
    assert refused.status_code == 403
    assert b"Your role does not allow this." in refused.content
    assert client.post("/orders/new", valid_order).status_code == 403
    api = Client(headers=bearer(people["viewer"]))
    assert api.get("/api/orders").status_code == 200
    assert api.get(f"/api/orders/{order.pk}").status_code == 200
    written = api.post("/api/orders", valid_order, content_type="application/json")
    assert written.status_code == 403
    assert written.json() == {"error": "Your role does not allow this."}


def test_a_clerk_creates_and_the_order_records_who(
    people: dict[str, Any], valid_order: dict[str, Any]
) -> None:
    api = Client(headers=bearer(people["clerk"]))
    created = api.post("/api/orders", valid_order, content_type="application/json")
    assert created.status_code == 201, created.content
    assert created.json()["created_by"] == "carl"
    assert api.get(created["Location"]).json()["created_by"] == "carl"
    assert api.get("/api/orders").json()["results"][0]["created_by"] == "carl"
    page = signed_in(people["clerk"]).get(f"/orders/{created.json()['id']}")
    assert b"<dt>Created by</dt><dd>carl</dd>" in page.content
    form = signed_in(people["clerk"]).post("/orders/new", valid_order)
    assert form.status_code == 302
    assert signed_in(people["clerk"]).get("/manage/users").status_code == 403


def test_an_admin_reaches_users_tokens_and_the_audit_trail(people: dict[str, Any]) -> None:
    client = signed_in(people["admin"])
    for path in ("/manage/users", "/manage/tokens", "/manage/audit"):
        assert client.get(path).status_code == 200, path
    page = client.get("/").content.decode()
    for link in ("Users", "API tokens", "Audit trail", "Add order"):
        assert f">{link}</a>" in page


def test_a_user_without_a_role_is_told_so_and_whom_to_ask(people: dict[str, Any]) -> None:
    page = signed_in(people["none"]).get("/")
    assert page.status_code == 403
    text = page.content.decode()
    assert "have no role in Orderdesk" in text
    assert "an Orderdesk admin (ada)" in text
    api = Client(headers=bearer(people["none"])).get("/api/orders")
    assert api.status_code == 403
    assert "no Orderdesk role" in api.json()["error"]


def test_pages_name_who_is_signed_in_and_offer_sign_out_by_post(people: dict[str, Any]) -> None:
    page = signed_in(people["viewer"]).get("/").content.decode()
    assert "Signed in as <strong>vera</strong> (viewer)" in page
    assert '<form method="post" action="/auth/sign-out"' in page
    assert 'name="csrfmiddlewaretoken"' in page


def test_a_kept_list_page_never_shows_one_user_to_another(people: dict[str, Any]) -> None:
    """The page cache keeps the list for everyone with the same role; the name and the CSRF
    token are written per answer (accounts/header.py)."""
    OrderFactory()
    viewer = signed_in(people["viewer"])
    first = viewer.get("/").content.decode()
    other_viewer: Any = type(people["viewer"]).objects.create_user("vic", password=None)
    from accounts.roles import VIEWER, set_role

    set_role(other_viewer, VIEWER)
    second = signed_in(other_viewer).get("/").content.decode()
    assert "Signed in as <strong>vera</strong>" in first
    assert "Signed in as <strong>vic</strong>" in second
    assert "vera" not in second
    token = lambda page: page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]  # noqa: E731
    assert token(first) != token(second)
    clerk_page = signed_in(people["clerk"]).get("/").content.decode()
    assert ">Add order</a>" in clerk_page
    assert ">Add order</a>" not in second


def test_disabling_a_user_ends_their_session_at_the_next_request(people: dict[str, Any]) -> None:
    client = signed_in(people["clerk"])
    assert client.get("/").status_code == 200
    people["clerk"].is_active = False
    people["clerk"].save()
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/auth/sign-in")
