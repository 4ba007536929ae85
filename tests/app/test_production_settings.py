"""Production settings, checked the way an operator meets them: by running manage.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.appserver import APP_DIR

STRONG_KEY = "prod-" + "x7Q9" * 15


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "orderdesk.settings.production"}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=APP_DIR,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("missing", "present"),
    [
        ("DJANGO_SECRET_KEY", {"ORDERDESK_CARD_KEY": "k", "DJANGO_ALLOWED_HOSTS": "a.example"}),
        (
            "ORDERDESK_CARD_KEY",
            {"DJANGO_SECRET_KEY": STRONG_KEY, "DJANGO_ALLOWED_HOSTS": "a.example"},
        ),
        ("DJANGO_ALLOWED_HOSTS", {"DJANGO_SECRET_KEY": STRONG_KEY, "ORDERDESK_CARD_KEY": "k"}),
    ],
)
def test_refuses_to_start_without_a_required_variable(
    missing: str, present: dict[str, str]
) -> None:
    result = manage("check", **present)
    assert result.returncode != 0
    assert f"{missing} is not set" in result.stderr


def test_secret_from_a_mounted_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text(STRONG_KEY + "\n")
    ok = manage(
        "check",
        ORDERDESK_AUTH="local",
        DJANGO_SECRET_KEY_FILE=str(secret),
        ORDERDESK_CARD_KEY="k",
        DJANGO_ALLOWED_HOSTS="a.example",
    )
    assert ok.returncode == 0, ok.stderr
    unreadable = manage(
        "check",
        DJANGO_SECRET_KEY_FILE=str(secret) + ".missing",
        ORDERDESK_CARD_KEY="k",
        DJANGO_ALLOWED_HOSTS="a.example",
    )
    assert unreadable.returncode != 0
    assert "DJANGO_SECRET_KEY_FILE points at" in unreadable.stderr


def test_check_deploy_has_zero_warnings() -> None:
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SECRET_KEY=STRONG_KEY,
        ORDERDESK_CARD_KEY="k",
        DJANGO_ALLOWED_HOSTS="orderdesk.example.com",
        ORDERDESK_AUTH="local",
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


BASE = {
    "DJANGO_SECRET_KEY": STRONG_KEY,
    "ORDERDESK_CARD_KEY": "k",
    "DJANGO_ALLOWED_HOSTS": "a.example",
}


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({}, "ORDERDESK_AUTH is not set: set it to one of entra, local"),
        ({"ORDERDESK_AUTH": "saml"}, "ORDERDESK_AUTH is 'saml': set it to one of entra, local"),
        (
            {"ORDERDESK_AUTH": "entra"},
            "ORDERDESK_AUTH=entra needs ORDERDESK_ENTRA_TENANT_ID and ORDERDESK_ENTRA_CLIENT_ID",
        ),
        (
            {"ORDERDESK_AUTH": "entra", "ORDERDESK_ENTRA_TENANT_ID": "t"},
            "ORDERDESK_AUTH=entra needs ORDERDESK_ENTRA_CLIENT_ID",
        ),
        (
            {
                "ORDERDESK_AUTH": "entra",
                "ORDERDESK_ENTRA_TENANT_ID": "t",
                "ORDERDESK_ENTRA_CLIENT_ID": "c",
            },
            "ORDERDESK_AUTH=entra needs AZURE_FEDERATED_TOKEN_FILE",
        ),
    ],
)
def test_the_sign_in_mode_refuses_to_start_without_what_it_needs(
    env: dict[str, str], says: str
) -> None:
    result = manage("check", **BASE, **env)
    assert result.returncode != 0
    assert says in result.stderr


def test_entra_with_the_workload_identity_token_starts_with_secure_host_cookies(
    tmp_path: Path,
) -> None:
    token = tmp_path / "azure-identity-token"
    token.write_text("eyJ.token.sig")
    env = BASE | {
        "ORDERDESK_AUTH": "entra",
        "ORDERDESK_ENTRA_TENANT_ID": "00000000-0000-0000-0000-0000000000aa",
        "ORDERDESK_ENTRA_CLIENT_ID": "00000000-0000-0000-0000-0000000000bb",
        "AZURE_FEDERATED_TOKEN_FILE": str(token),
    }
    shown = manage(
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.SESSION_COOKIE_NAME,"
        " s.SESSION_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.SESSION_COOKIE_SAMESITE,"
        " s.CSRF_COOKIE_NAME, s.ENTRA_ISSUER,"
        " 'login.microsoftonline.com' in s.CONTENT_SECURITY_POLICY)",
        **env,
    )
    assert shown.returncode == 0, shown.stderr
    # Django's shell may first say what it imported: the last line is the answer.
    assert shown.stdout.strip().splitlines()[-1].split() == [
        "__Host-orderdesk_session",
        "True",
        "True",
        "Lax",
        "__Host-csrftoken",
        "https://login.microsoftonline.com/00000000-0000-0000-0000-0000000000aa/v2.0",
        "True",
    ]
