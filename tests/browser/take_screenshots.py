"""Regenerate the README's screenshots (docs/screenshots/*.png) from the shipped pretrained model.

Not a test: run it by hand after a change to a page,

    python tests/browser/take_screenshots.py [--user 68]

It starts `streamlit run dashboard/app.py` on a scratch store (a fresh first run: the sample is loaded and
the pretrained model adopted), opens each page in Debian's chromium and saves full-page PNGs. Look at them
before committing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]
from test_browser import CHROMIUM, CHROMIUM_ARGS, PAGES, READY, streamlit_server  # noqa: E402

OUT = ROOT / "docs" / "screenshots"


def settle(tab) -> None:
    time.sleep(0.5)
    tab.wait_for_selector(READY, timeout=300_000)


def full_page(tab, path: Path) -> None:
    """Streamlit scrolls inside its main area, so the viewport grows to that area's height first."""
    height = tab.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    tab.set_viewport_size({"width": 1440, "height": min(max(height + 40, 1000), 8000)})
    time.sleep(1.5)
    tab.screenshot(path=str(path))
    tab.set_viewport_size({"width": 1440, "height": 1000})


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--user", default="68")
    args = parser.parse_args()
    if CHROMIUM is None:
        raise SystemExit("chromium is not on PATH")
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, streamlit_server(Path(scratch) / "recscope.duckdb") as url:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            tab = browser.new_page(viewport={"width": 1440, "height": 1000})
            tab.set_default_timeout(300_000)
            tab.goto(f"{url}/?user={args.user}")
            tab.locator("h3", has_text="Why #1").wait_for()
            settle(tab)
            tab.get_by_text("are shown first").first.wait_for()
            settle(tab)
            for name, path in PAGES.items():
                if name != "explore":
                    tab.locator("[data-testid='stSidebarNav']").get_by_role("link").nth(list(PAGES).index(name)).click()
                    tab.wait_for_url(f"{url}/{path}*")
                    settle(tab)
                full_page(tab, OUT / f"{name}.png")
                print(f"wrote {OUT.relative_to(ROOT) / (name + '.png')}")
            browser.close()

if __name__ == "__main__":
    main()
