"""API tokens: `Authorization: Bearer <token>` signs a request in as the token's user."""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError
from django.utils import timezone

from orderdesk.database_busy import is_busy

from .models import TOKEN_LOOKUP_LENGTH, TOKEN_MAX_LENGTH, TOKEN_PREFIX, ApiToken, token_digest

# last_used_at is written at most this often per token: a write per API call would cost more
# than the call, and a minute is as precise as anyone reading it needs.
LAST_USED_EVERY_S = 60

logger = logging.getLogger(__name__)


class TokenRefused(Exception):
    """The credentials are not a usable token; the message says why, in words for the caller."""


@dataclass(frozen=True)
class Bearer:
    token: ApiToken
    user: Any


def bearer_text(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer …` header; None when there is no such header."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


def authenticate(text: str) -> Bearer:
    if len(text) > TOKEN_MAX_LENGTH or not text.startswith(TOKEN_PREFIX):
        raise TokenRefused("The bearer token is malformed; send a token issued by Orderdesk.")
    lookup = text[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + TOKEN_LOOKUP_LENGTH]
    token = ApiToken.objects.select_related("user").filter(lookup=lookup).first()
    if token is None or not hmac.compare_digest(token.digest, token_digest(text)):
        raise TokenRefused("The bearer token is not valid.")
    now = timezone.now()
    state = token.state(now)
    if state != "active":
        raise TokenRefused(f"The bearer token is {state}; ask an admin for a new one.")
    if not token.user.is_active:
        raise TokenRefused("The token's user is disabled.")
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > LAST_USED_EVERY_S:
        _record_use(token, now)
    return Bearer(token=token, user=token.user)


def _record_use(token: ApiToken, now: Any) -> None:
    """last_used_at is a hint for admins: a busy database skips it rather than fail the call it
    describes (the token's next call writes it, since the old value is still there)."""
    try:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    except DatabaseError as exc:
        if not is_busy(exc):
            raise
        logger.info("token %s: last use not recorded, the database is busy", token.lookup)
