"""Who tried: the client's address, as far as our proxies can be trusted to say it.

Behind the Application Gateway REMOTE_ADDR is the gateway; it appends the address it saw to
X-Forwarded-For. Only the entries our own proxies appended are believed: a client can send any
X-Forwarded-For it likes, so the address is read that many places from the right.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str | None:
    proxies = settings.ORDERDESK_TRUSTED_PROXIES
    remote = request.META.get("REMOTE_ADDR", "")
    if proxies:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [a for a in forwarded if a]
        if len(forwarded) >= proxies:
            remote = forwarded[-proxies]
    return _valid(remote)


def _valid(text: str) -> str | None:
    # The gateway may append "address:port"; an IPv6 address keeps its colons.
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        host, _, port = text.rpartition(":")
        if port.isdigit() and host:
            try:
                return str(ipaddress.ip_address(host.strip("[]")))
            except ValueError:
                return None
        return None


# Django's user name field holds 150 characters; a longer one names no account.
USERNAME_LIMIT = 150


def attempted_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """The user name a sign-in tried, cut to what an account's name can be (django-axes)."""
    name = (credentials or {}).get("username") or request.POST.get("username", "")
    return str(name)[:USERNAME_LIMIT]
