"""Local accounts: signing in and out, where it leads, lockout, sessions, and bad input."""

from __future__ import annotations

import time
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.hashers import check_password
from django.test import Client, override_settings

from accounts.middleware import IdleTimeoutMiddleware
from accounts.models import AuditEvent

from .users import PASSWORD

pytestmark = pytest.mark.django_db


def sign_in(client: Client, username: str, password: str = PASSWORD, **extra: Any) -> Any:
    return client.post("/auth/sign-in", {"username": username, "password": password, **extra})


def test_signing_in_lands_on_next_with_a_new_session_key(people: dict[str, Any]) -> None:
    client = Client()
    client.get("/auth/sign-in")
    client.cookies["orderdesk_session"] = "planted-by-someone-else"
    response = sign_in(client, "carl", next="/orders/new")
    assert response.status_code == 302
    assert response["Location"] == "/orders/new"
    assert client.cookies["orderdesk_session"].value != "planted-by-someone-else"
    assert client.get("/orders/new").status_code == 200
    event = AuditEvent.objects.get(action="sign_in")
    assert (event.actor_name, event.address, event.detail) == ("carl", "127.0.0.1", "password")


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/",
        "//evil.example/path",
        "http://testserver.evil.example/",
        "javascript:alert(1)",
        "/\\evil.example",
        "",
    ],
)
def test_an_off_site_or_scheme_relative_next_goes_to_the_list(
    people: dict[str, Any], next_url: str
) -> None:
    response = sign_in(Client(), "carl", next=next_url)
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_a_wrong_password_shows_the_page_with_a_message_and_no_session(
    people: dict[str, Any],
) -> None:
    client = Client()
    response = sign_in(client, "carl", "not-the-password")
    assert response.status_code == 400
    assert b"Please enter a correct username and password" in response.content
    assert client.get("/").status_code == 302
    failed = AuditEvent.objects.get(action="sign_in_failed")
    assert failed.actor_name == "carl"
    assert "not-the-password" not in str(vars(failed))


def test_five_failures_lock_that_account_from_that_address_only(people: dict[str, Any]) -> None:
    attacker = Client(REMOTE_ADDR="198.51.100.7")
    for _ in range(4):
        assert sign_in(attacker, "carl", "guess").status_code == 400
    assert sign_in(attacker, "carl", "guess").status_code == 429, "the fifth failure locks"
    locked = sign_in(attacker, "carl")  # even the right password, now
    assert locked.status_code == 429
    assert b"Too many failed sign-ins" in locked.content
    assert b"axes_reset_username" in locked.content
    assert attacker.get("/").status_code == 302
    # Another account from that address, and the same account from its owner's: unaffected.
    assert sign_in(Client(REMOTE_ADDR="198.51.100.7"), "vera").status_code == 302
    assert sign_in(Client(REMOTE_ADDR="203.0.113.9"), "carl").status_code == 302


def test_a_flood_of_wrong_passwords_costs_five_password_checks(people: dict[str, Any]) -> None:
    """After the lockout no password is hashed: a flood costs a lookup per try, whatever its
    length (1,000 here; each is one more of the same request)."""
    attacker = Client(REMOTE_ADDR="198.51.100.8")
    with mock.patch(
        "django.contrib.auth.base_user.check_password", wraps=check_password
    ) as checked:
        answers = {sign_in(attacker, "carl", f"guess-{n}").status_code for n in range(1_000)}
    assert answers == {400, 429}
    assert checked.call_count == 5


@pytest.mark.parametrize(
    ("username", "password"),
    [("x" * 10_000, "pw"), ("carl", "p" * 60_000), ("carl\x00", "pw"), ("", "")],
)
def test_oversized_or_odd_credentials_get_a_4xx_never_a_500_never_a_session(
    people: dict[str, Any], username: str, password: str
) -> None:
    client = Client()
    response = sign_in(client, username, password)
    assert 400 <= response.status_code < 500
    assert client.get("/").status_code == 302


def test_a_session_cookie_from_another_deployment_signs_nobody_in(people: dict[str, Any]) -> None:
    """Another deployment signs its session hashes with its own SECRET_KEY."""
    client = Client()
    assert sign_in(client, "carl").status_code == 302
    with override_settings(SECRET_KEY="another-deployment-" + "k" * 40):  # pragma: allowlist secret
        response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/auth/sign-in")
    stranger = Client()
    stranger.cookies["orderdesk_session"] = "x" * 32
    assert stranger.get("/").status_code == 302


def test_an_idle_session_ends(people: dict[str, Any]) -> None:
    client = Client()
    sign_in(client, "carl")
    assert client.get("/").status_code == 200
    session = client.session
    session[IdleTimeoutMiddleware.KEY] = int(time.time()) - 31 * 60
    session.save()
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/auth/sign-in")
    assert client.get("/").status_code == 302


def test_sign_out_is_a_post_with_the_csrf_token(people: dict[str, Any]) -> None:
    client = Client(enforce_csrf_checks=True)
    page = client.get("/auth/sign-in").content.decode()
    csrf = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    assert (
        client.post(
            "/auth/sign-in", {"username": "carl", "password": PASSWORD, "csrfmiddlewaretoken": csrf}
        ).status_code
        == 302
    )
    assert client.get("/auth/sign-out").status_code == 405
    assert client.post("/auth/sign-out").status_code == 403, "no CSRF token, no sign-out"
    listing = client.get("/").content.decode()
    csrf = listing.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    signed_out = client.post("/auth/sign-out", {"csrfmiddlewaretoken": csrf})
    assert signed_out.status_code == 302
    assert signed_out["Location"] == "/auth/signed-out"
    assert client.get("/").status_code == 302
    assert AuditEvent.objects.filter(action="sign_out", actor_name="carl").count() == 1


@override_settings(ORDERDESK_LOCAL_SIGN_IN=False, ORDERDESK_AUTH="entra")
def test_local_passwords_are_refused_where_entra_is_the_only_way_in(people: dict[str, Any]) -> None:
    client = Client()
    response = sign_in(client, "carl")
    assert response.status_code == 400
    assert client.get("/").status_code == 302
