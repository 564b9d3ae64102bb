"""Debian's Chromium under Playwright, for the browser tests and the handoff benchmark.

Playwright never downloads a browser here: it drives ``/usr/bin/chromium``
(``apt-get install chromium``) headless, with the network features a test
does not need switched off.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
MISSING = f"Debian's Chromium is not installed at {CHROMIUM} (apt-get install chromium; `make test` installs it)"


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
