"""``simclr serve`` in a real browser (headless Chromium, driven by Selenium through Debian's
chromedriver): the neighbours a person sees are the ones ``simclr retrieve --json`` gives, a
click searches from a neighbour, an uploaded PNG is answered, and an upload that is not an image
is one line on the page. Screenshots go to $SIMCLR_SCREENSHOTS (docs/images keeps them)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.linear_eval.retrieval.serving import fetch, retrieved

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
MISSING = [
    name
    for name, found in [
        ("chromium", CHROMIUM),
        ("chromedriver (Debian: chromium-driver)", CHROMEDRIVER),
        ("selenium", importlib.util.find_spec("selenium")),
    ]
    if not found
]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(MISSING), reason=f"no {', '.join(MISSING)}: ./setup.sh installs them"),
]


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1280,1000")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()


def shown(driver) -> list[tuple[int, float]]:
    """The neighbours on the page: (row, score) of each, in order."""
    from selenium.webdriver.common.by import By

    figures = driver.find_elements(By.CSS_SELECTOR, "figure.neighbour")
    return [
        (int(f.get_attribute("data-row")), float(f.get_attribute("data-score"))) for f in figures
    ]


def assert_retrieve_gives(driver, served_run, image: Path, capsys) -> None:
    expected = retrieved(served_run.index, image, 5, capsys)
    rows, scores = zip(*shown(driver))
    assert list(rows) == [hit["row"] for hit in expected]
    assert list(scores) == pytest.approx([hit["score"] for hit in expected], abs=1e-5)


def wait_for(driver, condition) -> None:
    """Wait (up to a minute) until ``condition(driver)`` holds: a click's page has loaded."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    ignored = (NoSuchElementException, StaleElementReferenceException)
    WebDriverWait(driver, 60, ignored_exceptions=ignored).until(condition)


def query_row(driver) -> str | None:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, "query").get_attribute("data-row")


def screenshot(driver, name: str, tmp_path: Path) -> None:
    """The visible page, once its thumbnails have loaded (they load lazily)."""
    from selenium.webdriver.support.ui import WebDriverWait

    loaded = "return [...document.images].every(i => i.complete && i.naturalWidth > 0)"
    WebDriverWait(driver, 30).until(lambda d: d.execute_script(loaded))
    folder = Path(os.environ.get("SIMCLR_SCREENSHOTS") or tmp_path)
    assert driver.save_screenshot(str(folder / name))


def test_a_browser_sees_the_neighbours_retrieve_gives(
    served_run, browser, capsys, tmp_path
) -> None:
    from selenium.webdriver.common.by import By

    files = [Path(p) for p in json.loads((served_run.index / "index.json").read_text())["paths"]]
    browser.get(f"{served_run.url}/?index=val")
    assert served_run.run.name in browser.find_element(By.TAG_NAME, "h1").text
    assert "exact index (flat, 100 vectors)" in browser.find_element(By.ID, "index").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "#gallery figure")) == 60  # a page of 100
    screenshot(browser, "serve_gallery.png", tmp_path)

    browser.find_element(By.CSS_SELECTOR, '#gallery a[href$="row=12&k=5"]').click()
    wait_for(browser, lambda d: query_row(d) == "12")
    assert_retrieve_gives(browser, served_run, files[12], capsys)
    screenshot(browser, "serve_neighbours.png", tmp_path)

    second = shown(browser)[1][0]
    browser.find_elements(By.CSS_SELECTOR, "#neighbours figure a")[1].click()
    wait_for(browser, lambda d: query_row(d) == str(second))
    assert_retrieve_gives(browser, served_run, files[second], capsys)

    browser.find_element(By.CSS_SELECTOR, '#upload input[type="file"]').send_keys(str(files[42]))
    browser.find_element(By.CSS_SELECTOR, "#upload button").click()
    wait_for(browser, lambda d: "upload=" in d.current_url and "uploaded image" in d.title)
    assert_retrieve_gives(browser, served_run, files[42], capsys)
    screenshot(browser, "serve_upload.png", tmp_path)

    notes = tmp_path / "notes.txt"
    notes.write_text("a shopping list, not a picture\n")
    browser.find_element(By.CSS_SELECTOR, '#upload input[type="file"]').send_keys(str(notes))
    browser.find_element(By.CSS_SELECTOR, "#upload button").click()
    wait_for(browser, lambda d: d.find_element(By.ID, "error").is_displayed())
    error = browser.find_element(By.ID, "error").text
    assert error.startswith("notes.txt: the upload is not an image") and "\n" not in error
    assert "Traceback" not in browser.page_source
    assert fetch(f"{served_run.url}/search?index=val&row=0")[0] == 200  # it goes on serving
