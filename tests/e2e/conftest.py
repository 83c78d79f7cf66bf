"""Browser end-to-end fixtures: the offline sandbox in process, driven through its page by
Debian's Chromium under Playwright.

``playwright install`` downloads a browser build and cannot work on these machines, so the
tests launch the system ``chromium`` (``apt-get install -y chromium``; ``.ci/run`` installs it
when missing). Without it the tests fail, naming that command: they never skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SCREENSHOTS = Path(__file__).parent / "screenshots"

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL_HINT = "apt-get install -y chromium"
# The page's "N s wait" state machine: short, so a test can watch its waiting task time out.
SHORT_WAIT_SECONDS = 3


@contextlib.contextmanager
def restored_process_state() -> Iterator[None]:
    """The sandbox sets environment variables and imports the handlers configured by them:
    put both back afterwards, so later tests in the same process see what they saw before."""
    saved_env = dict(os.environ)
    saved_modules = set(sys.modules)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        for name in set(sys.modules) - saved_modules:
            if name.startswith("bot.handlers"):
                del sys.modules[name]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    """One sandbox per module on free ports."""
    from bot.local.sandbox import Sandbox

    with restored_process_state():
        running = Sandbox(port=0, short_wait_seconds=SHORT_WAIT_SECONDS).start()
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "Chromium is not installed: the browser tests drive Debian's Chromium "
            f"(`{INSTALL_HINT}`; .ci/run installs it when missing). "
            "`playwright install` cannot download browsers on this machine.",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any, sandbox: Any) -> Iterator[Any]:
    """A fresh browser context on the sandbox's page (as ana, the default), with every
    JavaScript error collected: a test fails if the page threw."""
    from playwright.sync_api import expect

    context = browser.new_context(
        viewport={"width": 1440, "height": 900}, locale="en-US", timezone_id="UTC"
    )
    context.set_default_timeout(15_000)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(sandbox.url)
    expect(opened.get_by_test_id("app")).to_have_attribute("data-ready", "true", timeout=10_000)
    try:
        yield opened
    finally:
        context.close()
    assert not errors, f"the page threw: {errors}"


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS
