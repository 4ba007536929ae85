"""API tokens: bearer only, hashed, scoped, expiring, revocable, and refused clearly."""

from __future__ import annotations

import datetime
import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from accounts.models import ApiToken, AuditEvent, token_digest

from .conftest import bearer, signed_in

pytestmark = pytest.mark.django_db


def test_a_token_is_kept_only_as_its_hash(people: dict[str, Any]) -> None:
    token, text = ApiToken.issue(people["clerk"], "script")
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.digest == token_digest(text)
    assert text not in {str(v) for v in vars(stored).values()}
    assert text.startswith("odk_" + stored.lookup)


def test_a_token_in_the_query_string_is_refused(people: dict[str, Any]) -> None:
    _, text = ApiToken.issue(people["clerk"], "script")
    for name in ("token", "access_token"):
        response = Client().get(f"/api/orders?{name}={text}")
        assert response.status_code == 401
        assert 'error="invalid_request"' in response["WWW-Authenticate"]
        assert "Authorization: Bearer" in response.json()["error"]
    # Even beside a good header: a URL carrying a token is refused, not half-used.
    both = Client(headers={"Authorization": f"Bearer {text}"}).get(f"/api/orders?token={text}")
    assert both.status_code == 401


def test_a_read_only_token_reads_and_cannot_write(
    people: dict[str, Any], valid_order: dict[str, Any]
) -> None:
    client = Client(headers=bearer(people["admin"], read_only=True))
    assert client.get("/api/orders").status_code == 200
    written = client.post("/api/orders", valid_order, content_type="application/json")
    assert written.status_code == 403
    assert "read-only" in written.json()["error"]


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (
            lambda t, text: ApiToken.objects.filter(pk=t.pk).update(revoked_at=timezone.now()),
            "revoked",
        ),
        (
            lambda t, text: ApiToken.objects.filter(pk=t.pk).update(
                expires_at=timezone.now() - datetime.timedelta(seconds=1)
            ),
            "expired",
        ),
    ],
)
def test_revoked_and_expired_tokens_are_401_at_the_next_request(
    people: dict[str, Any], make: Any, says: str
) -> None:
    token, text = ApiToken.issue(people["clerk"], "script", days=1)
    client = Client(headers={"Authorization": f"Bearer {text}"})
    assert client.get("/api/orders").status_code == 200
    make(token, text)
    refused = client.get("/api/orders")
    assert refused.status_code == 401
    assert says in refused.json()["error"]
    assert 'error="invalid_token"' in refused["WWW-Authenticate"]


@pytest.mark.parametrize(
    "header",
    [
        "Bearer ",
        "Bearer not-a-token",
        "Bearer odk_00000000" + "x" * 43,
        "Bearer odk_" + "9" * 2000,
        "Basic dXNlcjpwYXNz",
    ],
)
def test_malformed_or_unknown_credentials_are_401_never_500(
    people: dict[str, Any], header: str
) -> None:
    response = Client(headers={"Authorization": header}).get("/api/orders")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"


def test_a_right_prefix_with_a_wrong_secret_is_refused(people: dict[str, Any]) -> None:
    _, text = ApiToken.issue(people["clerk"], "script")
    forged = text[:-4] + ("AAAA" if not text.endswith("AAAA") else "BBBB")
    assert (
        Client(headers={"Authorization": f"Bearer {forged}"}).get("/api/orders").status_code == 401
    )


def test_a_disabled_users_token_stops_at_the_next_request(people: dict[str, Any]) -> None:
    client = Client(headers=bearer(people["clerk"]))
    assert client.get("/api/orders").status_code == 200
    people["clerk"].is_active = False
    people["clerk"].save()
    assert client.get("/api/orders").status_code == 401


def test_last_use_is_recorded_at_most_once_a_minute(people: dict[str, Any]) -> None:
    token, text = ApiToken.issue(people["clerk"], "script")
    client = Client(headers={"Authorization": f"Bearer {text}"})
    client.get("/api/orders")
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first is not None
    client.get("/api/orders")
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first


def test_the_command_prints_the_token_once_as_the_last_word(people: dict[str, Any]) -> None:
    out = io.StringIO()
    call_command("orderdesk_token", "carl", "--read-only", "--days", "7", stdout=out)
    text = out.getvalue().strip().splitlines()[-1].split()[-1]
    token = ApiToken.objects.get()
    assert token.read_only
    assert token.expires_at is not None
    assert (token.expires_at - timezone.now()).days in (6, 7)
    assert Client(headers={"Authorization": f"Bearer {text}"}).get("/api/orders").status_code == 200
    event = AuditEvent.objects.get(action="token_issued")
    assert text not in str(vars(event))


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["ghost"], "No user 'ghost'"),
        (["nobody"], "has no role"),
        (["carl", "--days", "0"], "--days must be 1 to 366"),
        (["carl", "--days", "9999"], "--days must be 1 to 366"),
    ],
)
def test_the_command_refuses_what_would_make_a_useless_or_endless_token(
    people: dict[str, Any], args: list[str], says: str
) -> None:
    with pytest.raises(CommandError, match=says):
        call_command("orderdesk_token", *args)
    assert not ApiToken.objects.exists()


def test_an_admin_issues_and_revokes_in_the_page(people: dict[str, Any]) -> None:
    admin = signed_in(people["admin"])
    issued = admin.post(
        "/manage/tokens",
        {"user": people["clerk"].pk, "name": "nightly export", "days": 30, "read_only": "on"},
    )
    assert issued.status_code == 200
    assert "no-store" in issued["Cache-Control"]
    text = issued.content.decode().split('<code id="issued-token">')[1].split("</code>")[0]
    api = Client(headers={"Authorization": f"Bearer {text}"})
    assert api.get("/api/orders").status_code == 200
    listing = admin.get("/manage/tokens").content.decode()
    assert text not in listing, "a token is shown once, when issued"
    token = ApiToken.objects.get(name="nightly export")
    assert admin.post(f"/manage/tokens/{token.pk}/revoke").status_code == 302
    assert api.get("/api/orders").status_code == 401
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions[-2:] == ["token_issued", "token_revoked"]
    assert signed_in(people["clerk"]).post(f"/manage/tokens/{token.pk}/revoke").status_code == 403
