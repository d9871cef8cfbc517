"""Issue 23 in real headless Chromium: user text on the class board and in a deep link shows as text.

A class-board name ``![p](http://127.0.0.1:<unused port>/p.png)`` must not become an image (the browser must
not even try to fetch it: ``page.on("request")`` sees every attempt, refused or not), and
``[grades](https://evil.example)`` must not become a link; a deep link's value in a warning neither.
The board is seeded on disk (labelled runs of hand-made stored results): nothing trains.

Run: ``pytest -m e2e tests/test_e2e_hostile.py`` (Debian's /usr/bin/chromium and the ``playwright`` package).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import browser_support
from browser_support import EXCEPTION, SHOTS, sync_playwright

pytestmark = browser_support.MARKS


def _seed(store_dir: Path, names_and_accuracy: list[tuple[str, float]], start: int = 0) -> None:
    from kdcore.board import current_class, label_run
    from kdcore.store import ResultStore

    store = ResultStore(store_dir)
    for i, (name, accuracy) in enumerate(names_and_accuracy, start=start):
        r = store.put(f"hostile{i:02d}", {"dataset": "mnist", "name": f"seeded {i}",
                                          "config": {"arch": "student_mlp", "hidden": [32], "method": "hinton",
                                                     "temperature": 4.0, "alpha": 0.5},
                                          "metrics": {"accuracy": accuracy}})
        label_run(current_class(store_dir), name, r, store_dir)


def _wait_for_text(page, text: str) -> None:  # noqa: ANN001 - a playwright Page
    """Wait until the page reads ``text`` literally. Zero-width spaces are left out of the comparison:
    :func:`kdcore.views.text.plain` puts them where GFM would otherwise auto-link a URL; a reader sees none."""
    page.wait_for_function("t => document.body.innerText.replaceAll('\\u200b', '').includes(t)", arg=text)


def test_board_names_and_link_values_show_as_text_and_fetch_nothing(server, tmp_path: Path) -> None:
    base, _proc = server
    SHOTS.mkdir(parents=True, exist_ok=True)
    image_url = f"http://127.0.0.1:{browser_support.free_port()}/p.png"  # nothing listens there
    image_name, link_name = f"![p]({image_url})", "[grades](https://evil.example)"
    store_dir = tmp_path / "store"  # the served app's KD_STORE_DIR (the server fixture)
    _seed(store_dir, [(image_name, 0.95), ("Ada", 0.90)])
    with sync_playwright() as p:
        browser = browser_support.launch(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2000})
            page.set_default_timeout(30_000)
            requested: list[str] = []
            page.on("request", lambda r: requested.append(r.url))

            page.goto(f"{base}/class_board", wait_until="domcontentloaded")
            page.get_by_role("heading", name="Class board").first.wait_for()
            _wait_for_text(page, f"Best: {image_name}")  # the best run's name, as typed
            page.wait_for_timeout(1500)
            page.screenshot(path=str(SHOTS / "hostile-1-board.png"), full_page=True)
            assert page.locator(f'img[src^="{image_url}"]').count() == 0
            assert page.locator(EXCEPTION).count() == 0

            _seed(store_dir, [(link_name, 0.99)], start=5)  # a new best: the other name
            page.reload(wait_until="domcontentloaded")
            _wait_for_text(page, f"Best: {link_name}")
            page.wait_for_timeout(1000)
            links = page.locator('a[href^="https://evil.example"]')
            assert links.count() == 0, [links.nth(i).evaluate("a => a.parentElement.parentElement.outerHTML")
                                        for i in range(links.count())]

            page.goto(f"{base}/distill_lab?method=[Log in again](https://evil.example/login)",
                      wait_until="domcontentloaded")
            page.get_by_role("heading", name="Distill lab").first.wait_for()
            _wait_for_text(page, "'[Log in again](https://evil.example/login)' is not a method of this page")
            page.screenshot(path=str(SHOTS / "hostile-2-link.png"), full_page=True)
            assert page.locator('a[href^="https://evil.example"]').count() == 0
            assert page.locator(EXCEPTION).count() == 0
        finally:
            browser.close()
    fetched = [u for u in requested if u.startswith(image_url) or urlparse(u).hostname == "evil.example"]
    assert not fetched and any(u.startswith(base) for u in requested), fetched  # (the page's own requests seen)
