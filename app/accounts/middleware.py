"""Who is asking: the session for pages, a bearer token for /api, and what neither may do."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequired
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import patch_cache_control

from . import tokens

API_PREFIX = "/api"
# Query parameters that would carry a token in a URL, where logs, history and Referer keep it.
TOKEN_QUERY_NAMES = ("token", "access_token", "api_key", "key")


def is_api(request: HttpRequest) -> bool:
    path = request.path_info
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def unauthorized(message: str, *, error: str = "") -> JsonResponse:
    """401 as RFC 6750 (3.1) has it: a JSON body, and WWW-Authenticate naming the Bearer
    scheme, with an error code only when credentials were sent and refused."""
    response = JsonResponse({"error": message}, status=401)
    challenge = 'Bearer realm="orderdesk"'
    response["WWW-Authenticate"] = f'{challenge}, error="{error}"' if error else challenge
    return response


class ApiTokenMiddleware:
    """/api is for scripts: it is signed in by `Authorization: Bearer` alone. The session
    cookie counts for nothing there, so no other site can make a browser write through it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api(request):
            return self.get_response(request)
        if any(name in request.GET for name in TOKEN_QUERY_NAMES):
            return unauthorized(
                "Tokens in the URL are refused: send it as `Authorization: Bearer <token>`.",
                error="invalid_request",
            )
        request.user = AnonymousUser()
        request.api_token = None  # type: ignore[attr-defined]
        text = tokens.bearer_text(request.headers.get("Authorization", ""))
        if text is not None:
            try:
                bearer = tokens.authenticate(text)
            except tokens.TokenRefused as refused:
                return unauthorized(str(refused), error="invalid_token")
            request.user = bearer.user
            request.api_token = bearer.token  # type: ignore[attr-defined]
        return self.get_response(request)


class IdleTimeoutMiddleware:
    """A session unused for ORDERDESK_IDLE_MINUTES ends. Its expiry is moved on at most once a
    minute: saving the session on every request would cost a write per page."""

    TOUCH_EVERY_S = 60
    KEY = "seen"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.idle_s = settings.ORDERDESK_IDLE_MINUTES * 60

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api(request) and request.user.is_authenticated:
            now = int(time.time())
            seen = request.session.get(self.KEY, now)
            if now - seen > self.idle_s:
                logout(request)
            elif now - seen >= self.TOUCH_EVERY_S or self.KEY not in request.session:
                request.session[self.KEY] = now
        response = self.get_response(request)
        if request.user.is_authenticated:
            # A page for one signed-in user is no shared cache's to keep.
            patch_cache_control(response, private=True)
        return response


class LoginRequiredMiddleware(DjangoLoginRequired):
    """Django's: a browser goes to the sign-in page with a safe `next`; /api answers 401 JSON."""

    def handle_no_permission(  # type: ignore[override]
        self, request: HttpRequest, view_func: Any
    ) -> HttpResponse:
        if is_api(request):
            return unauthorized(
                "Sign-in required: send `Authorization: Bearer <token>` "
                "(python app/manage.py orderdesk_token NAME issues one).",
            )
        return super().handle_no_permission(request, view_func)
