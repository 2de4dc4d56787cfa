"""Opening pages in Debian's headless chromium (driven by Playwright), collecting every console
error and uncaught exception, for the report's browser tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

from tests.binaries import require_binary

#: Opens a file: its loaded page, and the list its console errors go into.
Opener = Callable[[Path], tuple[Any, list[str]]]


@contextmanager
def browser(width: int = 1280) -> Iterator[Opener]:
    """A headless chromium for the block; the function that opens a file in a new page."""
    chromium = require_binary("chromium")
    with sync_playwright() as driver:
        running = driver.chromium.launch(executable_path=chromium, args=["--no-sandbox"])

        def open_page(path: Path) -> tuple[Any, list[str]]:
            page = running.new_page(viewport={"width": width, "height": 900})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            return page, errors

        try:
            yield open_page
        finally:
            running.close()


@contextmanager
def opened(path: Path, width: int = 1280) -> Iterator[tuple[Any, list[str]]]:
    """The page of the file at ``path``, loaded, and the list its console errors go into."""
    with browser(width) as open_page:
        yield open_page(path)
