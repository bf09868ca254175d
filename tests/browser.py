"""Headless Chromium for the browser tests (Selenium with Debian's chromium and chromedriver): the demo
page, the offline API docs and the release review page."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = next(
    (p for p in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")) if p), None
)
DRIVER = next(
    (p for p in ("/usr/bin/chromedriver", shutil.which("chromedriver")) if p and Path(p).exists()), None
)

needs_browser = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None or not Path(CHROMIUM).exists(),
    reason="Chromium or chromedriver not found: run scripts/ensure-browser.sh",
)


def start_chrome(extra_args: Sequence[str] = (), capabilities: dict[str, Any] | None = None) -> Any:
    """A headless Chrome driver; the caller quits it."""
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')"
    )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1200,900",
        *extra_args,
    ):
        options.add_argument(arg)
    for key, value in (capabilities or {}).items():
        options.set_capability(key, value)
    return webdriver.Chrome(service=webdriver.ChromeService(executable_path=str(DRIVER)), options=options)


@contextmanager
def chromium(extra_args: Sequence[str] = (), capabilities: dict[str, Any] | None = None) -> Iterator[Any]:
    """:func:`start_chrome`, always quit."""
    driver = start_chrome(extra_args, capabilities)
    try:
        yield driver
    finally:
        driver.quit()
