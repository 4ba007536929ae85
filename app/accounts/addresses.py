"""The client's address, as far as the proxies in front of the app can be trusted to say it.

Behind the Application Gateway REMOTE_ADDR is the gateway; it appends the address it saw to
X-Forwarded-For. Only the entries our own proxies appended are believed: a client can send any
X-Forwarded-For it likes, so the address is read that many places from the right.
"""

from __future__ import annotations

import ipaddress

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
