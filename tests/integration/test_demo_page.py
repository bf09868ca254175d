"""The demo page at / in headless Chromium (Selenium): typing a prefix shows the expected suggestion."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api_server import NEW_VERSION, Server, run_server, trained_store
from tests.browser import chromium, needs_chromium

pytestmark = needs_chromium

webdriver = pytest.importorskip(
    "selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')"
)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with run_server(trained_store()) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    with chromium() as driver:
        yield driver


def _suggestions(driver: webdriver.Chrome, list_id: str) -> list[str]:
    # One script call reads the whole list at once: the page re-renders it while the user types, and
    # element handles taken one by one can go stale in between.
    keywords = driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map(li => li.dataset.keyword || '')",
        f"#{list_id} li",
    )
    return [str(k) for k in keywords]


def test_typing_shows_suggestions(server: Server, browser: webdriver.Chrome, tmp_path: Path) -> None:
    wait = WebDriverWait(browser, 15)
    browser.get(server.url + "/?customer=alpha-kr")
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")
    assert NEW_VERSION in browser.find_element(By.ID, "version").text
    wait.until(lambda d: _suggestions(d, "popular"))  # the popular list loads with the customer

    box = browser.find_element(By.ID, "q")
    box.send_keys("아이")
    wait.until(lambda d: "아이폰" in _suggestions(d, "suggestions"))
    browser.save_screenshot(str(tmp_path / "demo-autocomplete.png"))

    # choosing a suggestion fills the box and shows its related keywords
    browser.find_element(By.CSS_SELECTOR, '#suggestions li[data-keyword="아이폰"]').click()
    wait.until(lambda d: "아이폰 케이스" in _suggestions(d, "related"))
    assert box.get_attribute("value") == "아이폰"


def test_switching_customer(server: Server, browser: webdriver.Chrome) -> None:
    wait = WebDriverWait(browser, 15)
    browser.get(server.url + "/")
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")
    Select(browser.find_element(By.ID, "customer")).select_by_value("beta-en")
    wait.until(
        lambda d: (
            "harry potter" in _suggestions(d, "popular") or "python programming" in _suggestions(d, "popular")
        )
    )
    box = browser.find_element(By.ID, "q")
    box.clear()
    box.send_keys("pyt")
    wait.until(lambda d: "python programming" in _suggestions(d, "suggestions"))
    assert not any("아이" in kw for kw in _suggestions(browser, "suggestions"))
