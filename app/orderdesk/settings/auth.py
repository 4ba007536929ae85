"""Checks of the sign-in settings that production runs at start (cookiecutter-django's way: a
missing secret stops the start, naming the variable)."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from orderdesk.environment import text

AUTH_MODES = ("entra", "local")


def required_choice(name: str, choices: tuple[str, ...]) -> str:
    value = text(name)
    if value not in choices:
        shown = f"is {value!r}" if value else "is not set"
        raise ImproperlyConfigured(f"{name} {shown}: set it to one of {', '.join(choices)}")
    return value


def entra_settings_or_fail() -> None:
    """Entra ID needs the tenant, the app's client id and a way to prove the app is itself."""
    from . import base

    missing = [
        name
        for name, value in (
            ("ORDERDESK_ENTRA_TENANT_ID", base.ENTRA_TENANT_ID),
            ("ORDERDESK_ENTRA_CLIENT_ID", base.ENTRA_CLIENT_ID),
        )
        if not value
    ]
    if missing:
        raise ImproperlyConfigured(
            f"ORDERDESK_AUTH=entra needs {' and '.join(missing)}: the app registration's "
            "tenant and client id (invoke azure.entra --env E prints them)"
        )
    if not (base.ENTRA_ASSERTION_FILE or base.ENTRA_CLIENT_SECRET):
        raise ImproperlyConfigured(
            "ORDERDESK_AUTH=entra needs AZURE_FEDERATED_TOKEN_FILE (the pod's workload identity "
            "token, set by AKS for a service account labelled azure.workload.identity/use) or "
            "ORDERDESK_ENTRA_CLIENT_SECRET(_FILE)"
        )
