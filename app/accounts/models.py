"""Who may do what: API tokens, identities from Entra ID, and the audit trail."""

from __future__ import annotations

import datetime
import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from .tokentext import TOKEN_LOOKUP_LENGTH, TOKEN_MAX_LENGTH, TOKEN_PREFIX

__all__ = ["TOKEN_LOOKUP_LENGTH", "TOKEN_MAX_LENGTH", "TOKEN_PREFIX"]

# Only a token's SHA-256 is kept (accounts/tokentext.py has its shape). A slow password hash
# buys nothing for 256 random bits, and a fast one keeps an API call's cost flat.


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tokens"
    )
    name = models.CharField(max_length=100)
    lookup = models.CharField(max_length=TOKEN_LOOKUP_LENGTH, unique=True)
    digest = models.CharField(max_length=64)
    read_only = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({TOKEN_PREFIX}{self.lookup}…)"

    @classmethod
    def issue(
        cls, user: Any, name: str, *, read_only: bool = False, days: int | None = None
    ) -> tuple[ApiToken, str]:
        """A new token and its secret text, which is shown once and never kept."""
        lookup = secrets.token_hex(TOKEN_LOOKUP_LENGTH // 2)
        text = f"{TOKEN_PREFIX}{lookup}{secrets.token_urlsafe(32)}"
        expires = timezone.now() + datetime.timedelta(days=days) if days else None
        token = cls.objects.create(
            user=user,
            name=name,
            lookup=lookup,
            digest=token_digest(text),
            read_only=read_only,
            expires_at=expires,
        )
        return token, text

    @property
    def shown_prefix(self) -> str:
        return f"{TOKEN_PREFIX}{self.lookup}…"

    def state(self, now: Any = None) -> str:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


class ExternalIdentity(models.Model):
    """A user signed in through Entra ID, keyed on tenant and object id: never on a name or an
    e-mail address, which can be changed or handed to someone else."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_identity"
    )
    tenant_id = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant_id", "object_id"], name="identity_tid_oid")
        ]

    def __str__(self) -> str:
        return f"{self.object_id}@{self.tenant_id}"


class AuditAction(models.TextChoices):
    SIGN_IN = "sign_in", "Signed in"
    SIGN_IN_FAILED = "sign_in_failed", "Sign-in failed"
    SIGN_OUT = "sign_out", "Signed out"
    TOKEN_ISSUED = "token_issued", "Token issued"
    TOKEN_REVOKED = "token_revoked", "Token revoked"
    ORDER_CREATED = "order_created", "Order created"
    USER_CHANGED = "user_changed", "User changed"


class AppendOnly(Exception):
    """The audit trail is never changed or deleted through the app."""


class AuditEvent(models.Model):
    at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    action = models.CharField(max_length=32, choices=AuditAction.choices, db_index=True)
    # Who, as named at the time: kept even if the user is renamed.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True, db_index=True)
    target = models.CharField(max_length=200, blank=True)
    address = models.GenericIPAddressField(null=True, blank=True)
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} {self.actor_name} {self.target}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnly("audit events are never changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnly("audit events are never deleted")
