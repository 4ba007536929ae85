"""The local identity provider behaves like Microsoft Entra ID's v2.0 endpoint where Orderdesk
relies on it: discovery, authorization code + PKCE through a real login page, RS256 ID tokens
with Entra's claims, roles read at every sign-in, sign-out, and client authentication by secret
or by assertion. Driven over HTTP with requests against the real binary (tools/oidc-provider).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from ops.sandbox import oidc
from ops.sandbox.oidc import ROLE_ADMIN, ROLE_CLERK, ROLE_VIEWER, OidcProvider
from tests.idp import TEST_POST_LOGOUT_REDIRECT_URI, TEST_REDIRECT_URI, require_provider_build

TIMEOUT = 10
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


# --- a browser's part of the flow, with requests ---------------------------------------------


class _Form(HTMLParser):
    """The login page's form: its action, inputs and the ids its labels point at."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.inputs: dict[str, str] = {}
        self.labelled: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.action = attributes.get("action", "")
        elif tag == "input":
            self.inputs[attributes["name"]] = attributes.get("value", "")
        elif tag == "label":
            self.labelled.add(attributes.get("for", ""))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_form(html: str) -> _Form:
    form = _Form()
    form.feed(html)
    return form


@dataclass
class Attempt:
    """One authorization request: what the app keeps until the code comes back."""

    verifier: str
    state: str
    nonce: str
    session: requests.Session
    login: requests.Response  # the login page the authorize step led to


def discovery(provider: OidcProvider) -> dict[str, Any]:
    response = requests.get(provider.discovery_url, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


def authorize(
    provider: OidcProvider, *, scope: str = "openid profile", **overrides: str
) -> tuple[requests.Response, Attempt]:
    """GET the authorize endpoint as the app's redirect would; not followed."""
    verifier = secrets.token_urlsafe(48)
    params = {
        "client_id": provider.client_id,
        "response_type": "code",
        "redirect_uri": TEST_REDIRECT_URI,
        "scope": scope,
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16),
        "code_challenge": s256(verifier),
        "code_challenge_method": "S256",
        **overrides,
    }
    session = requests.Session()
    response = session.get(
        discovery(provider)["authorization_endpoint"],
        params=params,
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    return response, Attempt(verifier, params["state"], params["nonce"], session, response)


def open_login(provider: OidcProvider, **overrides: str) -> Attempt:
    """The authorize step up to the login page a browser would show."""
    redirect, attempt = authorize(provider, **overrides)
    assert redirect.status_code == 302, redirect.text
    page = attempt.session.get(urljoin(redirect.url, redirect.headers["Location"]), timeout=TIMEOUT)
    assert page.status_code == 200, page.text
    attempt.login = page
    return attempt


def submit_login(attempt: Attempt, username: str, password: str) -> requests.Response:
    form = parse_form(attempt.login.text)
    # A real form a person (and Playwright) can fill: each field has a label.
    assert {"username", "password"} <= form.labelled, form.labelled
    data = {**form.inputs, "username": username, "password": password}
    return attempt.session.post(
        urljoin(attempt.login.url, form.action), data=data, allow_redirects=False, timeout=TIMEOUT
    )


def sign_in(provider: OidcProvider, username: str, **overrides: str) -> tuple[str, Attempt]:
    """Sign in through the login page; return the code the app's redirect URI receives."""
    attempt = open_login(provider, **overrides)
    response = submit_login(attempt, username, provider.users[username].password)
    # login page -> the provider's authorize callback -> the app's redirect URI with the code
    for _ in range(3):
        assert response.status_code == 302, response.text
        location = urljoin(response.url, response.headers["Location"])
        if location.startswith(TEST_REDIRECT_URI):
            query = parse_qs(urlsplit(location).query)
            assert query["state"] == [attempt.state]
            return query["code"][0], attempt
        response = attempt.session.get(location, allow_redirects=False, timeout=TIMEOUT)
    raise AssertionError(f"no redirect to the app; last answer {response.status_code}")


def redeem(
    provider: OidcProvider, code: str, verifier: str | None, *, how: str = "basic", **extra: str
) -> requests.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": TEST_REDIRECT_URI,
        **extra,
    }
    if verifier is not None:
        data["code_verifier"] = verifier
    auth = None
    if how == "basic":
        assert provider.client_secret is not None
        auth = (provider.client_id, provider.client_secret)
    elif how == "post":
        data |= {"client_id": provider.client_id, "client_secret": provider.client_secret or ""}
    return requests.post(
        discovery(provider)["token_endpoint"], data=data, auth=auth, timeout=TIMEOUT
    )


def verified_claims(provider: OidcProvider, id_token: str, nonce: str) -> dict[str, Any]:
    """The ID token's claims after the checks an app makes: signature by a JWKS key, RS256,
    issuer, audience, expiry and nonce."""
    keys = KeySet.import_key_set(
        requests.get(discovery(provider)["jwks_uri"], timeout=TIMEOUT).json()
    )
    token = jwt.decode(id_token, keys, algorithms=["RS256"])
    assert token.header["alg"] == "RS256"
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": provider.issuer},
        aud={"essential": True, "value": provider.client_id},
        exp={"essential": True},
        nbf={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    ).validate(token.claims)
    return dict(token.claims)


def id_token_for(
    provider: OidcProvider, username: str, *, how: str = "basic", scope: str = "openid profile"
) -> dict[str, Any]:
    code, attempt = sign_in(provider, username, scope=scope)
    response = redeem(provider, code, attempt.verifier, how=how)
    assert response.status_code == 200, response.text
    return verified_claims(provider, response.json()["id_token"], attempt.nonce)


def error_of(response: requests.Response) -> str:
    error: str = response.json()["error"]
    return error


# --- discovery ---------------------------------------------------------------------------------


def test_discovery_is_published_under_the_tenant_v2_issuer(oidc_provider: OidcProvider) -> None:
    # Entra v2.0: issuer https://login.microsoftonline.com/{tenant}/v2.0, discovery under it
    # (learn.microsoft.com/entra/identity-platform/v2-protocols-oidc).
    document = discovery(oidc_provider)
    base = oidc_provider.issuer.removesuffix(f"/{oidc_provider.tenant_id}/v2.0")
    assert base.startswith("http://127.0.0.1:")
    assert document["issuer"] == f"{base}/{oidc_provider.tenant_id}/v2.0" == oidc_provider.issuer
    tenant = f"{base}/{oidc_provider.tenant_id}"
    assert document["authorization_endpoint"] == f"{tenant}/oauth2/v2.0/authorize"
    assert document["token_endpoint"] == f"{tenant}/oauth2/v2.0/token"
    assert document["end_session_endpoint"] == f"{tenant}/oauth2/v2.0/logout"
    assert document["jwks_uri"] == f"{tenant}/discovery/v2.0/keys"
    assert "code" in document["response_types_supported"]
    # Nothing answers discovery outside the issuer: an app must be configured with the issuer.
    assert (
        requests.get(f"{base}/.well-known/openid-configuration", timeout=TIMEOUT).status_code == 404
    )


def test_discovery_offers_rs256_never_none_and_pkce_s256(oidc_provider: OidcProvider) -> None:
    document = discovery(oidc_provider)
    assert "RS256" in document["id_token_signing_alg_values_supported"]
    assert "none" not in document["id_token_signing_alg_values_supported"]
    assert "S256" in document["code_challenge_methods_supported"]
    methods = set(document["token_endpoint_auth_methods_supported"])
    assert {"client_secret_basic", "client_secret_post", "private_key_jwt"} <= methods
    keys = requests.get(document["jwks_uri"], timeout=TIMEOUT).json()["keys"]
    assert keys, "the JWKS publishes no key"
    assert all(key["kty"] == "RSA" and key["use"] == "sig" and key["kid"] for key in keys)


# --- sign-in -----------------------------------------------------------------------------------


def test_sign_in_with_pkce_yields_an_rs256_id_token_with_entras_claims(
    oidc_provider: OidcProvider,
) -> None:
    # learn.microsoft.com/entra/identity-platform/id-token-claims-reference (v2.0 ID tokens)
    clerk = oidc_provider.users["clerk"]
    claims = id_token_for(oidc_provider, "clerk")
    assert claims["tid"] == oidc_provider.tenant_id
    assert claims["oid"] == clerk.oid
    assert claims["roles"] == [ROLE_CLERK]
    assert claims["ver"] == "2.0"
    assert claims["name"] == clerk.name
    assert claims["preferred_username"] == "clerk"
    assert claims["sub"]
    assert claims["sub"] != clerk.oid
    assert claims["nbf"] <= claims["iat"] + 1 < claims["exp"]
    assert claims["exp"] - claims["iat"] == 3600


def test_sub_is_pairwise_while_oid_stays_the_users_id(oidc_provider: OidcProvider) -> None:
    # Entra: sub is unique per user and application; oid is the same for every app, so an app
    # keys users on tid + oid (id-token-claims-reference, "Use claims to reliably identify a user").
    first = id_token_for(oidc_provider, "viewer")
    again = id_token_for(oidc_provider, "viewer")
    other = id_token_for(oidc_provider, "admin")
    assert first["oid"] == again["oid"] == oidc_provider.users["viewer"].oid
    assert first["sub"] == again["sub"] != first["oid"]
    assert other["oid"] != first["oid"]
    assert other["sub"] != first["sub"]


def test_a_user_without_app_roles_gets_no_roles_claim(oidc_provider: OidcProvider) -> None:
    # Entra sends `roles` only for app roles assigned to the user: none assigned, no claim.
    claims = id_token_for(oidc_provider, "norole", how="post")
    assert "roles" not in claims
    assert claims["oid"] == oidc_provider.users["norole"].oid


def test_name_and_oid_need_the_profile_scope(oidc_provider: OidcProvider) -> None:
    # id-token-claims-reference: "The profile scope is required to receive this claim" (name,
    # preferred_username, oid); tid, roles and ver come regardless.
    claims = id_token_for(oidc_provider, "admin", scope="openid")
    assert not {"name", "preferred_username", "oid"} & set(claims)
    assert claims["tid"] == oidc_provider.tenant_id
    assert claims["roles"] == [ROLE_ADMIN]


@pytest.mark.parametrize(
    ("username", "password"),
    [("clerk", "not-the-password"), ("nobody", "whatever")],
    ids=["wrong password", "unknown user"],
)
def test_a_failed_sign_in_answers_the_login_page_with_an_error_and_no_code(
    oidc_provider: OidcProvider, username: str, password: str
) -> None:
    attempt = open_login(oidc_provider)
    response = submit_login(attempt, username, password)
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert "Your account or password is incorrect." in " ".join(parse_form(response.text).text)
    assert 'role="alert"' in response.text
    assert "code=" not in response.text
    # The same request then succeeds with a right password: the error left no half state.
    retry = submit_login(attempt, "clerk", oidc_provider.users["clerk"].password)
    assert retry.status_code == 302


@pytest.mark.parametrize(
    ("verifier", "error"),
    [(None, "invalid_request"), ("wrong-" + "v" * 43, "invalid_grant")],
    ids=["no code_verifier", "wrong code_verifier"],
)
def test_a_code_is_refused_without_its_code_verifier(
    oidc_provider: OidcProvider, verifier: str | None, error: str
) -> None:
    # RFC 7636 4.6: the token endpoint checks the verifier against the challenge; a confidential
    # client with a secret is no exception.
    code, attempt = sign_in(oidc_provider, "clerk")
    refused = redeem(oidc_provider, code, verifier)
    assert refused.status_code == 400
    assert error_of(refused) == error
    assert "id_token" not in refused.json()
    accepted = redeem(oidc_provider, code, attempt.verifier)
    assert accepted.status_code == 200, accepted.text


def test_a_code_works_once(oidc_provider: OidcProvider) -> None:
    code, attempt = sign_in(oidc_provider, "viewer")
    assert redeem(oidc_provider, code, attempt.verifier).status_code == 200
    replay = redeem(oidc_provider, code, attempt.verifier)
    assert replay.status_code == 400
    assert error_of(replay) == "invalid_grant"


@pytest.mark.parametrize(
    "pkce",
    [{"code_challenge": ""}, {"code_challenge_method": "plain"}],
    ids=["no code_challenge", "plain"],
)
def test_an_authorize_request_without_pkce_s256_goes_back_with_an_error(
    oidc_provider: OidcProvider, pkce: dict[str, str]
) -> None:
    response, _ = authorize(oidc_provider, **pkce)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(TEST_REDIRECT_URI)
    query = parse_qs(urlsplit(location).query)
    assert query["error"] == ["invalid_request"]
    assert "code" not in query


def test_an_unregistered_redirect_uri_is_never_redirected_to(oidc_provider: OidcProvider) -> None:
    response, _ = authorize(oidc_provider, redirect_uri="http://127.0.0.1:9/elsewhere")
    assert response.status_code == 400
    assert "elsewhere" not in response.headers.get("Location", "")


def test_roles_changed_in_the_config_show_at_the_next_sign_in(oidc_provider: OidcProvider) -> None:
    # Issue 20: "a role removed in Entra is gone at the next sign-in".
    before = oidc_provider.users["clerk"].roles
    assert id_token_for(oidc_provider, "clerk")["roles"] == [ROLE_CLERK]
    try:
        oidc_provider.set_roles("clerk", [ROLE_VIEWER])
        assert id_token_for(oidc_provider, "clerk")["roles"] == [ROLE_VIEWER]
        oidc_provider.set_roles("clerk", [])
        assert "roles" not in id_token_for(oidc_provider, "clerk")
    finally:
        oidc_provider.set_roles("clerk", before)
    assert id_token_for(oidc_provider, "clerk")["roles"] == [ROLE_CLERK]


def test_userinfo_answers_for_the_access_token(oidc_provider: OidcProvider) -> None:
    code, attempt = sign_in(oidc_provider, "viewer")
    tokens = redeem(oidc_provider, code, attempt.verifier).json()
    userinfo_url = discovery(oidc_provider)["userinfo_endpoint"]
    answer = requests.get(
        userinfo_url, headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=TIMEOUT
    )
    assert answer.status_code == 200, answer.text
    claims = verified_claims(oidc_provider, tokens["id_token"], attempt.nonce)
    assert answer.json()["sub"] == claims["sub"]
    refused = requests.get(
        userinfo_url, headers={"Authorization": "Bearer forged"}, timeout=TIMEOUT
    )
    assert refused.status_code == 401


# --- sign-out ----------------------------------------------------------------------------------


def test_end_session_redirects_to_the_registered_post_logout_uri_with_state(
    oidc_provider: OidcProvider,
) -> None:
    # OpenID Connect RP-Initiated Logout 1.0, section 3: redirect to a registered
    # post_logout_redirect_uri, passing state back.
    code, attempt = sign_in(oidc_provider, "clerk")
    id_token = redeem(oidc_provider, code, attempt.verifier).json()["id_token"]
    end_session = discovery(oidc_provider)["end_session_endpoint"]
    params = {
        "id_token_hint": id_token,
        "post_logout_redirect_uri": TEST_POST_LOGOUT_REDIRECT_URI,
        "state": "s-42",
    }
    response = requests.get(end_session, params=params, allow_redirects=False, timeout=TIMEOUT)
    assert response.status_code == 302, response.text
    assert response.headers["Location"] == f"{TEST_POST_LOGOUT_REDIRECT_URI}?state=s-42"

    by_client = {
        "client_id": oidc_provider.client_id,
        "post_logout_redirect_uri": TEST_POST_LOGOUT_REDIRECT_URI,
    }
    response = requests.get(end_session, params=by_client, allow_redirects=False, timeout=TIMEOUT)
    assert response.headers["Location"] == TEST_POST_LOGOUT_REDIRECT_URI


def test_end_session_refuses_an_unregistered_post_logout_uri(oidc_provider: OidcProvider) -> None:
    params = {
        "client_id": oidc_provider.client_id,
        "post_logout_redirect_uri": "https://evil.example/",
    }
    response = requests.get(
        discovery(oidc_provider)["end_session_endpoint"],
        params=params,
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert response.status_code == 400
    assert "evil" not in response.headers.get("Location", "")


# --- client authentication -----------------------------------------------------------------


def test_a_wrong_client_secret_is_refused(oidc_provider: OidcProvider) -> None:
    code, attempt = sign_in(oidc_provider, "viewer")
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": TEST_REDIRECT_URI,
        "code_verifier": attempt.verifier,
    }
    refused = requests.post(
        discovery(oidc_provider)["token_endpoint"],
        data=data,
        auth=(oidc_provider.client_id, "wrong"),
        timeout=TIMEOUT,
    )
    assert refused.status_code in {400, 401}
    assert error_of(refused) in {"invalid_client", "unauthorized_client"}
    assert "id_token" not in refused.json()


def rsa_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


def public_jwks(*keys: RSAKey) -> dict[str, Any]:
    return dict(KeySet(list(keys)).as_dict(private=False))


def assertion(key: RSAKey, *, iss: str, sub: str, aud: str, lifetime: int = 300) -> str:
    now = int(time.time())
    claims = {
        "iss": iss,
        "sub": sub,
        "aud": aud,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "jti": secrets.token_hex(8),
    }
    token: str = jwt.encode({"alg": "RS256", "kid": key.kid or ""}, claims, key)
    return token


def redeem_with_assertion(provider: OidcProvider, client_assertion: str) -> requests.Response:
    code, attempt = sign_in(provider, "clerk")
    return redeem(
        provider,
        code,
        attempt.verifier,
        how="assertion",
        client_id=provider.client_id,
        client_assertion_type=JWT_BEARER,
        client_assertion=client_assertion,
    )


WORKLOAD_ISSUER = "https://oidc.cluster.example/11111111-2222-3333-4444-555555555555/"
WORKLOAD_SUBJECT = "system:serviceaccount:orderdesk:orderdesk"


@pytest.fixture(scope="module")
def workload_key(oidc_provider: OidcProvider) -> RSAKey:
    """The cluster's service account signing key, trusted through a federated credential."""
    key = rsa_key("cluster-sa-key")
    oidc_provider.trust_federated_credential(
        issuer=WORKLOAD_ISSUER, subject=WORKLOAD_SUBJECT, jwks=public_jwks(key)
    )
    return key


def test_a_workload_identity_token_authenticates_the_client_without_a_secret(
    oidc_provider: OidcProvider, workload_key: RSAKey
) -> None:
    # Workload identity federation: Entra accepts a token whose issuer and subject match a
    # federated identity credential exactly and whose aud is one of its audiences
    # (learn.microsoft.com/graph/api/resources/federatedidentitycredential).
    token = assertion(
        workload_key, iss=WORKLOAD_ISSUER, sub=WORKLOAD_SUBJECT, aud=oidc.TOKEN_EXCHANGE_AUDIENCE
    )
    response = redeem_with_assertion(oidc_provider, token)
    assert response.status_code == 200, response.text
    assert response.json()["id_token"]


@pytest.mark.parametrize(
    "wrong",
    [
        {"aud": "api://SomethingElse"},
        {"sub": "system:serviceaccount:other:orderdesk"},
        {"iss": "https://oidc.other.example/"},
        {"lifetime": -600},
        {"key": "unknown"},
    ],
    ids=["audience", "subject", "issuer", "expired", "key not trusted"],
)
def test_a_workload_token_that_matches_no_federated_credential_is_refused(
    oidc_provider: OidcProvider, workload_key: RSAKey, wrong: dict[str, Any]
) -> None:
    key = rsa_key("cluster-sa-key") if wrong.pop("key", None) else workload_key
    claims = {
        "iss": WORKLOAD_ISSUER,
        "sub": WORKLOAD_SUBJECT,
        "aud": oidc.TOKEN_EXCHANGE_AUDIENCE,
        **wrong,
    }
    response = redeem_with_assertion(oidc_provider, assertion(key, **claims))
    assert response.status_code in {400, 401}
    assert error_of(response) == "invalid_client"
    assert "id_token" not in response.json()


def test_a_certificate_assertion_authenticates_the_client(oidc_provider: OidcProvider) -> None:
    # Entra's certificate credentials: iss = sub = the client id, aud = the token endpoint
    # (learn.microsoft.com/entra/identity-platform/certificate-credentials).
    key = rsa_key("app-certificate")
    oidc_provider.trust_certificate(public_jwks(key))
    token_endpoint = discovery(oidc_provider)["token_endpoint"]
    client_id = oidc_provider.client_id
    good = assertion(key, iss=client_id, sub=client_id, aud=token_endpoint)
    assert redeem_with_assertion(oidc_provider, good).status_code == 200
    aimed_at_the_issuer = assertion(key, iss=client_id, sub=client_id, aud=oidc_provider.issuer)
    assert error_of(redeem_with_assertion(oidc_provider, aimed_at_the_issuer)) == "invalid_client"


# --- operation ---------------------------------------------------------------------------------


def test_the_log_names_no_password_secret_or_token(oidc_provider: OidcProvider) -> None:
    code, attempt = sign_in(oidc_provider, "admin")
    tokens = redeem(oidc_provider, code, attempt.verifier).json()
    submit_login(open_login(oidc_provider), "admin", "a-wrong-password-123")
    log = oidc_provider.log_path.read_text()
    assert "method=POST path=/login status=200" in log  # the log does record the sign-ins
    secrets_seen = [user.password for user in oidc_provider.users.values()]
    secrets_seen += [oidc_provider.client_secret or "", "a-wrong-password-123", code]
    secrets_seen += [tokens["access_token"], tokens["id_token"]]
    leaked = [value for value in secrets_seen if value and value in log]
    assert not leaked, "the provider's log holds a credential"
    assert oidc_provider.config_path.stat().st_mode & 0o077 == 0


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_the_provider_stops_cleanly_on_sigterm_and_keeps_its_identity(tmp_path: Path) -> None:
    require_provider_build()
    provider = oidc.start(tmp_path, redirect_uris=[TEST_REDIRECT_URI])
    port = urlsplit(provider.issuer).port
    assert port is not None
    assert _port_open(port)
    assert provider.process is not None
    provider.process.signal(signal.SIGTERM)
    assert provider.process.wait(timeout=oidc.STOP_TIMEOUT_S) == 0
    assert provider.stop() == 0
    assert not _port_open(port)
    assert "stopped" in provider.log_tail()
    # A restart in the same directory signs in the same tenant and people (invoke up --sso).
    with oidc.start(tmp_path, redirect_uris=[TEST_REDIRECT_URI]) as again:
        assert again.tenant_id == provider.tenant_id
        assert again.users["clerk"].oid == provider.users["clerk"].oid
        assert discovery(again)["issuer"] == again.issuer


@pytest.mark.parametrize(
    ("config", "tenant", "reason"),
    [
        ('{"clients": [], "users": [], "typo": 1}', str(uuid.uuid4()), r"unknown field \"typo\""),
        ('{"clients": [], "users": []}', str(uuid.uuid4()), "no clients"),
        ('{"clients": [], "users": []}', "not-a-guid", r"--tenant \"not-a-guid\" is not a GUID"),
    ],
    ids=["unknown field", "no client", "tenant not a GUID"],
)
def test_a_bad_start_is_refused_with_the_reason(
    tmp_path: Path, config: str, tenant: str, reason: str
) -> None:
    require_provider_build()
    config_path = tmp_path / "idp.json"
    config_path.write_text(config)
    argv = [
        str(oidc.require_binary()),
        "--config",
        str(config_path),
        "--tenant",
        tenant,
        "--port",
        "0",
    ]
    finished = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert finished.returncode == 1
    assert reason in finished.stderr


def test_a_redirect_uri_allowed_at_run_time_works_at_once(oidc_provider: OidcProvider) -> None:
    # An app whose port is known only after the provider started (tests/app) registers then.
    late = "http://127.0.0.1:9/late-app/callback"
    # The provider is the session's: other tests may have registered their apps already.
    before = list(oidc_provider.redirect_uris)
    refused, _ = authorize(oidc_provider, redirect_uri=late)
    assert refused.status_code == 400
    oidc_provider.allow_redirects([late], [late + "/signed-out"])
    accepted, _ = authorize(oidc_provider, redirect_uri=late)
    assert accepted.status_code == 302
    assert accepted.headers["Location"].startswith("/login?")
    assert oidc_provider.redirect_uris == [*before, late]
    assert oidc_provider.redirect_uris[0] == TEST_REDIRECT_URI


def test_sign_in_help_gives_a_developer_every_user_and_password(
    oidc_provider: OidcProvider,
) -> None:
    help_text = oidc_provider.sign_in_help()
    assert oidc_provider.issuer in help_text
    for user in oidc_provider.users.values():
        assert f"{user.username:<8} password {user.password}" in help_text
    assert "(no role)" in help_text
    with pytest.raises(oidc.OidcError, match="users: admin, clerk, norole, viewer"):
        oidc_provider.user("nobody")
    # The handle's repr (tracebacks, logs) shows neither passwords nor the secret.
    shown = repr(oidc_provider)
    assert oidc_provider.client_secret
    assert oidc_provider.client_secret not in shown
    assert oidc_provider.users["admin"].password not in shown


def test_build_returns_the_existing_binary_without_building(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    require_provider_build()
    # Without Go on PATH a build would fail: the cached binary for this source is enough.
    monkeypatch.setattr(oidc.shutil, "which", lambda _name: None)
    assert oidc.build(progress=pytest.fail) == oidc.require_binary()
    assert oidc.main(["build"]) == 0
    assert oidc.main(["rebuild"]) == 2
