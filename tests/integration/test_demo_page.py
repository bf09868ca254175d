"""The demo page at / in headless Chromium (Selenium): typing a prefix shows the expected suggestion;
Korean typed through a real IME composition (CDP), highlights, empty and error states, both languages,
and Hangul drawn with a real font (screenshots)."""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api_server import NEW_VERSION, Server, run_server, trained_store
from tests.browser import needs_browser, start_chrome

pytestmark = needs_browser

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
    driver = start_chrome()
    try:
        yield driver
    finally:
        driver.quit()


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


# --- what a client's product manager sees: Korean typing, highlights, empty and error states, languages ---


def _open(driver: webdriver.Chrome, server: Server, query: str, ready: str = "true") -> WebDriverWait[Any]:
    wait = WebDriverWait(driver, 15)
    driver.get(server.url + "/" + query)
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == ready)
    return wait


def _marks(driver: webdriver.Chrome) -> dict[str, str]:
    """keyword -> the highlighted text of each suggestion shown under the search box ('' when none)."""
    pairs = driver.execute_script(
        "return Array.from(document.querySelectorAll('#suggestions li')).map(li => "
        "[li.dataset.keyword, (li.querySelector('mark') || {textContent: ''}).textContent])"
    )
    return {str(k): str(m) for k, m in pairs}


def _compose(driver: webdriver.Chrome, steps: list[str], commit: str | None = None) -> None:
    """Type like a Korean IME does: each step replaces the composing text (CDP Input.imeSetComposition);
    ``commit`` ends the composition with that text (Input.insertText)."""
    for text in steps:
        driver.execute_cdp_cmd(
            "Input.imeSetComposition", {"text": text, "selectionStart": len(text), "selectionEnd": len(text)}
        )
    if commit is not None:
        driver.execute_cdp_cmd("Input.insertText", {"text": commit})


def _press_enter(driver: webdriver.Chrome) -> None:
    for kind in ("keyDown", "keyUp"):
        event = {"type": kind, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13}
        driver.execute_cdp_cmd(
            "Input.dispatchKeyEvent", {**event, **({"text": "\r"} if kind == "keyDown" else {})}
        )


def test_korean_ime_typing_highlights_the_typed_part(
    server: Server, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    wait = _open(browser, server, "?customer=alpha-kr&lang=ko")
    browser.find_element(By.ID, "q").click()
    # 아이ㅍ, typed jamo by jamo: 아 and 이 committed, ㅍ still composing (the start of 폰 or 패)
    _compose(browser, ["ㅇ", "아"], commit="아")
    _compose(browser, ["ㅇ", "이"], commit="이")
    _compose(browser, ["ㅍ"])
    assert browser.find_element(By.ID, "q").get_attribute("value") == "아이ㅍ"
    wait.until(lambda d: "아이폰" in _marks(d))
    marks = _marks(browser)
    # mid-syllable: the whole syllables typed are highlighted, the composing jamo is not
    assert marks["아이폰"] == "아이" and marks.get("아이패드", "아이") == "아이", marks
    shot = tmp_path / "demo-ime-composing.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 5_000

    # Enter while the IME still composes commits the syllable; it must not pick a suggestion
    _press_enter(browser)
    time.sleep(0.5)
    assert browser.find_element(By.ID, "chosen").text == "—"
    assert _suggestions(browser, "related") == []

    # a plain prefix typed in full is highlighted in full, word starts too
    browser.execute_cdp_cmd("Input.insertText", {"text": ""})  # end the composition
    box = browser.find_element(By.ID, "q")
    box.clear()  # WebDriver's clear leaves the box unfocused: the user clicks back into it to type
    assert box.get_attribute("value") == "", box.get_attribute("value")
    box.click()
    _compose(browser, ["ㅋ", "케"], commit="케")
    _compose(browser, ["ㅇ", "이"], commit="이")
    wait.until(lambda d: _marks(d).get("아이폰 케이스") == "케이")  # the word start 케이스 is marked
    browser.save_screenshot(str(tmp_path / "demo-word-start.png"))

    # once the composition is over, Enter picks (the control for the check above)
    _press_enter(browser)
    wait.until(lambda d: d.find_element(By.ID, "chosen").text == "케이")


def test_leaving_the_box_hides_the_list_and_coming_back_at_once_keeps_it(
    server: Server, browser: webdriver.Chrome
) -> None:
    wait = _open(browser, server, "?customer=alpha-kr&lang=ko")
    box = browser.find_element(By.ID, "q")
    box.send_keys("아이")
    wait.until(lambda d: "아이폰" in _suggestions(d, "suggestions"))
    browser.execute_script("arguments[0].blur(); arguments[0].focus();", box)
    time.sleep(0.5)  # well past the moment the list waits for a click after a blur
    assert "아이폰" in _suggestions(browser, "suggestions")
    browser.execute_script("arguments[0].blur();", box)
    wait.until(lambda d: _suggestions(d, "suggestions") == [])


def test_scores_hidden_unless_asked(server: Server, browser: webdriver.Chrome) -> None:
    wait = _open(browser, server, "?customer=alpha-kr")
    wait.until(lambda d: _suggestions(d, "popular"))
    score = browser.find_element(By.CSS_SELECTOR, "#popular li .score")
    assert not score.is_displayed()
    browser.find_element(By.ID, "show-scores").click()
    assert score.is_displayed() and float(score.text) > 0


def test_no_suggestions_state(server: Server, browser: webdriver.Chrome) -> None:
    wait = _open(browser, server, "?customer=alpha-kr&lang=ko")
    browser.find_element(By.ID, "q").send_keys("쀍쀍쀍")
    wait.until(lambda d: d.find_element(By.ID, "empty").is_displayed())
    assert browser.find_element(By.ID, "empty").text == "추천 검색어가 없습니다"
    assert _suggestions(browser, "suggestions") == []
    Select(browser.find_element(By.ID, "lang")).select_by_value("en")
    wait.until(lambda d: d.find_element(By.ID, "empty").text == "No suggestions")


def test_unknown_customer_is_an_error_not_another_customer(server: Server, browser: webdriver.Chrome) -> None:
    _open(browser, server, "?customer=nope-kr&lang=en", ready="error")
    status = browser.find_element(By.ID, "status")
    assert "Unknown customer" in status.text and "nope-kr" in status.text
    assert "error" in (status.get_attribute("class") or "")
    assert Select(browser.find_element(By.ID, "customer")).first_selected_option.text == "nope-kr"
    assert not browser.find_element(By.ID, "q").is_enabled()
    time.sleep(0.5)  # nothing of alpha-kr (the first customer) may appear meanwhile
    assert _suggestions(browser, "popular") == [] and _suggestions(browser, "trending") == []
    # picking a real customer recovers
    Select(browser.find_element(By.ID, "customer")).select_by_value("alpha-kr")
    WebDriverWait(browser, 15).until(lambda d: "아이폰" in _suggestions(d, "popular"))
    assert browser.find_element(By.ID, "status").text == ""
    assert "nope-kr" not in [o.text for o in Select(browser.find_element(By.ID, "customer")).options]


@pytest.mark.parametrize(
    ("query", "language", "popular_title"),
    [("?lang=en", "en", "Popular searches"), ("?lang=ko", "ko", "인기 검색어")],
)
def test_labels_in_korean_and_english(
    server: Server, browser: webdriver.Chrome, query: str, language: str, popular_title: str
) -> None:
    _open(browser, server, query)
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == language
    assert browser.find_element(By.CSS_SELECTOR, "[data-i18n=popular]").text == popular_title
    assert ("모델 버전" in browser.find_element(By.ID, "version").text) == (language == "ko")


def test_hangul_renders_as_glyphs_not_boxes(
    server: Server, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    """Without a Hangul font every syllable is drawn as the same empty box (tofu): then 가, 나 and a
    private-use character no font has give identical pictures."""
    _open(browser, server, "?customer=alpha-kr")
    browser.execute_script(
        "for (const [id, ch] of arguments[0]) { const s = document.createElement('span'); s.id = id;"
        " s.textContent = ch; s.style.cssText = 'font-size:40px;display:inline-block;padding:4px';"
        " document.body.append(s); }",
        [["probe-ga", "가"], ["probe-na", "나"], ["probe-none", "\ue000"], ["probe-none2", "\ue001"]],
    )
    shots = {}
    for probe in ("probe-ga", "probe-na", "probe-none", "probe-none2"):
        path = tmp_path / f"{probe}.png"
        browser.find_element(By.ID, probe).screenshot(str(path))
        shots[probe] = _png_pixels(path.read_bytes())
    # the method sees tofu: two characters no font has are the same picture
    assert shots["probe-none"] == shots["probe-none2"]
    assert shots["probe-ga"] != shots["probe-na"], "가 and 나 render the same: no Hangul font"
    assert shots["probe-ga"] != shots["probe-none"], "가 renders as the missing-glyph box"
    assert _ink(shots["probe-ga"]) > 30  # dark pixels: a glyph was drawn, not blank space


def _png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and raw RGB(A) rows of an 8-bit PNG (what Chromium writes), unfiltered."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        chunk, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if chunk == b"IHDR":
            header = body
        elif chunk == b"IDAT":
            idat += body
        pos += 12 + length
    width, height = int.from_bytes(header[0:4], "big"), int.from_bytes(header[4:8], "big")
    assert header[8] == 8 and header[12] == 0, "8-bit, not interlaced"
    bpp = {2: 3, 6: 4}[header[9]]
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, bytearray(), bytearray(width * bpp)
    for y in range(height):
        filt, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if filt == 1:
                line[i] = (line[i] + a) & 0xFF
            elif filt == 2:
                line[i] = (line[i] + b) & 0xFF
            elif filt == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif filt == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows += line
        prev = line
    return width, height, bytes(rows) if bpp == 3 else bytes(v for i, v in enumerate(rows) if i % 4 != 3)


def _ink(image: tuple[int, int, bytes]) -> int:
    rgb = image[2]
    return sum(1 for i in range(0, len(rgb), 3) if rgb[i] + rgb[i + 1] + rgb[i + 2] < 300)
