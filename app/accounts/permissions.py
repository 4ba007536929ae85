"""What a role may do, checked per view: 403 for the rest (JSON under /api), and a page that
says so for a signed-in user who has no role at all."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from .middleware import is_api
from .roles import ADMIN, ROLES, VIEW_ORDERS

View = TypeVar("View", bound=Callable[..., HttpResponse])


def requires(permission: str) -> Callable[[View], View]:
    """The view runs only for a user whose role grants `permission`; a read-only token grants
    nothing but reading orders."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            refusal = _refusal(request, permission)
            return refusal if refusal is not None else view(request, *args, **kwargs)

        return checked  # type: ignore[return-value]

    return decorate


def _refusal(request: HttpRequest, permission: str) -> HttpResponse | None:
    user: Any = request.user
    token = getattr(request, "api_token", None)
    if token is not None and token.read_only and permission != VIEW_ORDERS:
        return forbidden(
            request, "This token is read-only; ask an admin for a token that may write."
        )
    if user.has_perm(permission):
        return None
    if not any(user.has_perm(perm) for perm in (VIEW_ORDERS,)):
        return no_role(request)
    return forbidden(request, "Your role does not allow this.")


def forbidden(request: HttpRequest, message: str) -> HttpResponse:
    if is_api(request):
        return JsonResponse({"error": message}, status=403)
    return render(request, "accounts/forbidden.html", {"message": message}, status=403)


def no_role(request: HttpRequest) -> HttpResponse:
    if is_api(request):
        return JsonResponse(
            {"error": "Your account has no Orderdesk role; ask an admin to give you one."},
            status=403,
        )
    return render(
        request, "accounts/no_role.html", {"contact": access_contact(), "roles": ROLES}, status=403
    )


def access_contact() -> str:
    """Whom a user without a role should ask: the configured contact, else the admins by name."""
    if settings.ORDERDESK_ACCESS_CONTACT:
        return str(settings.ORDERDESK_ACCESS_CONTACT)
    if settings.ORDERDESK_AUTH == "entra":
        return "your Entra ID administrator, to assign you an Orderdesk app role"
    admins = get_user_model().objects.filter(groups__name=ADMIN, is_active=True)
    names = sorted({u.get_full_name() or u.get_username() for u in admins[:5]})
    return "an Orderdesk admin (" + ", ".join(names) + ")" if names else "an Orderdesk admin"
