"""Reports open in headless Chromium: the page loads, every image decodes, no console error, no network request.

Chromium is driven over its DevTools protocol on a pipe (``--remote-debugging-pipe``:
NUL-separated JSON on file descriptors 3 and 4), so the test needs no
Python package and no browser download; Debian's ``chromium`` package is
enough (CI installs it). Without it the tests skip, saying so (they fail
instead when ``IMGCLASS_REQUIRE_CHROMIUM=1``). ``--no-sandbox``: CI runs as root.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.evaluate import linear_run, linear_sweep_run, optuna_sweep_dir, seeds_run, train_run

CHROMIUM = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


@pytest.fixture(autouse=True)
def _need_chromium():
    """Skip without Chromium, unless IMGCLASS_REQUIRE_CHROMIUM=1 (CI) makes that a failure."""
    if CHROMIUM is None:
        why = "headless Chromium not installed (Debian: apt-get install -y chromium)"
        if os.environ.get("IMGCLASS_REQUIRE_CHROMIUM") == "1":
            pytest.fail(why)
        pytest.skip(why)


class DevTools:
    """A headless Chromium and a minimal DevTools-protocol client over the debugging pipe."""

    def __init__(self, user_dir: Path, timeout: float = 30.0):
        to_chrome_r, self._out = os.pipe()
        self._in, from_chrome_w = os.pipe()

        def child_fds():  # the protocol's fixed descriptors: 3 = commands in, 4 = replies out
            a, b = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--remote-debugging-pipe", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
             f"--user-data-dir={user_dir}", "about:blank"],
            preexec_fn=child_fds, close_fds=False, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.timeout, self._buf, self._id, self.events = timeout, b"", 0, []

    def _recv(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            ready, _, _ = select.select([self._in], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise EOFError("Chromium closed the debugging pipe")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}, **({"sessionId": session} if session else {})}
        os.write(self._out, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            m = self._recv(deadline)
            if m.get("id") == self._id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_for(self, method: str) -> dict:
        deadline = time.monotonic() + self.timeout
        seen = 0
        while True:
            for e in self.events[seen:]:
                if e.get("method") == method:
                    return e
            seen = len(self.events)
            self.events.append(self._recv(deadline))

    def close(self) -> None:
        try:
            self.call("Browser.close")
            self.proc.wait(10)
        except Exception:  # noqa: BLE001 - whatever happened, do not leave the browser running
            self.proc.kill()
            self.proc.wait()
        finally:
            os.close(self._out)
            os.close(self._in)


IMAGES_JS = """Promise.all(Array.from(document.images, img => img.decode().then(() => true, () => false)
  .then(decoded => ({src: img.getAttribute('src').slice(0, 30), complete: img.complete,
                     width: img.naturalWidth, decoded}))))"""


def open_page(path: Path, user_dir: Path) -> dict:
    """Load ``path`` in headless Chromium; return its images, console problems and network requests."""
    dt = DevTools(user_dir)
    try:
        target = dt.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        s = dt.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            dt.call(f"{domain}.enable", session=s)
        dt.events.clear()  # only what the page does from here on
        url = path.resolve().as_uri()
        nav = dt.call("Page.navigate", {"url": url}, session=s)
        assert "errorText" not in nav, nav
        dt.wait_for("Page.loadEventFired")
        images = dt.call("Runtime.evaluate", {"expression": IMAGES_JS, "awaitPromise": True, "returnByValue": True},
                         session=s)["result"]["value"]
        counted = dt.call("Runtime.evaluate", {"expression": "document.querySelectorAll('img').length",
                                               "returnByValue": True}, session=s)["result"]["value"]
        title = dt.call("Runtime.evaluate", {"expression": "document.title", "returnByValue": True},
                        session=s)["result"]["value"]
    finally:
        dt.close()
    p = [e.get("params", {}) for e in dt.events]
    by = [(e.get("method"), q) for e, q in zip(dt.events, p)]
    return {
        "url": url, "title": title, "images": images, "img_elements": counted,
        "console": [f"{q['type']}: {q.get('args')}" for m, q in by
                    if m == "Runtime.consoleAPICalled" and q.get("type") in ("error", "warning", "assert")],
        "exceptions": [q.get("exceptionDetails") for m, q in by if m == "Runtime.exceptionThrown"],
        "log": [f"{q['entry']['level']}: {q['entry'].get('text')}" for m, q in by
                if m == "Log.entryAdded" and q["entry"]["level"] in ("error", "warning")],
        "requests": [q["request"]["url"] for m, q in by if m == "Network.requestWillBeSent"],
        "failed": [q.get("errorText") for m, q in by if m == "Network.loadingFailed"],
    }


def problems(result: dict) -> list[str]:
    """Everything wrong with a loaded page (empty when it is clean)."""
    out = [f"image {i} not decoded: {img}" for i, img in enumerate(result["images"])
           if not (img["complete"] and img["width"] > 0 and img["decoded"])]
    if len(result["images"]) != result["img_elements"]:
        out.append(f"{result['img_elements']} <img> elements but {len(result['images'])} checked")
    out += [f"console {c}" for c in result["console"]]
    out += [f"exception {e}" for e in result["exceptions"]]
    out += [f"log {entry}" for entry in result["log"]]
    out += [f"failed load {f}" for f in result["failed"]]
    out += [f"network request {u[:80]}" for u in result["requests"] if u != result["url"] and not u.startswith("data:")]
    return out


def test_the_checker_catches_broken_images_console_errors_and_requests(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><meta charset=utf-8><title>bad</title></head><body>'
                   '<img src="data:image/png;base64,AAAA"><img src="missing.png">'
                   '<script>console.error("boom")</script></body></html>')
    found = "\n".join(problems(open_page(bad, tmp_path / "profile")))
    assert "image 0 not decoded" in found and "image 1 not decoded" in found
    assert "boom" in found
    assert "network request file://" in found and "missing.png" in found


@pytest.mark.parametrize(("make", "figures"), [
    (train_run, 4),  # curves, per-class, confusion, mistakes
    (seeds_run, 5),  # spread + (curves, confusion) per seed
    (linear_run, 5),  # loss, templates, and the test split's per-class, confusion, mistakes
    (linear_sweep_run, 7),  # two scatter plots, loss, templates, per-class, confusion, mistakes
    (optuna_sweep_dir, 5),  # three sweep plots + the best trial's curves and confusion
], ids=["train", "seeds", "linear", "linear-sweep", "optuna-sweep"])
def test_report_loads_cleanly_in_chromium(make, figures, tmp_path_factory, tmp_path):
    from imgclass.evaluate.report import write_report

    path = write_report(make(tmp_path_factory), tmp_path / "report.html")
    result = open_page(path, tmp_path / "profile")
    assert problems(result) == []
    assert len(result["images"]) == figures
    assert result["title"]


def test_compare_page_loads_cleanly_in_chromium(tmp_path_factory, tmp_path):
    from imgclass.evaluate.compare import compare_runs, write_comparison_html

    page = write_comparison_html(compare_runs([train_run(tmp_path_factory), linear_run(tmp_path_factory)]),
                                 tmp_path / "compare.html")
    assert problems(open_page(page, tmp_path / "profile")) == []
