"""Production settings, checked the way an operator meets them: by running manage.py."""

from __future__ import annotations

import os
import subprocess
import sys

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


def test_secret_from_a_mounted_file(tmp_path: pytest.TempPathFactory) -> None:
    secret = tmp_path / "secret"  # type: ignore[operator]
    secret.write_text(STRONG_KEY + "\n")
    ok = manage(
        "check",
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
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
