"""The release review page (`kwrec diff --html`) rendered in headless Chromium: charts, offline, escaped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kwrec.core.release_diff import diff_releases
from kwrec.core.release_diff_page import PLOT_WIDTH, render_page
from tests.browser import chromium, needs_browser
from tests.review_releases import HOSTILE, two_releases

pytestmark = needs_browser

CHARTS = ("chart-stability", "chart-mrr", "chart-keywords", "chart-movers")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as driver:
        yield driver


def test_the_review_page_renders_its_charts_offline(browser: Any, tmp_path: Path) -> None:
    releases = two_releases()
    diff = diff_releases(releases.store, releases.old, releases.new, releases.settings.cache_dir)
    page = tmp_path / "diff.html"
    page.write_text(render_page(diff), encoding="utf-8")
    browser.get(page.as_uri())

    # nothing fetched: no script, no style sheet, font or image from anywhere (it must work offline)
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert browser.execute_script("return document.scripts.length") == 0
    # a hostile keyword is shown as text, never run
    assert browser.title.startswith("kwrec release review") and "pwned" not in browser.title
    assert HOSTILE in browser.execute_script("return document.body.innerText")

    sizes = browser.execute_script(
        "return arguments[0].map(id => { const r = document.querySelector('#' + id + ' svg')"
        ".getBoundingClientRect(); return [r.width, r.height]; })",
        list(CHARTS),
    )
    assert all(w > 300 and h > 20 for w, h in sizes), sizes
    # the stability chart: one bar per retrained customer, as long as its stability; reused ones named
    bars = browser.execute_script(
        "return Array.from(document.querySelectorAll('#chart-stability rect.bar'))"
        ".map(b => [b.querySelector('title').textContent, b.getBoundingClientRect().width])"
    )
    widths = {title.split(":")[0]: width for title, width in bars}
    compared = {c.customer: c.stability for c in diff.customers if c.status == "retrained"}
    assert set(compared) == {"books-en", "shop-kr"}
    assert "news-kr" in browser.find_element("id", "reused").get_attribute("textContent")
    assert set(widths) == set(compared)
    for customer, stability in compared.items():
        assert widths[customer] == pytest.approx((stability or 0) * PLOT_WIDTH, abs=1.0)
    # the biggest movers are the banned keyword's prefixes
    movers = browser.execute_script(
        "return Array.from(document.querySelectorAll('#chart-movers rect.bar')).map(b => b.textContent)"
    )
    assert movers and movers[0].startswith("books-en: har")
    browser.save_screenshot(str(tmp_path / "diff.png"))
