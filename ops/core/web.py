"""HTTP for the tasks: requests with a timeout on every call, and waiting for a status."""

from __future__ import annotations

import re

import requests

from ops.core.wait import NotYet, wait_until

# A CA bundle file, or True: the public CAs requests trusts (certifi, or REQUESTS_CA_BUNDLE).
Verify = bool | str


def get(url: str, *, timeout: float = 10.0, verify: Verify = True) -> requests.Response:
    """One GET that never hangs: connect and read both bounded by `timeout`."""
    return requests.get(url, timeout=timeout, verify=verify, allow_redirects=False)


def post_json(url: str, payload: object, *, timeout: float = 10.0) -> requests.Response:
    return requests.post(url, json=payload, timeout=timeout)


def wait_for_status(
    url: str,
    *,
    status: int = 200,
    timeout: float,
    interval: float,
    verify: Verify = True,
) -> requests.Response:
    """GET `url` until it answers `status`; WaitTimeout names the last answer or error."""

    def answered() -> requests.Response:
        try:
            response = get(url, timeout=max(2.0, min(10.0, interval * 2)), verify=verify)
        except requests.RequestException as exc:
            raise NotYet(_short(exc)) from exc
        if response.status_code != status:
            raise NotYet(f"HTTP {response.status_code}")
        return response

    return wait_until(
        answered, what=f"{url} answering {status}", timeout=timeout, interval=interval
    )


def _short(error: requests.RequestException) -> str:
    """The innermost reason, without urllib3's pool and object addresses."""
    if isinstance(error, requests.exceptions.SSLError):
        verify = re.search(r"certificate verify failed: [^(']+", str(error))
        return f"TLS: {verify.group(0).strip() if verify else str(error)[-200:]}"
    if isinstance(error, requests.exceptions.ConnectionError):
        return "connection failed: " + str(error).rsplit(":", 1)[-1].strip(" ')")[:200]
    if isinstance(error, requests.exceptions.Timeout):
        return "timed out"
    return type(error).__name__
