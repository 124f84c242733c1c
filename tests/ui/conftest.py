"""Browser tests: Playwright (Python) driving Debian's Chromium against a real `coe serve` app on loopback.

Screenshots go to ``test-artifacts/ui/`` (or ``$COE_TEST_ARTIFACTS/ui``) for people to look at.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, sync_playwright

CHROMIUM = os.environ.get("COE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("COE_TEST_ARTIFACTS") or Path(__file__).resolve().parents[2] / "test-artifacts") / "ui"
# This machine's network is closed: without these, Chromium keeps trying to reach Google's services.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One browser per test module: Playwright's sync API runs an event loop on this thread while it is open,
    so it must be closed before the async tests of other modules run."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium not found at {CHROMIUM}; .ci/run installs Debian's chromium package")
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set COE_CHROMIUM)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


class PageErrors(list[str]):
    pass


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page (empty localStorage) that fails the test on any uncaught JavaScript error."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
    pg = ctx.new_page()
    errors = PageErrors()
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" and "status of 401" not in m.text else None)
    pg.on("response", lambda r: errors.append(f"HTTP {r.status} from {r.request.method} {r.url}")
          if r.status >= 500 else None)
    pg.set_default_timeout(20_000)
    yield pg
    ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def shot(page: Page, name: str, **kw: Any) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), **kw)
    return path


def wait_image(img: Locator, timeout_s: float = 20) -> None:
    """Until the image has loaded and has a size (the page's CSP forbids wait_for_function's eval)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if img.evaluate("el => el.complete && el.naturalWidth > 0"):
            return
        time.sleep(0.1)
    raise AssertionError("the image did not load")
