"""/docs (Swagger UI) and /redoc render the API's operations in headless Chromium with no network but
loopback: every host name except 127.0.0.1 fails to resolve (as on a machine without internet), and
Chromium's own network log shows that no request left 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.api_server import Server, run_server, trained_store
from tests.browser import needs_browser, start_chrome
from tests.support import API_OPERATIONS

pytestmark = needs_browser

pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

OPERATIONS = list(API_OPERATIONS)
REDOC_OPERATION = '[data-section-id*="/operation/"]'


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with run_server(trained_store()) as srv:
        yield srv


@pytest.fixture()
def offline_browser() -> Iterator[Any]:
    driver = start_chrome(
        ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"],
        capabilities={"goog:loggingPrefs": {"performance": "ALL"}},
    )
    try:
        yield driver
    finally:
        driver.quit()


def _requested_urls(driver: Any) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def _assert_only_loopback(urls: list[str]) -> None:
    assert urls
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about"):
            continue
        assert parts.hostname == "127.0.0.1", f"the page asked for {url}"


def test_swagger_ui_lists_the_operations_offline(server: Server, offline_browser: Any) -> None:
    offline_browser.get(server.url + "/docs")
    WebDriverWait(offline_browser, 20).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")) >= len(OPERATIONS)
    )
    paths = [
        e.get_attribute("data-path")
        for e in offline_browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
    ]
    assert sorted(paths) == sorted(OPERATIONS)
    assert offline_browser.execute_script("return typeof SwaggerUIBundle") == "function"
    # open one operation: its documented 404 example is rendered from the schema
    offline_browser.find_element(
        By.CSS_SELECTOR, '.opblock-summary-path[data-path="/v1/{customer}/autocomplete"]'
    ).click()
    WebDriverWait(offline_browser, 10).until(
        lambda d: "unknown_customer" in d.find_element(By.TAG_NAME, "body").text
    )
    _assert_only_loopback(_requested_urls(offline_browser))


def test_redoc_lists_the_operations_offline(server: Server, offline_browser: Any) -> None:
    offline_browser.get(server.url + "/redoc")
    # ReDoc gives every operation a section id "tag/<tag>/operation/<id>"
    WebDriverWait(offline_browser, 20).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, REDOC_OPERATION)) >= len(OPERATIONS)
    )
    for path in OPERATIONS:
        assert path in offline_browser.find_element(By.TAG_NAME, "body").text, path
    text = offline_browser.find_element(By.TAG_NAME, "body").text
    assert "Completions of what the user has typed so far" in text
    assert "gs_2612061500" in text  # the answers' examples (response samples) are rendered
    _assert_only_loopback(_requested_urls(offline_browser))
