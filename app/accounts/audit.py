"""The audit trail: security events in the database (append-only) and in the JSON log.

Never a password, a token or a card number: events carry who, what, when, from where, and a
short detail that is ours (a role, a token's name and prefix, an order's id).
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import user_logged_in, user_logged_out, user_login_failed
from django.http import HttpRequest

from .addresses import client_address
from .metrics import SIGN_INS
from .models import AuditAction, AuditEvent

logger = logging.getLogger("orderdesk.audit")
# What a failed sign-in may record of the name tried: enough to see a pattern, never a pasted
# password's worth.
_TRIED_NAME_LIMIT = 64


def record(
    action: AuditAction,
    request: HttpRequest | None,
    *,
    user: Any = None,
    actor_name: str = "",
    target: str = "",
    detail: str = "",
) -> AuditEvent:
    if user is None and request is not None:
        signed_in = getattr(request, "user", None)
        user = signed_in if signed_in is not None and signed_in.is_authenticated else None
    name = actor_name or (display_name(user) if user is not None else "")
    event = AuditEvent.objects.create(
        action=action,
        actor=user,
        actor_name=name[:150],
        target=target[:200],
        address=client_address(request) if request is not None else None,
        detail=detail[:300],
    )
    logger.info(
        "audit %s",
        action.value,
        extra={
            "audit_action": action.value,
            "actor": event.actor_name,
            "target": event.target,
            "address": event.address,
            "detail": event.detail,
        },
    )
    return event


def display_name(user: Any) -> str:
    full = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return str(full or user.get_username())


def sign_in_method(backend: str) -> str:
    return "entra" if backend.endswith("EntraBackend") else "password"


def _signed_in(sender: Any, request: HttpRequest, user: Any, **_: Any) -> None:
    method = sign_in_method(getattr(user, "backend", ""))
    SIGN_INS.labels(method=method, result="success").inc()
    record(AuditAction.SIGN_IN, request, user=user, detail=method)


def _signed_out(sender: Any, request: HttpRequest, user: Any, **_: Any) -> None:
    if user is not None:
        record(AuditAction.SIGN_OUT, request, user=user)


def _sign_in_failed(
    sender: Any, credentials: dict[str, Any], request: Any = None, **_: Any
) -> None:
    if "entra_claims" in credentials:
        return  # views.oidc_callback records why Entra ID's answer signed nobody in
    # Django has already replaced the password with a mask; only the name is read.
    tried = str(credentials.get("username", ""))[:_TRIED_NAME_LIMIT]
    if getattr(request, "axes_locked_out", False):
        # Counted as "locked" where the lockout page is answered (views.locked_out).
        record(AuditAction.SIGN_IN_FAILED, request, actor_name=tried, detail="locked out")
        return
    SIGN_INS.labels(method="password", result="failure").inc()
    record(AuditAction.SIGN_IN_FAILED, request, actor_name=tried, detail="wrong name or password")


def connect_signals() -> None:
    user_logged_in.connect(_signed_in, dispatch_uid="accounts.audit.signed_in")
    user_logged_out.connect(_signed_out, dispatch_uid="accounts.audit.signed_out")
    user_login_failed.connect(_sign_in_failed, dispatch_uid="accounts.audit.sign_in_failed")
