"""Entra ID sign-in in the app: forged and replayed tokens refused, users keyed on tid + oid,
roles from the `roles` claim at every sign-in, and the client's proof sent as Entra wants it."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from accounts.models import AuditEvent, ExternalIdentity
from accounts.roles import role_of

from . import forging_provider
from .forging_provider import CLIENT_ID, CLIENT_SECRET, TENANT, ForgingProvider

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider() -> Iterator[ForgingProvider]:
    yield from forging_provider.serve()


@pytest.fixture
def entra(provider: ForgingProvider) -> Iterator[ForgingProvider]:
    with override_settings(
        ORDERDESK_AUTH="entra",
        ORDERDESK_LOCAL_SIGN_IN=False,
        ENTRA_TENANT_ID=TENANT,
        ENTRA_CLIENT_ID=CLIENT_ID,
        ENTRA_CLIENT_SECRET=CLIENT_SECRET,
        ENTRA_ASSERTION_FILE="",
        ENTRA_ISSUER=provider.issuer,
    ):
        yield provider


def start(client: Client) -> dict[str, str]:
    """The app's redirect to the provider's authorize endpoint, as its query parameters."""
    response = client.get("/auth/oidc/start?next=/orders/new")
    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    return {name: values[0] for name, values in query.items()}


def sign_in(client: Client, provider: ForgingProvider, **changes: Any) -> Any:
    asked = start(client)
    nonce = changes.pop("nonce", asked["nonce"])
    provider.id_token = provider.sign(provider.claims(nonce, **changes))
    return client.get(f"/auth/oidc/callback?code=one-time&state={asked['state']}")


def assert_refused(client: Client, response: Any) -> None:
    assert response.status_code == 403, response.content[:300]
    assert b"message-error" in response.content
    assert client.get("/").status_code == 302, "no session"
    assert AuditEvent.objects.filter(action="sign_in_failed").exists()


def test_a_valid_sign_in_lands_on_next_as_the_tid_oid_user_with_its_role(
    entra: ForgingProvider,
) -> None:
    client = Client()
    response = sign_in(client, entra)
    assert response.status_code == 302
    assert response["Location"] == "/orders/new"
    identity = ExternalIdentity.objects.select_related("user").get()
    assert (identity.tenant_id, identity.object_id) == (
        TENANT,
        "00000000-0000-0000-0000-00000000a11c",
    )
    assert identity.user.get_full_name() == "Alice Admin"
    assert role_of(identity.user) == "admin"
    assert client.get("/manage/users").status_code == 200
    assert AuditEvent.objects.get(action="sign_in").detail == "entra"


def test_pkce_and_the_code_reach_the_token_endpoint(entra: ForgingProvider) -> None:
    client = Client()
    asked = start(client)
    assert asked["code_challenge_method"] == "S256"
    entra.id_token = entra.sign(entra.claims(asked["nonce"]))
    client.get(f"/auth/oidc/callback?code=one-time&state={asked['state']}")
    sent = entra.token_requests[-1]
    verifier = sent["code_verifier"][0]
    digest = hashlib.sha256(verifier.encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == asked["code_challenge"]
    assert sent["code"] == ["one-time"]
    assert sent["client_secret"] == [CLIENT_SECRET]


def test_the_workload_identity_token_is_the_client_assertion_and_no_secret_is_sent(
    entra: ForgingProvider, tmp_path: Path
) -> None:
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text("eyJ.projected-service-account-token.sig\n")
    with override_settings(ENTRA_ASSERTION_FILE=str(token_file)):
        client = Client()
        assert sign_in(client, entra).status_code == 302
    sent = entra.token_requests[-1]
    assert sent["client_assertion_type"] == [
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    ]
    assert sent["client_assertion"] == ["eyJ.projected-service-account-token.sig"]
    assert sent["client_id"] == [CLIENT_ID]
    assert "client_secret" not in sent
    assert sent["authorization"] == [""]


def _unsigned(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


FORGERIES: dict[str, Any] = {
    "signed by another key": lambda p, c: p.sign(
        c, RSAKey.generate_key(2048, parameters={"kid": "k1"})
    ),
    "alg none": lambda p, c: _unsigned(c),
    "HS256 with the client secret": lambda p, c: jwt.encode(
        {"alg": "HS256"}, c, OctKey.import_key(CLIENT_SECRET)
    ),
    "not a JWT at all": lambda p, c: "not-a-jwt",
}


@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_forged_signature_is_refused(entra: ForgingProvider, forgery: str) -> None:
    # A provider whose discovery even offers the weaker algorithms changes nothing.
    entra.algorithms = ["RS256", "HS256", "none"]
    client = Client()
    asked = start(client)
    entra.id_token = FORGERIES[forgery](entra, entra.claims(asked["nonce"]))
    assert_refused(client, client.get(f"/auth/oidc/callback?code=c&state={asked['state']}"))


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "https://login.microsoftonline.com/another-tenant/v2.0"},
        {"aud": "another-app"},
        {"tid": "99999999-9999-9999-9999-999999999999"},
        {"exp": 1_000_000_000, "iat": 999_990_000, "nbf": 999_990_000},
        {"nonce": "replayed-from-another-sign-in"},
        {"oid": None},
        {"tid": None},
    ],
    ids=["issuer", "audience", "tenant", "expired", "nonce", "no oid", "no tid"],
)
def test_a_token_for_someone_else_or_from_the_past_is_refused(
    entra: ForgingProvider, changes: dict[str, Any]
) -> None:
    client = Client()
    assert_refused(client, sign_in(client, entra, **changes))
    assert not ExternalIdentity.objects.exists()


def test_a_replayed_callback_is_refused(entra: ForgingProvider) -> None:
    client = Client()
    asked = start(client)
    entra.id_token = entra.sign(entra.claims(asked["nonce"]))
    callback = f"/auth/oidc/callback?code=one-time&state={asked['state']}"
    assert client.get(callback).status_code == 302
    attacker = Client()
    attacker.cookies = client.cookies
    client.post("/auth/sign-out")  # the sign-out ends that session; the state was used once
    assert_refused(attacker, attacker.get(callback))


@pytest.mark.parametrize(
    "query",
    ["code=c&state=never-issued", "code=c", "error=access_denied&error_description=no", ""],
)
def test_a_callback_without_its_state_or_with_an_error_is_refused(
    entra: ForgingProvider, query: str
) -> None:
    client = Client()
    start(client)
    assert_refused(client, client.get(f"/auth/oidc/callback?{query}"))


def test_users_are_keyed_on_oid_never_on_the_name(entra: ForgingProvider) -> None:
    sign_in(Client(), entra)
    # Someone else later given the same UPN is a new user, not the old one.
    sign_in(Client(), entra, oid="00000000-0000-0000-0000-0000000b0b00", roles=["Orderdesk.Viewer"])
    # The first person renamed is still the first user.
    sign_in(Client(), entra, preferred_username="alice.new@contoso.example")
    users = get_user_model().objects.order_by("pk")
    assert users.count() == 2
    first, second = users
    assert first.email == "alice.new@contoso.example"
    assert role_of(first) == "admin"
    assert role_of(second) == "viewer"
    assert first.get_username() != second.get_username()


def test_roles_are_applied_again_at_every_sign_in(entra: ForgingProvider) -> None:
    assert sign_in(Client(), entra).status_code == 302
    client = Client()
    sign_in(client, entra, roles=None)
    user = get_user_model().objects.get()
    assert role_of(user) is None
    page = client.get("/")
    assert page.status_code == 403
    assert b"have no role in Orderdesk" in page.content
    sign_in(Client(), entra, roles=["Orderdesk.Viewer", "Orderdesk.Clerk", "Not.Ours"])
    assert role_of(user) == "clerk"


def test_a_disabled_user_is_not_signed_in_by_entra(entra: ForgingProvider) -> None:
    sign_in(Client(), entra)
    get_user_model().objects.update(is_active=False)
    client = Client()
    assert_refused(client, sign_in(client, entra))
    failed = AuditEvent.objects.get(action="sign_in_failed")
    assert failed.detail == "entra: This account is disabled here; ask an Orderdesk admin."


def test_an_unreachable_provider_is_a_clear_page_not_a_500() -> None:
    with override_settings(
        ORDERDESK_AUTH="entra",
        ENTRA_TENANT_ID=TENANT,
        ENTRA_CLIENT_ID=CLIENT_ID,
        ENTRA_ISSUER="http://127.0.0.1:9/nothing-listens/v2.0",
    ):
        response = Client().get("/auth/oidc/start")
    assert response.status_code == 503
    assert b"Entra ID cannot be reached" in response.content


def test_sign_out_ends_the_session_here_and_at_the_provider(entra: ForgingProvider) -> None:
    client = Client()
    sign_in(client, entra)
    response = client.post("/auth/sign-out")
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{entra.origin}/logout"
    query = parse_qs(location.query)
    assert query["post_logout_redirect_uri"] == ["http://testserver/auth/signed-out"]
    assert client.get("/").status_code == 302
