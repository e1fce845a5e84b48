"""`geoxai app` in a real headless browser (Debian's chromium driven by Playwright): the page loads
with no request leaving the machine (and nothing blocked by its Content-Security-Policy), starts on
an offline model and gradcam, greys out a plugin that cannot load with its reason, a photo is
uploaded, the overlay and the map appear, a click on a country explains that country and its card
gives the country's probability, a long error wraps inside its box, and a screenshot is saved."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _app_helpers import start_app

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def _chromium() -> str:
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no chromium executable on PATH (Debian: apt-get install -y chromium; .ci/run does this)")


@pytest.fixture
def app_url(tmp_path):
    """Start `geoxai app` as a user would, read the printed address, stop it afterwards."""
    env = {**os.environ, "GEOXAI_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    proc, url, _ = start_app([sys.executable, "-m", "geoxai", "app", "--port", "0", "--workdir",
                              str(tmp_path / "work")], env, timeout=60)
    try:
        assert url.startswith("http://127.0.0.1:")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_app_in_a_headless_browser(app_url, photo_files, tmp_path):
    executable = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra)")
    screenshot = Path(os.environ.get("GEOXAI_APP_SCREENSHOT") or tmp_path / "geoxai-app.png")
    requested: list[str] = []

    def record(route):
        requested.append(route.request.url)
        if route.request.url.startswith(app_url):
            route.continue_()
        else:
            route.abort()  # would have left the machine

    with sync_api.sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=executable, headless=True,
                args=["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                      "--no-first-run", "--disable-sync", "--disable-default-apps"])
        except Exception as exc:  # noqa: BLE001 - a browser that cannot start is a skip, with the reason
            pytest.skip(f"chromium at {executable} could not be started: {exc}".splitlines()[0])
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.route("**/*", record)
            page = context.new_page()
            page.set_default_timeout(30_000)
            page.goto(app_url)
            page.wait_for_selector("body[data-ready='1']")
            assert page.locator("#map path.country").count() == 241
            # it starts on a model and an explainer that work offline, not the alphabetical first
            assert page.input_value("#model") in ("imagenet-lite0", "tiny")
            assert page.input_value("#explainer") == "gradcam"
            page.wait_for_selector("body[data-plugins-checked='1']", timeout=120_000)
            s2 = page.locator("#model option[value='s2']")  # no weights in this GEOXAI_HOME, no network
            assert s2.is_disabled() and s2.get_attribute("title")  # the one-line reason
            assert "cannot load" in s2.text_content()
            assert page.locator("#model").evaluate("s => !s.selectedOptions[0].disabled")
            page.select_option("#model", "tiny")
            page.select_option("#explainer", "gradcam")
            page.select_option("#segmenter", "tiny")
            page.set_input_files("#photo-input", str(photo_files[0]))
            page.wait_for_selector(".card img.overlay")
            page.wait_for_function("() => document.querySelector('.card img.overlay').naturalWidth > 0")
            assert page.locator(".card").count() == 1
            assert page.locator(".card").first.get_attribute("data-target") == "predicted"
            assert page.locator(".card .ci .row").count() > 0  # concept-influence bars
            shaded = page.eval_on_selector_all("#map path.country", "els => els.filter(e => e.style.fill).length")
            assert shaded == 8  # the tiny model's eight cities lie in eight countries
            assert page.locator("#map circle.cell").count() == 8
            page.locator("#map path.country[data-code='BR']").click()  # Rio de Janeiro is one of its cells
            page.wait_for_function("() => document.querySelectorAll('.card').length === 2")
            assert page.locator(".card").first.get_attribute("data-target") == "country:BR"
            page.wait_for_function("() => document.querySelector('.card img.overlay').naturalWidth > 0")
            assert page.locator("#map path.country.selected").get_attribute("data-code") == "BR"
            card_text = page.locator(".card .target-country").first.text_content()
            assert "Brazil" in card_text and "probability" in card_text and "%" in card_text
            assert page.locator("#error").is_hidden()
            page.screenshot(path=str(screenshot), full_page=True)
            # a long one-line error wraps inside the error box instead of running past it
            page.select_option("#explainer", "ig-smoothgrad")
            page.fill("#explainer-options", "n_samples=60, n_steps=" + "9" * 200)
            page.click("#explain")
            page.wait_for_selector("#error:not([hidden])")
            box = page.locator("#error").evaluate("e => [e.scrollWidth, e.clientWidth, e.textContent.length]")
            assert box[2] > 200 and box[0] <= box[1], box
        finally:
            browser.close()
    assert screenshot.stat().st_size > 10_000
    assert requested and all(url.startswith("http://127.0.0.1:") for url in requested), requested
