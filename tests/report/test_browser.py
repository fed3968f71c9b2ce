"""The report and the dashboard in headless Chromium: no console errors, key elements present, screenshots.

Skipped with a reason when /usr/bin/chromium (scripts/install-browser) or playwright is absent. Screenshots go
to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from fedrisk.jobs.stress_config import QUICK_MEMBERS
from fedrisk.report import build_report
from fedrisk.report.dashboard import dashboard_html, dashboard_state


class PageWatch:
    """Console errors, uncaught exceptions and requests of one page."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url}"))
        page.on("request", lambda r: self.requests.append(r.url))


@pytest.fixture
def watched(browser_context: Any) -> Iterator[PageWatch]:
    page = browser_context.new_page()
    try:
        yield PageWatch(page)
    finally:
        page.close()


def _open_report(watch: PageWatch, html: Path) -> Any:
    page = watch.page
    page.goto(html.as_uri(), wait_until="load")
    page.wait_for_function("Array.from(document.images).every(i => i.complete)")
    return page


def _assert_images_render(page: Any) -> int:
    sizes = page.eval_on_selector_all("img", "els => els.map(e => [e.naturalWidth, e.naturalHeight])")
    assert all(w > 100 and h > 100 for w, h in sizes), sizes
    return len(sizes)


def test_quick_run_report_in_browser(quick_run: Path, watched: PageWatch, artifacts: Path, tmp_path: Path) -> None:
    # Arrange
    html = build_report(quick_run, tmp_path / "report.html")
    # Act
    page = _open_report(watched, html)
    page.screenshot(path=str(artifacts / "report-quick-run.png"), full_page=True)
    page.locator("#summary").screenshot(path=str(artifacts / "report-quick-run-summary.png"))
    # Assert
    assert watched.errors == []
    assert all(u.startswith(("file:", "data:")) for u in watched.requests), watched.requests
    assert page.locator("h1").inner_text() == "Federated liquidity-stress report"
    assert page.locator("#summary li").count() >= 4
    for key in ("index", "quality", "onboarding", "rounds", "warning"):
        assert page.locator(f"section[data-section='{key}']").get_attribute("data-present") == "true", key
        assert page.locator(f"section[data-section='{key}'] img").count() >= 1, key
    for key in ("privacy", "contribution", "loo", "audit", "attacks", "governance"):  # the demo runs them all
        assert page.locator(f"section[data-section='{key}']").get_attribute("data-present") == "true", key
    assert page.locator("table[data-table='quality'] tbody tr").count() == len(
        json.loads((quick_run / "results.json").read_text())["stress"]["members"]
    )
    assert _assert_images_render(page) >= 5
    # the page fits the window: nothing forces a horizontal scroll
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_full_synthetic_report_in_browser(full_run: Path, watched: PageWatch, artifacts: Path) -> None:
    # Act
    page = _open_report(watched, build_report(full_run))
    page.screenshot(path=str(artifacts / "report-synthetic-all-sections.png"), full_page=True)
    # Assert
    assert watched.errors == []
    for key in ("quality", "privacy", "contribution", "loo", "audit", "attacks"):
        assert page.locator(f"section[data-section='{key}']").get_attribute("data-present") == "true", key
    assert page.locator("[data-audit-ok='false'] .badge.fail").inner_text() == "NOT VERIFIED"
    assert page.locator("table[data-table='attacks'] tbody tr").count() == 2
    assert _assert_images_render(page) == 4  # quality, epsilon, contribution, leave-one-out


def test_minimal_report_in_browser(minimal_run: Path, watched: PageWatch, artifacts: Path) -> None:
    # Act
    page = _open_report(watched, build_report(minimal_run))
    page.screenshot(path=str(artifacts / "report-minimal-absent-sections.png"), full_page=True)
    # Assert
    assert watched.errors == []
    assert page.locator(".absent").count() == 10  # every optional section, governance included
    assert "Federation paid for every member" in page.locator("#summary").inner_text()


class _Stub:
    """JSON stubs of the scoring service; the index moves on every call so refreshes are visible."""

    def __init__(self, run_dir: Path, poll_seconds: float) -> None:
        self.page = dashboard_html(run_dir, poll_seconds=poll_seconds, state_poll_seconds=poll_seconds)
        self.state = dashboard_state(run_dir)
        self.calls = 0

    def index(self) -> dict[str, Any]:
        self.calls += 1
        market = 10.0 + self.calls
        return {
            "latest": {
                "ts_utc": f"2026-01-01T{self.calls % 24:02d}:00:00+00:00",
                "market": market,
                "assets": {"BTC": market + 1, "ETH": 99.0, "XRP": None},
            },
            "history": [{"ts_utc": f"t{i}", "market": 5.0 + i % 7} for i in range(48)],
        }

    def routes(self) -> dict[str, Callable[[], object]]:
        return {
            "/healthz": lambda: {"status": "ok"},
            "/v1/stress/index": self.index,
            "/v1/models": lambda: {"models": [{"name": "stress", "sha256": "ab" * 32, "audit_seq": 12}]},
            "/v1/dashboard/state": lambda: self.state,
        }


@pytest.fixture
def serve() -> Iterator[Callable[[_Stub], str]]:
    servers: list[ThreadingHTTPServer] = []

    def start(stub: _Stub) -> str:
        routes = stub.routes()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/":
                    body, ctype = stub.page.encode(), "text/html; charset=utf-8"
                elif self.path in routes:
                    body, ctype = json.dumps(routes[self.path]()).encode(), "application/json"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_dashboard_refreshes_without_reload(
    quick_run: Path, watched: PageWatch, artifacts: Path, serve: Callable[[_Stub], str]
) -> None:
    # Arrange
    stub = _Stub(quick_run, poll_seconds=0.4)
    url = serve(stub)
    page = watched.page
    # Act
    page.goto(url, wait_until="load")
    page.wait_for_function("Number(document.getElementById('refreshed').dataset.refreshes) >= 1")
    loaded_at = page.evaluate("window.__dashboardLoadedAt")
    first = page.locator("#index-market").inner_text()
    page.wait_for_function("Number(document.getElementById('refreshed').dataset.refreshes) >= 3")
    page.screenshot(path=str(artifacts / "dashboard-quick-run.png"), full_page=True)
    # Assert
    assert watched.errors == []
    assert page.evaluate("window.__dashboardLoadedAt") == loaded_at  # updated in place, never reloaded
    assert page.locator("#index-market").inner_text() != first
    assert float(page.locator("#index-market").inner_text()) > 10.0
    assert "ALARM" in page.locator("[data-asset='ETH']").inner_text()  # 99 is above ETH's alarm level
    assert "withheld" in page.locator("[data-asset='XRP']").inner_text()
    assert page.locator("#health").inner_text() == "service up"
    assert page.locator("#members tbody tr").count() == len(stub.state["members"])
    assert page.locator("#rounds tbody tr").count() == len(stub.state["rounds"]["rows"])
    assert "abababab" in page.locator("#models").inner_text()
    assert page.locator("#index-spark polyline").count() == 1
    assert page.locator("#budgets tbody tr").count() == len(QUICK_MEMBERS)  # the privacy section's ledgers


def test_dashboard_of_a_full_run(
    full_run: Path, watched: PageWatch, artifacts: Path, serve: Callable[[_Stub], str]
) -> None:
    # Arrange
    url = serve(_Stub(full_run, poll_seconds=0.4))
    page = watched.page
    # Act
    page.goto(url, wait_until="load")
    page.wait_for_function("Number(document.getElementById('refreshed').dataset.refreshes) >= 2")
    page.screenshot(path=str(artifacts / "dashboard-synthetic.png"), full_page=True)
    # Assert
    assert watched.errors == []
    assert page.locator("#budgets tbody tr").count() == 4
    assert page.locator("#audit .pill.fail").inner_text() == "NOT VERIFIED"
    assert "no federated rounds" in page.locator("#rounds").inner_text()
