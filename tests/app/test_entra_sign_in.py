"""Entra ID sign-in end to end: the app under gunicorn, the real local OpenID Connect provider
(ops/sandbox/oidc.py, Entra's paths and claims), and a person in Chromium signing in through
the provider's own login page, as `invoke up --sso` runs them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from ops.sandbox import oidc
from tests.app.test_browser import ARTIFACTS, browser, page
from tests.appserver import AppServer, run_app

pytestmark = [pytest.mark.browser, pytest.mark.gunicorn]
__all__ = ["browser", "page"]


@pytest.fixture(scope="module")
def sso_app(
    tmp_path_factory: pytest.TempPathFactory, oidc_provider: oidc.OidcProvider
) -> Iterator[AppServer]:
    """The app as `invoke up --sso` runs it: local settings, Entra mode, the local provider."""
    env = {
        "DJANGO_DEBUG": "false",
        "ORDERDESK_AUTH": "entra",
        "ORDERDESK_ENTRA_TENANT_ID": oidc_provider.tenant_id,
        "ORDERDESK_ENTRA_CLIENT_ID": oidc_provider.client_id,
        "ORDERDESK_ENTRA_CLIENT_SECRET": oidc_provider.client_secret or "",
        "ORDERDESK_OIDC_ISSUER": oidc_provider.issuer,
    }
    with run_app(
        tmp_path_factory.mktemp("sso"), settings="orderdesk.settings.local", extra_env=env
    ) as server:
        oidc_provider.allow_redirects(
            [f"{server.url}/auth/oidc/callback"], [f"{server.url}/auth/signed-out"]
        )
        yield server


def sign_in_with_entra(page: Page, app: AppServer, idp: oidc.OidcProvider, role: str) -> None:
    user = idp.users[role]
    page.goto(app.url + "/orders/new")
    expect(page).to_have_url(app.url + "/auth/sign-in?next=/orders/new")
    page.get_by_role("link", name="Sign in with Microsoft").click()
    # The provider's page, not the app's: the password never reaches Orderdesk.
    expect(page).to_have_url(re.compile("^" + re.escape(idp.issuer.rsplit("/", 2)[0]) + "/"))
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(user.password)
    page.get_by_role("button", name="Sign in").click()


def test_a_clerk_signs_in_through_entra_adds_an_order_and_signs_out_everywhere(
    sso_app: AppServer, oidc_provider: oidc.OidcProvider, page: Page
) -> None:
    clerk = oidc_provider.users["clerk"]
    sign_in_with_entra(page, sso_app, oidc_provider, "clerk")
    # Back at the page asked for, as the provider's name for the person.
    expect(page).to_have_url(sso_app.url + "/orders/new")
    expect(page.get_by_text(f"Signed in as {clerk.name}")).to_be_visible()
    expect(page.get_by_role("link", name="Add order")).to_be_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "entra-signed-in-1280.png"), full_page=True)

    page.get_by_role("button", name="Sign out").click()
    # Signed out at the provider too, which sends the browser back to the app.
    expect(page).to_have_url(re.compile(re.escape(sso_app.url + "/auth/signed-out") + r"(\?|$)"))
    expect(page.get_by_role("heading", name="You are signed out")).to_be_visible()
    page.goto(sso_app.url + "/")
    expect(page).to_have_url(sso_app.url + "/auth/sign-in?next=/")
    # The provider asks for the password again: no session of its own survived the sign-out.
    page.get_by_role("link", name="Sign in with Microsoft").click()
    expect(page.get_by_label("Password")).to_be_visible()


def test_a_viewer_sees_no_add_button_and_is_refused_the_form(
    sso_app: AppServer, oidc_provider: oidc.OidcProvider, page: Page
) -> None:
    sign_in_with_entra(page, sso_app, oidc_provider, "viewer")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    page.goto(sso_app.url + "/")
    expect(page.get_by_role("heading", name="Orders")).to_be_visible()
    expect(page.get_by_role("link", name="Add order")).to_have_count(0)


def test_a_role_removed_in_entra_is_gone_at_the_next_sign_in(
    sso_app: AppServer, oidc_provider: oidc.OidcProvider, browser: Browser
) -> None:
    admin = oidc_provider.users["admin"]
    first = browser.new_context().new_page()
    sign_in_with_entra(first, sso_app, oidc_provider, "admin")
    first.goto(sso_app.url + "/manage/users")
    expect(first.get_by_role("heading", name="Users")).to_be_visible()
    first.context.close()
    oidc_provider.set_roles("admin", [])
    try:
        second = browser.new_context().new_page()
        sign_in_with_entra(second, sso_app, oidc_provider, "admin")
        expect(
            second.get_by_role("heading", name="You are signed in, but have no role in Orderdesk")
        ).to_be_visible()
        second.goto(sso_app.url + "/manage/users")
        expect(second.get_by_role("heading", name="Users")).to_have_count(0)
        second.context.close()
    finally:
        oidc_provider.set_roles("admin", list(admin.roles))


def test_a_user_without_an_app_role_is_told_whom_to_ask(
    sso_app: AppServer, oidc_provider: oidc.OidcProvider, page: Page, tmp_path: Path
) -> None:
    sign_in_with_entra(page, sso_app, oidc_provider, "norole")
    expect(page.get_by_text("Entra ID administrator")).to_be_visible()
