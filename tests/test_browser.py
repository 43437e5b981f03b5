"""The composer in a real browser: Voila serves a notebook, headless Chromium moves a slider.

Needs Debian's chromium (/usr/bin/chromium) and the pip packages voila and playwright (never
`playwright install`: the system chromium is driven through executable_path).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Voila starts a kernel and runs the notebook before the page shows widgets: allow for a slow
# machine, but not forever.
SERVER_START_S = 60
PAGE_LOAD_MS = 180_000
REDRAW_MS = 60_000

COMPOSER_CELL = """\
import torch

import fieldlab
from fieldlab import interactive

left = fieldlab.PointCharges(torch.tensor([[-2.0, 0.0], [-2.0, 0.5], [-1.5, 0.2]]), D=2)
right = fieldlab.PointCharges(torch.tensor([[2.0, 0.0], [2.0, 0.5], [1.5, 0.2]]), D=2)
composer = interactive.Composer([left, right], ["left", "right"], n_samples=60, steps=6)
composer
"""

# The figure's title and the samples' coordinates, read from plotly's own graph div.
READ_FIGURE = """() => {
    const graph = document.querySelector('.js-plotly-plot');
    const samples = graph.data.find(trace => trace.name === 'samples');
    return {title: graph.layout.title.text, x: Array.from(samples.x), y: Array.from(samples.y)};
}"""
FIGURE_DRAWN = """() => {
    const graph = document.querySelector('.js-plotly-plot');
    return Boolean(graph && graph.data && graph.data.length > 0);
}"""
TITLE_CHANGED = "(old) => document.querySelector('.js-plotly-plot').layout.title.text !== old"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"voila exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"voila did not answer at {url} within {SERVER_START_S} s")


@pytest.fixture
def voila_url(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(COMPOSER_CELL)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    path = tmp_path / "composer.ipynb"
    nbformat.write(notebook, path)
    port = _free_port()
    log = (tmp_path / "voila.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "voila",
            path.name,
            "--no-browser",
            f"--port={port}",
            "--Voila.ip=127.0.0.1",
        ],
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_for_server(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("FIELDLAB_REQUIRE_BROWSER"),
    reason="chromium is not installed (apt-get install chromium puts it at /usr/bin/chromium)",
)
def test_moving_a_slider_in_the_browser_redraws_the_composer(voila_url, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
        )
        try:
            page = browser.new_page()
            page.goto(voila_url, timeout=PAGE_LOAD_MS)
            page.wait_for_function(FIGURE_DRAWN, timeout=PAGE_LOAD_MS)
            before = page.evaluate(READ_FIGURE)
            picture_before = page.locator(".js-plotly-plot").screenshot()

            # The second slider ("right", at 0): End moves it to its maximum, 1.
            page.locator(".widget-slider .noUi-handle").nth(1).focus()
            page.keyboard.press("End")
            page.wait_for_function(TITLE_CHANGED, arg=before["title"], timeout=REDRAW_MS)
            after = page.evaluate(READ_FIGURE)
            picture_after = page.locator(".js-plotly-plot").screenshot()
        finally:
            browser.close()

    assert before["title"].startswith("1·left + 0·right, Q = 1,")
    assert after["title"].startswith("1·left + 1·right, Q = 2,")
    assert len(before["x"]) == len(after["x"]) == 60
    # With the right field switched on, some samples now land on the right.
    assert max(before["x"]) < 0 < max(after["x"])
    assert picture_after != picture_before
