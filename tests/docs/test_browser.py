"""What a person sees, checked in a real browser: TensorBoard of a finished run, the docs site.

Headless Chromium (Debian's ``chromium``, driven over the DevTools protocol by
``tests/docs/browser.py``) loads

* ``fedsim tensorboard`` on a finished small run (the fake grid runs the real ClientApp): the
  CL scalars (``cl/acc``, ``cl/forgetting``) are listed and drawn, the accuracy-matrix images
  load (decoded, non-zero size), and the page logs no console error;
* the docs site built by ``mkdocs build --strict``, served by a static server on 127.0.0.1:
  the index and an API page load with every image decoded and no console error.

The screenshots on the docs pages (``docs/figures/screens/*.png``) are the ones taken here:
``FEDSIM_UPDATE_SCREENS=1`` copies them into the docs. Without Chromium the test is skipped,
except in CI (``CI=true``), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SMALL, cli_env
from tests.docs.browser import Browser, chromium_or_skip
from tests.fake_grid import run_experiment

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SCREENS = ROOT / "docs" / "figures" / "screens"
TEXT = "document.body.innerText.replace(/\\s+/g, '')"  # TensorBoard splits tags over lines
LOADED_IMAGES = (
    "[...document.images].filter(i => i.src.includes('{}') && i.complete"
    " && i.naturalWidth > 0).length"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], ready: str, cwd: Path = ROOT) -> tuple[subprocess.Popen, str]:
    """Start a server process; return it and the first output line matching ``ready``."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if re.search(ready, line):
            return proc, line
    stop(proc)
    raise RuntimeError(f"{cmd[:4]} exited without '{ready}'")


def stop(proc: subprocess.Popen) -> None:
    """End a process this test started (by its handle), politely first."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(chromium_or_skip(), tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


def keep(shot: Path) -> None:
    if os.environ.get("FEDSIM_UPDATE_SCREENS") == "1":
        SCREENS.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, SCREENS / shot.name)


def test_tensorboard_shows_cl_scalars_and_accuracy_matrices(browser, tmp_path):
    run_dir, summary = run_experiment(tmp_path, *SMALL, "log.matrix_clients=[0,1]")
    assert summary["status"] == "completed"
    port = free_port()
    tb, line = start([sys.executable, "-m", "fedsim", "tensorboard", str(run_dir),
                      "--port", str(port)], r"TensorBoard on .* at http://127\.0\.0\.1")
    try:
        base = f"http://127.0.0.1:{port}/"
        browser.goto(base + "?tagFilter=%5Ecl%2F#timeseries")
        text = browser.wait_for(
            "(t => t.includes('cl/acc') && t.includes('cl/forgetting') && t.includes('Smoothed')"
            f" && t)({TEXT})", timeout=90)
        assert "cl/bwt" in text and "cl/aia" in text
        # a chart was drawn: every scalar card holds a rendered line chart (canvas or svg)
        assert browser.evaluate(
            "document.querySelectorAll('scalar-card-component line-chart canvas, "
            "scalar-card-component line-chart svg').length") > 0
        browser.evaluate("document.querySelector('[aria-label=\"Close settings\"]')?.click()")
        keep(browser.screenshot(tmp_path / "tensorboard-scalars.png"))
        assert browser.errors == [], browser.errors

        browser.goto(base + "?tagFilter=%5Eaccuracy_matrix%2F#timeseries")
        images = LOADED_IMAGES.format("/data/plugin/timeseries/imageData")
        shown = browser.wait_for(images + " >= 4", timeout=90)
        assert shown
        text = browser.evaluate(TEXT)
        for name in ("accuracy_matrix/federation", "accuracy_matrix/client_0",
                     "accuracy_matrix/client_1", "accuracy_matrix/central_rounds"):
            assert name in text
        keep(browser.screenshot(tmp_path / "tensorboard-images.png"))
        assert browser.errors == [], browser.errors
    finally:
        stop(tb)


def test_docs_site_loads_without_console_errors(browser, tmp_path):
    site = tmp_path / "site"
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d",
                            str(site)], cwd=ROOT, env=cli_env(), capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-3000:]
    http, line = start([sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
                        "--directory", str(site)], r"Serving HTTP on .* port \d+")
    port = int(re.search(r"port (\d+)", line).group(1))
    try:
        browser.goto(f"http://127.0.0.1:{port}/index.html")
        browser.wait_for("document.querySelector('h1')?.innerText.startsWith('fedsim')")
        images = browser.evaluate("document.images.length")
        assert images >= 1
        assert browser.wait_for(
            "[...document.images].every(i => i.complete && i.naturalWidth > 0)")
        assert browser.errors == [], browser.errors

        browser.goto(f"http://127.0.0.1:{port}/reference/api/")
        text = browser.wait_for("(t => t.includes('LRController') && t)(document.body.innerText)")
        assert "forgetting" in text and "final_task_boundary" in text
        browser.screenshot(tmp_path / "docs-api.png")  # not shown in the docs
        assert browser.errors == [], browser.errors
    finally:
        stop(http)
