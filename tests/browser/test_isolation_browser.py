"""Real browser, two sessions on one `streamlit run dashboard/app.py` server: an upload stays private.

Context A uploads an interactions CSV on the Data page and loads it into its workspace. Context B (its
own cookies, no token) must not see that dataset in the sidebar picker nor on the Data page; B opening
A's `?ws=` link does see it (whoever holds the link shares the workspace, as documented), and a link
with a random valid token sees nothing of it.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from test_browser import CHROMIUM, CHROMIUM_ARGS, ROOT, settle, streamlit_server  # also puts tests/dashboard on the path

from engine.workspace import WORKSPACES_DIR, is_valid_token, new_workspace_token

sys.path.insert(0, str(ROOT / "tests" / "dashboard"))
from dashboard_fixtures import build_trained_store  # noqa: E402

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not on PATH (.ci/run installs it)")

CSV = "customer,sku,stars\n" + "".join(f"c{u},sku{(u * 5 + k) % 9},{1 + k % 5}\n" for u in range(6) for k in range(4))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A dashboard over a store with the sample and one tiny model (so the first run trains nothing)."""
    db = build_trained_store(tmp_path_factory.mktemp("isolation") / "recscope.duckdb", ("tiny-sigmoid",))
    with streamlit_server(db, tmp_path_factory.mktemp("logs") / "streamlit.log") as url:
        yield url, db


@pytest.fixture(scope="module")
def browser(server) -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def open_tab(browser, url: str):
    """A page in a fresh browser context: its own cookies and storage, so its own Streamlit session."""
    tab = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
    tab.set_default_timeout(60_000)
    tab.goto(url)
    tab.locator("h1", has_text="Data").wait_for()
    settle(tab)
    return tab


def dataset_options(tab) -> list[str]:
    """Every option of the sidebar's dataset picker (opened, read, closed again)."""
    picker = tab.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").filter(has_text="Dataset")
    picker.get_by_role("combobox").click()
    options = tab.get_by_role("listbox").get_by_role("option")
    options.first.wait_for()
    texts = [text.strip() for text in options.all_inner_texts()]
    tab.keyboard.press("Escape")
    return texts


def page_text(tab) -> str:
    """The whole document (sidebar, Data page, the data grids' accessible tables included)."""
    return tab.content()


def upload_and_load(tab, name: str) -> None:
    """Data page: choose the CSV in the upload expander, name the dataset, click Load."""
    box = tab.locator("[data-testid='stExpander']").filter(has_text="Upload your own data")
    box.locator("[data-testid='stFileUploader']").first.locator("input[type='file']").set_input_files(
        {"name": "shop.csv", "mimeType": "text/csv", "buffer": CSV.encode("utf-8")})  # fmt: skip
    settle(tab)
    field = box.get_by_label("Dataset name")
    field.wait_for()
    field.fill(name)
    field.press("Enter")
    settle(tab)
    box.locator("[data-testid='stButton']").get_by_role("button", name="Load", exact=True).click()
    settle(tab)
    tab.get_by_text(f'Loaded "{name}" into your workspace.').wait_for()
    settle(tab)


def test_upload_is_private_to_its_workspace_link(server, browser) -> None:
    url, db = server
    name = f"shop-{secrets.token_hex(4)}"  # unique: no other text on the pages can contain it by chance

    a = open_tab(browser, f"{url}/data")
    assert name not in page_text(a)
    upload_and_load(a, name)
    token = parse_qs(urlparse(a.url).query).get("ws", [""])[0]
    assert is_valid_token(token), a.url
    assert (db.parent / WORKSPACES_DIR / f"{token}.duckdb").is_file()
    assert f"{name} (private)" in dataset_options(a)
    a.locator("[data-testid='stSidebar']").get_by_text("not tied to an account").wait_for()  # no sign-in here
    a.locator("h3", has_text=name).wait_for()  # the Data page now describes the uploaded dataset
    assert name in page_text(a)

    b = open_tab(browser, f"{url}/data")  # another browser profile, no token
    options = dataset_options(b)
    assert "movielens-small" in options and not any(name in option for option in options)
    assert name not in page_text(b)
    assert "ws=" not in b.url

    b.goto(f"{url}/data?ws={token}")  # A's workspace link: the documented way to share it
    b.locator("h1", has_text="Data").wait_for()
    settle(b)
    assert f"{name} (private)" in dataset_options(b)

    stranger = new_workspace_token()
    b.goto(f"{url}/data?ws={stranger}")  # a well-formed token of an empty workspace
    b.locator("h1", has_text="Data").wait_for()
    settle(b)
    options = dataset_options(b)
    assert "movielens-small" in options and not any(name in option for option in options)
    assert name not in page_text(b)
    assert not (db.parent / WORKSPACES_DIR / f"{stranger}.duckdb").exists()  # looking creates nothing
