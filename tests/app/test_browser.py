"""A person's path through the app, in Debian's Chromium driven by Playwright, checked by axe-core.

Screenshots of every page and state at 1280 and 390 px land in build/screenshots/ (override
with ORDERDESK_ARTIFACTS): CI keeps that folder as the run's artifacts.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect, sync_playwright

from testkit.support import need_tool
from tests.appserver import REPO_ROOT, AppServer, run_app

pytestmark = pytest.mark.browser

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTHS = (1280, 390)
ARTIFACTS = Path(os.environ.get("ORDERDESK_ARTIFACTS") or REPO_ROOT / "build") / "screenshots"


# Local accounts of the browser's app, made by the app's own command.
CLERK = ("desk-clerk", "clerk")
ADMIN = ("desk-admin", "admin")
PASSWORD = "browser-test-" + "pw-9f3k" * 3  # pragma: allowlist secret


@contextlib.contextmanager
def app_with_people(tmp_path: Path) -> Iterator[AppServer]:
    with run_app(tmp_path, workers=2) as server:
        for name, role in (CLERK, ADMIN):
            server.user(name, role, PASSWORD)
        yield server


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    with app_with_people(tmp_path_factory.mktemp("app")) as server:
        yield server


def sign_in(page: Page, app: AppServer, username: str = CLERK[0]) -> None:
    """Through the sign-in page, as a person does: the list is where it lands."""
    page.goto(app.url + "/")
    expect(page).to_have_url(app.url + "/auth/sign-in?next=/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(f"Signed in as {username}")).to_be_visible()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = need_tool("chromium", "the browser test drives Debian's Chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def clerk_page(app: AppServer, page: Page) -> Page:
    sign_in(page, app)
    return page


def fill_order(page: Page, *, shipping: datetime.date, card: str) -> None:
    today = datetime.date.today()
    page.get_by_label("User ID").fill("browser-user")
    page.get_by_label("Store code").fill("st-7")
    page.get_by_label("Product code").fill("sku-77")
    page.get_by_label("Quantity").fill("2")
    page.get_by_label("Order date").fill(today.isoformat())
    page.get_by_label("Shipping date").fill(shipping.isoformat())
    page.get_by_label("Card number").fill(card)


def test_list_add_bad_order_then_good_order(app: AppServer, clerk_page: Page) -> None:
    page = clerk_page
    today = datetime.date.today()
    page.goto(app.url + "/")
    expect(page.get_by_text("No orders yet.")).to_be_visible()

    page.get_by_role("link", name="Add order").click()
    expect(page.get_by_role("heading", name="Add order")).to_be_visible()
    expect(page.get_by_label("Order date")).to_have_attribute("max", today.isoformat())

    # A bad order: shipping before ordering, a mistyped card number.
    fill_order(page, shipping=today - datetime.timedelta(days=1), card="4242 4242 4242 4241")
    page.get_by_role("button", name="Save order").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("The order was not saved")
    expect(page.get_by_text("The shipping date cannot be before the order date.")).to_have_count(2)
    expect(page.get_by_label("User ID")).to_have_value("browser-user")
    expect(page.get_by_label("Card number")).to_have_value("")
    # Each error is tied to its input, and the summary links to it.
    shipping = page.get_by_label("Shipping date")
    expect(shipping).to_have_attribute("aria-invalid", "true")
    expect(shipping).to_have_accessible_description(
        "The shipping date cannot be before the order date."
    )
    summary.get_by_role("link", name="Card number").click()
    expect(page).to_have_url(app.url + "/orders/new#id_card_number")

    # Fix it and save: the confirmation links to the new order.
    page.get_by_label("Shipping date").fill(today.isoformat())
    page.get_by_label("Card number").fill("5555-5555-5555-4444")
    page.get_by_role("button", name="Save order").click()
    expect(page).to_have_url(app.url + "/")
    status = page.get_by_role("status")
    expect(status).to_contain_text("Order created: 2 x SKU-77")
    row = page.get_by_role("row").filter(has_text="browser-user")
    expect(row).to_contain_text("Mastercard •••• 4444")
    status.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Order")).to_be_visible()
    expect(page.get_by_text("ST-7", exact=True)).to_be_visible()
    created_by = page.locator("dt", has_text="Created by").locator("xpath=following-sibling::dd[1]")
    expect(created_by).to_have_text(CLERK[0])


def test_sign_out_ends_the_session_and_the_back_button_shows_nothing(
    app: AppServer, clerk_page: Page
) -> None:
    page = clerk_page
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="You are signed out")).to_be_visible()
    page.go_back()
    page.reload()
    expect(page).to_have_url(app.url + "/auth/sign-in?next=/")


def seed_by_api(app: AppServer, count: int) -> None:
    bearer = app.bearer()
    today = datetime.date.today().isoformat()
    for n in range(count):
        order = {
            "user_id": f"user-{n % 4:03d}",
            "store_code": f"ST-{n % 3}",
            "product_code": f"SKU-{n:04d}",
            "quantity": n % 9 + 1,
            "order_date": today,
            "shipping_date": today,
            "card_number": "4242 4242 4242 4242",
        }
        response = requests.post(f"{app.url}/api/orders", json=order, headers=bearer, timeout=10)
        assert response.status_code == 201, response.text


def contrast(first: tuple[float, ...], second: tuple[float, ...]) -> float:
    """WCAG contrast ratio of two sRGB colours (0-255 channels)."""

    def luminance(rgb: tuple[float, ...]) -> float:
        channels = [c / 255 for c in rgb[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def rgb(css: str) -> tuple[float, ...]:
    return tuple(float(v) for v in css[css.index("(") + 1 : css.index(")")].split(",")[:3])


def test_every_page_and_state_has_no_axe_violations_at_1280_and_390(
    browser: Browser, tmp_path: Path
) -> None:
    axe = Axe()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with app_with_people(tmp_path) as app:
        bearer = app.bearer("viewer")
        assert requests.get(f"{app.url}/api/orders", headers=bearer, timeout=10).json() == {
            "results": [],
            "next": None,
            "previous": None,
        }

        def visit(path: str) -> Callable[[Page], None]:
            def show(page: Page) -> None:
                page.goto(app.url + path)

            return show

        def sign_in_failed(page: Page) -> None:
            page.goto(app.url + "/auth/sign-in")
            page.get_by_label("Username").fill(ADMIN[0])
            page.get_by_label("Password").fill("not the password")
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("alert")).to_be_visible()

        def form_errors(page: Page) -> None:
            page.goto(app.url + "/orders/new")
            page.get_by_role("button", name="Save order").click()
            expect(page.get_by_role("alert")).to_be_visible()

        def token_issued(page: Page) -> None:
            page.goto(app.url + "/manage/tokens")
            page.get_by_label("User").select_option(label=CLERK[0])
            page.get_by_label("Name").fill("axe")
            page.get_by_role("button", name="Issue token").click()
            expect(page.get_by_role("status")).to_contain_text("shown once")

        def signed_out(page: Page) -> None:
            page.get_by_role("button", name="Sign out").click()
            expect(page.get_by_role("heading", name="You are signed out")).to_be_visible()

        states: dict[str, Callable[[Page], None]] = {
            "sign-in": visit("/auth/sign-in"),
            "sign-in-failed": sign_in_failed,
            "signed-in": lambda page: sign_in(page, app, ADMIN[0]),
            "empty-list": visit("/"),
        }
        seed_by_api(app, 30)
        listed = requests.get(f"{app.url}/api/orders", headers=bearer, timeout=10).json()
        detail = listed["results"][0]["id"]
        states |= {
            "list": visit("/"),
            "list-last-page": visit("/?page=last"),
            "filtered": visit("/?user_id=USER-001"),
            "filtered-nothing": visit("/?store_code=zz"),
            "filter-invalid": visit("/?store_code=%3Cx%3E"),
            "form": visit("/orders/new"),
            "form-errors": form_errors,
            "detail": visit(f"/orders/{detail}"),
            "not-found": visit("/no-such-page"),
            "users": visit("/manage/users"),
            "tokens": visit("/manage/tokens"),
            "token-issued": token_issued,
            "audit": visit("/manage/audit"),
            "signed-out": signed_out,
        }
        violations: dict[str, object] = {}
        shots = []
        for width in WIDTHS:
            context = browser.new_context(viewport={"width": width, "height": 900})
            page = context.new_page()
            for name, show in states.items():
                show(page)
                result = axe.run(page)
                assert result.response["passes"], f"axe checked nothing on {name}"
                if result.violations_count:
                    violations[f"{name}@{width}"] = [v["id"] for v in result.response["violations"]]
                # The page never scrolls sideways: a wide table scrolls inside its own region.
                page_width = page.evaluate("document.scrollingElement.scrollWidth")
                assert page_width <= width, f"{name} at {width}px is {page_width}px wide"
                shot = ARTIFACTS / f"{name}-{width}.png"
                page.screenshot(path=str(shot), full_page=True)
                shots.append(shot)
            context.close()
        assert violations == {}, json.dumps(violations, indent=1)
        assert len(shots) == len(states) * len(WIDTHS)
        assert all(shot.stat().st_size > 0 for shot in shots)


def test_phone_width_reaches_every_column_and_the_focus_ring_stands_out(
    app: AppServer, browser: Browser
) -> None:
    if not requests.get(f"{app.url}/api/orders", headers=app.bearer(), timeout=10).json()[
        "results"
    ]:
        seed_by_api(app, 3)
    context = browser.new_context(viewport={"width": 390, "height": 800})
    page = context.new_page()
    sign_in(page, app)
    page.goto(app.url + "/")
    region = page.get_by_role("region", name="Orders")
    headers = region.get_by_role("columnheader")
    expect(headers).to_have_count(9)
    # The region is wider inside than outside: it scrolls, and the last column is reachable.
    scroll = region.evaluate("r => [r.scrollWidth, r.clientWidth, getComputedStyle(r).overflowX]")
    assert scroll[0] > scroll[1], scroll
    assert scroll[2] == "auto"
    headers.last.scroll_into_view_if_needed()
    expect(headers.last).to_be_in_viewport()
    # Codes never break mid-word: each cell's text sits on one line.
    cells = region.get_by_role("cell")
    assert cells.count() >= 9
    one_line = cells.evaluate_all(
        "cells => cells.every(c => getComputedStyle(c).whiteSpace === 'nowrap')"
    )
    assert one_line

    # Keyboard focus: a visible ring with at least 3:1 against the page behind it.
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    ring = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, parseFloat(s.outlineWidth), s.outlineColor,"
        " getComputedStyle(document.body).backgroundColor]; }"
    )
    assert ring[0] != "none"
    assert ring[1] >= 2
    assert contrast(rgb(ring[2]), rgb(ring[3])) >= 3, ring
    context.close()
