"""The part of a page that names who is signed in, kept out of pages that are kept for everyone.

A kept list page (orders/pagecache.py) is served to every user with the same actions on it; the
user's name and the sign-out form's CSRF token differ per user and session. The page is made
with a marker where they go, and each answer gets them written in: a string replace, a fraction
of what making the page costs.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.urls import reverse
from markupsafe import Markup, escape

from .audit import display_name
from .roles import request_role

MARKER = "<!--orderdesk:account-->"
_MARKER_BYTES = MARKER.encode()


def actions(request: HttpRequest) -> str:
    """What differs between users on a kept page beside their name: the role's controls."""
    return request_role(request.user) or "none"


def keep_account_out(request: HttpRequest) -> None:
    """Pages made for this request carry MARKER in place of the account's part."""
    request.account_marker = True  # type: ignore[attr-defined]


def account_html(request: HttpRequest) -> Markup:
    user: Any = request.user
    if not user.is_authenticated:
        return Markup()
    csrf = escape(get_token(request))
    # Safe: the only values in it are escaped.
    return Markup(  # noqa: S704  # nosec B704
        '<div class="account">'
        f'<span class="account-name">Signed in as <strong>{escape(display_name(user))}</strong>'
        f" ({escape(request_role(user) or 'no role')})</span>"
        f'<form method="post" action="{reverse("sign-out")}" class="sign-out">'
        f'<input type="hidden" name="csrfmiddlewaretoken" value="{csrf}">'
        '<button type="submit" class="link-button">Sign out</button></form>'
        "</div>"
    )


def personalised(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """The response with the account's part written where MARKER stands."""
    if getattr(response, "streaming", False) or _MARKER_BYTES not in response.content:
        return response
    response.content = response.content.replace(_MARKER_BYTES, str(account_html(request)).encode())
    return response


def context(request: HttpRequest) -> dict[str, Any]:
    """Template context: the account's part (or the marker) and what the role may do.

    Error pages can be made before AuthenticationMiddleware ran (a refused Host header): no user.
    """
    user: Any = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {
            "signed_in": False,
            "account": Markup(),
            "can_add_orders": False,
            "can_manage": False,
        }
    marked = getattr(request, "account_marker", False)
    account = Markup(MARKER) if marked else account_html(request)  # noqa: S704  # nosec B704
    return {
        "signed_in": True,
        "account": account,
        "can_add_orders": user.has_perm("orders.add_order"),
        "can_manage": user.has_perm("auth.change_user"),
    }
