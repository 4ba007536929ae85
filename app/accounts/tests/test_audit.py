"""The audit trail: what happened, who, when, from where; append-only; never a secret in it."""

from __future__ import annotations

import io
import logging
import sys
from typing import Any
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.test import Client, override_settings

from accounts.addresses import client_address
from accounts.models import AppendOnly, AuditEvent

from .conftest import bearer, signed_in
from .users import PASSWORD

pytestmark = pytest.mark.django_db

CARD = "4242 4242 4242 4242"


def test_events_are_never_changed_or_deleted_through_the_app(people: dict[str, Any]) -> None:
    signed_in(people["clerk"]).post("/auth/sign-out")
    event = AuditEvent.objects.get(action="sign_out")
    event.detail = "rewritten"
    with pytest.raises(AppendOnly):
        event.save()
    with pytest.raises(AppendOnly):
        event.delete()
    assert AuditEvent.objects.get(pk=event.pk).detail == ""


def test_the_trail_and_the_log_never_hold_a_password_token_or_card(
    people: dict[str, Any], valid_order: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="orderdesk.audit")
    wrong = "Wrong-" + PASSWORD
    Client().post("/auth/sign-in", {"username": "carl", "password": wrong})
    Client().post("/auth/sign-in", {"username": "carl", "password": PASSWORD})
    header = bearer(people["clerk"])
    created = Client(headers=header).post(
        "/api/orders", valid_order | {"card_number": CARD}, content_type="application/json"
    )
    assert created.status_code == 201
    admin = signed_in(people["admin"])
    issued = admin.post(
        "/manage/tokens", {"user": people["clerk"].pk, "name": "nightly", "days": 5}
    ).content.decode()
    new_token = issued.split('<code id="issued-token">')[1].split("</code>")[0]
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"sign_in_failed", "sign_in", "order_created", "token_issued"} <= actions
    trail = " ".join(
        " ".join(str(v) for v in row)
        for row in AuditEvent.objects.values_list("actor_name", "target", "detail", "address")
    )
    log = caplog.text
    for secret in (
        PASSWORD,
        wrong,
        header["Authorization"].split()[1],
        new_token,
        CARD,
        CARD.replace(" ", ""),
    ):
        assert secret not in trail
        assert secret not in log
    order = AuditEvent.objects.get(action="order_created")
    assert (order.actor_name, order.target, order.detail) == ("carl", created.json()["id"], "api")


def test_admins_filter_the_trail_and_others_cannot_see_it(people: dict[str, Any]) -> None:
    Client(REMOTE_ADDR="198.51.100.20").post("/auth/sign-in", {"username": "vera", "password": "x"})
    signed_in(people["clerk"]).post("/auth/sign-out")
    admin = signed_in(people["admin"])
    failed = admin.get("/manage/audit?action=sign_in_failed").content.decode()
    assert "198.51.100.20" in failed
    assert "Signed out" not in failed.split("<tbody>")[1]
    by_actor = admin.get("/manage/audit?actor=carl").content.decode().split("<tbody>")[1]
    assert "carl" in by_actor
    assert "vera" not in by_actor
    bad = admin.get("/manage/audit?since=not-a-date")
    assert bad.status_code == 200
    assert "No events match." in bad.content.decode()
    assert signed_in(people["clerk"]).get("/manage/audit").status_code == 403


@pytest.mark.parametrize(
    ("proxies", "forwarded", "remote", "expected"),
    [
        (0, "203.0.113.5", "10.0.0.4", "10.0.0.4"),
        (1, "203.0.113.5", "10.0.0.4", "203.0.113.5"),
        (1, "6.6.6.6, 203.0.113.5", "10.0.0.4", "203.0.113.5"),
        (1, "203.0.113.5:51234", "10.0.0.4", "203.0.113.5"),
        (1, "[2001:db8::1]:443", "10.0.0.4", "2001:db8::1"),
        (1, "not-an-address", "10.0.0.4", None),
        (2, "203.0.113.5", "10.0.0.4", "10.0.0.4"),
    ],
)
def test_the_address_is_read_as_far_as_our_proxies_are_trusted(
    rf: Any, proxies: int, forwarded: str, remote: str, expected: str | None
) -> None:
    request = rf.get("/", HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR=remote)
    with override_settings(ORDERDESK_TRUSTED_PROXIES=proxies):
        assert client_address(request) == expected


def test_user_changes_by_an_admin_are_audited_and_take_effect(people: dict[str, Any]) -> None:
    admin = signed_in(people["admin"])
    viewer = signed_in(people["viewer"])
    assert viewer.get("/").status_code == 200
    answer = admin.post(f"/manage/users/{people['viewer'].pk}", {"role": "clerk"})
    assert answer.status_code == 302
    assert viewer.get("/").status_code == 302, "unticked 'active': the account is disabled"
    event = AuditEvent.objects.get(action="user_changed")
    assert (event.actor_name, event.target, event.detail) == ("ada", "vera", "role=clerk disabled")
    own = admin.post(f"/manage/users/{people['admin'].pk}", {"role": "admin"})
    assert own.status_code == 400
    assert b"cannot disable your own account" in own.content


def test_the_user_command_never_takes_a_password_from_argv(people: dict[str, Any]) -> None:
    with pytest.raises(CommandError, match="unrecognized arguments"):
        call_command("orderdesk_user", "zed", "--role", "viewer", "--password", "x")
    out = io.StringIO()
    with mock.patch.object(sys, "stdin", io.StringIO("a fine long passphrase 9\n")):
        call_command("orderdesk_user", "zed", "--role", "viewer", "--password-stdin", stdout=out)
    assert out.getvalue().strip() == "zed created: role viewer, active"
    with (
        mock.patch.object(sys, "stdin", io.StringIO("short\n")),
        pytest.raises(CommandError, match="The password is refused"),
    ):
        call_command("orderdesk_user", "yan", "--role", "viewer", "--password-stdin")
