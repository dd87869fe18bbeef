"""Real browser: `streamlit run dashboard/app.py` on a free port, driven with Debian's chromium.

Main flow: open the app, pick a user, see the recommendations, select one by clicking its bar, see its
attention chart with the faithfulness indicator (badge + verdict sentence) in the same column. A screenshot of every page goes to test-artifacts/ (gitignored) for a human to look at.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
READY = "[data-testid='stApp'][data-test-script-state='notRunning']"
PAGES = {"explore": "", "data": "data", "train": "train", "evaluate": "evaluate", "item_map": "item_map"}

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not on PATH (.ci/run installs it)")
sync_api = pytest.importorskip("playwright.sync_api")
sys.path.insert(0, str(ROOT / "tests" / "dashboard"))
from dashboard_fixtures import build_trained_store  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, server: subprocess.Popen, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"streamlit exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError("streamlit did not become healthy")


@contextmanager
def streamlit_server(db: Path, log_path: Path | None = None) -> Iterator[str]:
    """`streamlit run dashboard/app.py` on a free port over the store `db`; yields its URL once healthy.

    Shared by the browser tests and the screenshot script, so all of them drive the app as users start it."""
    port = free_port()
    env = {**os.environ, "RECSCOPE_DB": str(db)}
    command = [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none"]  # fmt: skip
    log = open(log_path, "w") if log_path is not None else subprocess.DEVNULL
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        if log_path is not None:
            log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A running dashboard over a store that already holds the tiny-dot model."""
    db = build_trained_store(tmp_path_factory.mktemp("browser") / "recscope.duckdb", ("tiny-dot",))
    with streamlit_server(db, tmp_path_factory.mktemp("logs") / "streamlit.log") as url:
        yield url, db


@pytest.fixture(scope="module")
def page(server) -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1440, "height": 1000})
        tab.set_default_timeout(60_000)
        yield tab
        browser.close()


def settle(tab) -> None:
    """Wait until the script run that the last action started has finished."""
    time.sleep(0.5)
    tab.wait_for_selector(READY, timeout=180_000)


def screenshot(tab, name: str) -> None:
    """The whole page: the viewport grows to the main area's height (Streamlit scrolls inside it)."""
    ARTIFACTS.mkdir(exist_ok=True)
    height = tab.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    tab.set_viewport_size({"width": 1440, "height": min(max(height + 40, 1000), 8000)})
    time.sleep(1.0)
    tab.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    tab.set_viewport_size({"width": 1440, "height": 1000})


def engine_recommendations(db: Path, user_id: str) -> list[str]:
    from engine.explain import explain_user
    from engine.service import load_model
    from engine.store import Store

    loaded = load_model(Store(db, read_only=True), "tiny-dot")
    return [rec.title for rec in explain_user(loaded.model, loaded.data, user_id, 10).recommendations]


def engine_faithfulness(db: Path, user_id: str, rank: int) -> tuple[str, str]:
    """(badge text, verdict sentence) that the engine gives for the user's recommendation at `rank`."""
    from dashboard.whatif import verdict_label
    from engine.explain import explain_user, user_history
    from engine.faithfulness import faithfulness
    from engine.service import load_model
    from engine.store import Store

    loaded = load_model(Store(db, read_only=True), "tiny-dot")
    rec = explain_user(loaded.model, loaded.data, user_id, 10).recommendations[rank - 1]
    result = faithfulness(loaded.model, loaded.data, user_history(loaded.data, user_id), rec.item, top_k=10)
    return verdict_label(result.verdict), result.verdict


def test_main_flow_and_screenshots(server, page) -> None:
    url, db = server
    page.goto(url)
    page.locator("h1", has_text="Explore recommendations").wait_for()
    settle(page)

    sidebar = page.locator("[data-testid='stSidebar']")
    sidebar.get_by_role("combobox").nth(2).click()  # dataset, model, user
    page.keyboard.type("68")
    page.keyboard.press("Enter")
    page.get_by_text("User 68 ·").wait_for()
    settle(page)

    expected = engine_recommendations(db, "68")
    chart = page.locator(".js-plotly-plot").filter(has_text="Recommendation scores")
    for rank, title in enumerate(expected[:3], start=1):
        chart.get_by_text(f"{rank}. {title[:40]}").first.wait_for()
    page.locator("h3", has_text=f"Why #1: {expected[0]}").wait_for()

    bar = chart.locator("g.point path").nth(2).bounding_box()  # the third bar; Plotly's drag layer takes the click
    page.mouse.click(bar["x"] + bar["width"] / 2, bar["y"] + bar["height"] / 2)
    page.locator("h3", has_text=f"Why #3: {expected[2]}").wait_for()
    settle(page)
    page.get_by_text("are shown first:").first.wait_for()  # the report's reason for the order of the two views
    page.get_by_role("tab", name="Attention weights").click()  # the first tab may be Contributions for this model
    attention = page.locator(".js-plotly-plot").filter(has_text="Past items that drove")
    attention.wait_for()
    assert expected[2][:30] in attention.inner_text()
    badge_text, sentence = engine_faithfulness(db, "68", 3)
    indicator = page.locator(".st-key-explore-faithfulness")  # st.container(key=state.EXPLORE_FAITHFULNESS)
    indicator.get_by_text("Is this attention faithful? Test it").click()  # a lazy expander: the test runs once opened
    indicator.get_by_text(sentence).wait_for()
    assert "Is this attention faithful?" in indicator.inner_text()
    assert indicator.locator("[data-testid='stMetricValue']").inner_text().strip() == badge_text
    beside = page.locator("[data-testid='stColumn']").filter(has=attention).filter(has=indicator)
    assert beside.count() >= 1, "the faithfulness indicator is not in the attention chart's column"
    assert page.get_by_text("Agrees with the ranking to float32 precision").count() == 1
    screenshot(page, "explore")

    for name, path in PAGES.items():
        if name == "explore":
            continue
        page.locator("[data-testid='stSidebarNav']").get_by_role("link").nth(list(PAGES).index(name)).click()
        page.wait_for_url(f"{url}/{path}*")
        settle(page)
        assert "user=68" in page.url, f"the sidebar's user did not survive the switch to {name}"
        screenshot(page, name)
    for name in PAGES:
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 20_000
