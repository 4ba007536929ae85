"""Signing in and out: local accounts (a form), Entra ID (OpenID Connect), and the lockout."""

from __future__ import annotations

import logging
from typing import Any

from authlib.integrations.base_client import OAuthError
from django import forms
from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from joserfc.errors import JoseError
from requests import RequestException

from . import audit, entra
from .metrics import SIGN_INS
from .models import AuditAction

logger = logging.getLogger(__name__)
NEXT_KEY = "sign_in_next"
# Longer than any password a person types; a megabyte of one would still be hashed in full.
PASSWORD_MAX_LENGTH = 512


class SignInForm(AuthenticationForm):
    password = forms.CharField(
        label="Password",
        strip=False,
        max_length=PASSWORD_MAX_LENGTH,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


def safe_next(request: HttpRequest, candidate: str | None) -> str:
    """Where to go after signing in: a path on this site, never another host or scheme."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse(settings.LOGIN_REDIRECT_URL)


def _page(
    request: HttpRequest, *, form: Any = None, message: str = "", status: int = 200
) -> HttpResponse:
    next_url = safe_next(request, request.POST.get("next") or request.GET.get("next"))
    context = {
        "form": form if form is not None else SignInForm(request),
        "next": next_url,
        "message": message,
        "entra": settings.ORDERDESK_AUTH == "entra",
        "local": settings.ORDERDESK_LOCAL_SIGN_IN,
    }
    return render(request, "accounts/sign_in.html", context, status=status)


@login_not_required
@never_cache
@sensitive_post_parameters("password")
@csrf_protect
@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        if request.user.is_authenticated:
            return redirect(safe_next(request, request.GET.get("next")))
        return _page(request)
    if not settings.ORDERDESK_LOCAL_SIGN_IN:
        return _page(request, message="Sign in with Microsoft Entra ID.", status=400)
    form = SignInForm(request, data=request.POST)
    if not form.is_valid():
        return _page(request, form=form, status=400)
    # Django gives the session a new key at login(): a session id known before is worth nothing.
    login(request, form.get_user())
    return HttpResponseRedirect(safe_next(request, request.POST.get("next")))


def locked_out(request: HttpRequest, response: Any = None, credentials: Any = None) -> HttpResponse:
    """django-axes' answer to a locked-out account: the sign-in page, saying so and for how long."""
    SIGN_INS.labels(method="password", result="locked").inc()
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = (
        f"Too many failed sign-ins for this account from your address: try again in {minutes} "
        "minutes, or ask an admin to reset it (python app/manage.py axes_reset_username NAME)."
    )
    return _page(request, message=message, status=429)


@login_not_required
@never_cache
@require_GET
def oidc_start(request: HttpRequest) -> HttpResponse:
    if settings.ORDERDESK_AUTH != "entra":
        return _page(request, message="Entra ID sign-in is not set up here.", status=404)
    request.session[NEXT_KEY] = safe_next(request, request.GET.get("next"))
    callback = request.build_absolute_uri(reverse("oidc-callback"))
    try:
        return entra.client().authorize_redirect(request, callback)
    except (OAuthError, RequestException, ValueError) as exc:
        logger.warning("Entra ID sign-in could not start: %s", type(exc).__name__)
        return _page(request, message="Entra ID cannot be reached; try again shortly.", status=503)


@login_not_required
@never_cache
@require_GET
def oidc_callback(request: HttpRequest) -> HttpResponse:
    if settings.ORDERDESK_AUTH != "entra":
        return _page(request, message="Entra ID sign-in is not set up here.", status=404)
    try:
        claims = _validated_claims(request)
        user = authenticate(request, entra_claims=claims)
        if user is None:
            raise entra.SignInRefused("This account is disabled here; ask an Orderdesk admin.")
    except entra.SignInRefused as refused:
        SIGN_INS.labels(method="entra", result="failure").inc()
        audit.record(AuditAction.SIGN_IN_FAILED, request, detail=f"entra: {refused}")
        return _page(request, message=str(refused), status=403)
    next_url = request.session.pop(NEXT_KEY, None)
    login(request, user, backend="accounts.entra.EntraBackend")
    return HttpResponseRedirect(safe_next(request, next_url))


def _validated_claims(request: HttpRequest) -> entra.EntraClaims:
    try:
        token = entra.client().authorize_access_token(request, **entra.assertion())
    except (OAuthError, JoseError, ValueError, KeyError) as exc:
        # authlib and joserfc say which check failed (state, nonce, iss, aud, exp, signature).
        logger.warning("Entra ID sign-in refused: %s %s", type(exc).__name__, exc)
        raise entra.SignInRefused(
            "The sign-in could not be verified (it may have expired or been used already); "
            "start again."
        ) from None
    except (RequestException, OSError) as exc:
        logger.warning("Entra ID token request failed: %s", type(exc).__name__)
        raise entra.SignInRefused("Entra ID cannot be reached; try again shortly.") from None
    userinfo = token.get("userinfo")
    if not userinfo:
        raise entra.SignInRefused("Entra ID sent no ID token; start again.")
    return entra.EntraClaims.of(dict(userinfo))


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    """POST with the CSRF token: a link or an image on another site cannot sign anyone out."""
    was_entra = getattr(request.user, "backend", None) or request.session.get("_auth_user_backend")
    logout(request)
    if settings.ORDERDESK_AUTH == "entra" and was_entra == "accounts.entra.EntraBackend":
        # Ends the Entra session too, which then sends the browser back to /auth/signed-out.
        try:
            return entra.client().logout_redirect(
                request,
                post_logout_redirect_uri=request.build_absolute_uri(reverse("signed-out")),
                client_id=settings.ENTRA_CLIENT_ID,
            )
        except (OAuthError, RequestException, RuntimeError) as exc:
            logger.warning("Entra ID sign-out could not be reached: %s", type(exc).__name__)
    return redirect("signed-out")


@login_not_required
@require_GET
def signed_out(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/signed_out.html", {})
