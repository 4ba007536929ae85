"""A person's path through the app, in Debian's Chromium driven by Playwright."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.appserver import AppServer, run_app
from tests.support import need_tool

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


@pytest.fixture
def app(tmp_path: Path) -> Iterator[AppServer]:
    with run_app(tmp_path, workers=2) as server:
        yield server


@pytest.fixture
def page(tmp_path: Path) -> Iterator[object]:
    chromium = need_tool("chromium", "the browser test drives Debian's Chromium")
    # playwright is in the test group: a failed import is a broken setup, never a skip.
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()


def test_list_add_bad_order_then_good_order(app: AppServer, page: object, tmp_path: Path) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    today = datetime.date.today()
    page.goto(app.url + "/")
    expect(page.get_by_text("No orders yet.")).to_be_visible()

    page.get_by_role("link", name="Add order").click()
    expect(page.get_by_role("heading", name="Add order")).to_be_visible()

    # A bad order: shipping before ordering, a mistyped card number.
    page.get_by_label("User ID").fill("browser-user")
    page.get_by_label("Store code").fill("st-7")
    page.get_by_label("Product code").fill("sku-77")
    page.get_by_label("Quantity").fill("2")
    page.get_by_label("Order date").fill(today.isoformat())
    page.get_by_label("Shipping date").fill((today - datetime.timedelta(days=1)).isoformat())
    page.get_by_label("Card number").fill("4242 4242 4242 4241")
    page.get_by_role("button", name="Save order").click()
    expect(page.get_by_role("alert")).to_contain_text("The order was not saved")
    expect(page.get_by_text("The shipping date cannot be before the order date.")).to_be_visible()
    expect(page.get_by_text("This card number is not valid")).to_be_visible()
    expect(page.get_by_label("User ID")).to_have_value("browser-user")
    expect(page.get_by_label("Card number")).to_have_value("")
    page.screenshot(path=str(tmp_path / "bad-order.png"), full_page=True)

    # Fix it and save.
    page.get_by_label("Shipping date").fill(today.isoformat())
    page.get_by_label("Card number").fill("5555-5555-5555-4444")
    page.get_by_role("button", name="Save order").click()
    expect(page).to_have_url(app.url + "/")
    expect(page.get_by_role("status")).to_contain_text("Order created: 2 x SKU-77")
    row = page.get_by_role("row").filter(has_text="browser-user")
    expect(row).to_contain_text("Mastercard •••• 4444")
    page.screenshot(path=str(tmp_path / "list.png"), full_page=True)

    row.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Order")).to_be_visible()
    expect(page.get_by_text("ST-7", exact=True)).to_be_visible()
