"""Sign-in with Microsoft Entra ID: OpenID Connect authorization code + PKCE through authlib.

authlib runs the protocol: state, nonce, the PKCE verifier, discovery, the JWKS (fetched again
when a token names a key it does not know) and the ID token's signature, iss, aud, exp, nbf, iat
and nonce. What Entra asks of an app on top, this module does:
- one tenant: the token's `tid` must be ours (a multi-tenant key could sign another's users);
- users keyed on `tid` + `oid`, never on e-mail or UPN, which can change or be reassigned
  (learn.microsoft.com/entra/identity-platform/id-token-claims-reference: "use oid and tid");
- the app role from the `roles` claim, applied again at every sign-in, so a role removed in
  Entra is gone at the next one; no role, no access;
- no client secret where the pod has a workload identity token: it is the client assertion
  (a federated identity credential on the app trusts the cluster's issuer).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from authlib.integrations.django_client import DjangoOAuth2App, OAuth
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend
from django.core.signals import setting_changed
from django.db import transaction
from django.dispatch import receiver
from django.http import HttpRequest

from .models import ExternalIdentity
from .roles import highest_entra_role, set_role

# Entra signs ID tokens with RS256 only; nothing else is accepted, whatever a discovery
# document offers.
ID_TOKEN_ALGORITHMS = ["RS256"]
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
HTTP_TIMEOUT_S = 10
SCOPES = "openid profile email"


class SignInRefused(Exception):
    """The provider's answer cannot sign anyone in; the message is for the person signing in."""


class EntraApp(DjangoOAuth2App):
    def load_server_metadata(self) -> dict[str, Any]:
        metadata: dict[str, Any] = super().load_server_metadata()
        offered = metadata.get("id_token_signing_alg_values_supported") or ID_TOKEN_ALGORITHMS
        metadata["id_token_signing_alg_values_supported"] = [
            alg for alg in ID_TOKEN_ALGORITHMS if alg in offered
        ]
        return metadata


class _Registry(OAuth):
    oauth2_client_cls = EntraApp


@functools.cache
def client() -> EntraApp:
    """The provider's client, made once per process from the settings."""
    registry = _Registry()
    confidential = bool(settings.ENTRA_CLIENT_SECRET) and not settings.ENTRA_ASSERTION_FILE
    registry.register(
        "entra",
        client_id=settings.ENTRA_CLIENT_ID,
        client_secret=settings.ENTRA_CLIENT_SECRET if confidential else None,
        server_metadata_url=f"{settings.ENTRA_ISSUER}/.well-known/openid-configuration",
        client_kwargs={
            "scope": SCOPES,
            "code_challenge_method": "S256",
            # With an assertion the client id goes in the body beside it (RFC 7523, 2.2).
            "token_endpoint_auth_method": "client_secret_post" if confidential else "none",
            "default_timeout": HTTP_TIMEOUT_S,
        },
    )
    app: EntraApp = registry.create_client("entra")
    return app


@receiver(setting_changed)
def _forget_client(*, setting: str, **_: Any) -> None:
    """A test that points the app at another provider gets a client made for it."""
    if setting.startswith("ENTRA_"):
        client.cache_clear()


def assertion() -> dict[str, str]:
    """The workload identity token as the client's assertion, read afresh: the kubelet renews it."""
    if not settings.ENTRA_ASSERTION_FILE:
        return {}
    token = Path(settings.ENTRA_ASSERTION_FILE).read_text(encoding="ascii").strip()
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": token}


@dataclass(frozen=True)
class EntraClaims:
    tenant_id: str
    object_id: str
    name: str
    preferred_username: str
    role: str | None

    @classmethod
    def of(cls, claims: dict[str, Any]) -> EntraClaims:
        tenant, object_id = str(claims.get("tid", "")), str(claims.get("oid", ""))
        if tenant != settings.ENTRA_TENANT_ID:
            raise SignInRefused(
                "This account belongs to another Entra ID tenant; sign in with your work account."
            )
        if not object_id:
            raise SignInRefused("The sign-in did not name the account (no oid claim).")
        roles = claims.get("roles") or []
        return cls(
            tenant_id=tenant,
            object_id=object_id,
            name=str(claims.get("name", ""))[:150],
            preferred_username=str(claims.get("preferred_username", ""))[:150],
            role=highest_entra_role(roles if isinstance(roles, list) else []),
        )


def user_for(claims: EntraClaims) -> Any:
    """The user these claims name, made on first sign-in and brought up to date at every one."""
    users = get_user_model()
    with transaction.atomic():
        identity = (
            ExternalIdentity.objects.select_related("user")
            .select_for_update()
            .filter(tenant_id=claims.tenant_id, object_id=claims.object_id)
            .first()
        )
        if identity is None:
            user = users.objects.create_user(username=_free_username(users, claims), password=None)
            ExternalIdentity.objects.create(
                user=user, tenant_id=claims.tenant_id, object_id=claims.object_id
            )
        else:
            user = identity.user
        user.first_name = claims.name
        user.email = claims.preferred_username if "@" in claims.preferred_username else ""
        user.save(update_fields=["first_name", "email"])
        set_role(user, claims.role)
    return user


def _free_username(users: Any, claims: EntraClaims) -> str:
    """The UPN where no other account has it: a name is a label here, never the key."""
    wanted = claims.preferred_username or claims.object_id
    if not users.objects.filter(username=wanted).exists():
        return wanted
    return f"{wanted[:110]}#{claims.object_id}"[:150]


class EntraBackend(BaseBackend):
    """Signs in the user of ID token claims that authlib has already validated."""

    def authenticate(
        self, request: HttpRequest | None, *, entra_claims: EntraClaims | None = None, **_: Any
    ) -> Any:
        if entra_claims is None:
            return None
        user = user_for(entra_claims)
        return user if user.is_active else None

    def get_user(self, user_id: int) -> Any:
        users = get_user_model()
        user = users.objects.filter(pk=user_id).first()
        return user if user is not None and user.is_active else None
