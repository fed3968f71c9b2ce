"""The live dashboard is served at `/` of the scoring service, with its state endpoint."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient


def test_model_only_run_dir_still_serves_a_page(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "No dashboard for this run directory" in page.text
    assert client.get("/v1/dashboard/state").json()["available"] is False
    assert client.get("/healthz").status_code == 200


def test_dashboard_page_and_state_are_served(run_dir: Path) -> None:
    from fedrisk.serving import create_app

    (run_dir / "results.json").write_text(
        '{"run_id": "r1", "stress": {"members": [{"member": "kraken"}], "federation": {"jobs": {}}}}'
    )
    with TestClient(create_app(run_dir), raise_server_exceptions=False) as c:
        page = c.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "fedrisk dashboard" in page.text and "fetch(" in page.text
        state = c.get("/v1/dashboard/state").json()
        assert state["run_id"] == "r1" and {"members", "rounds", "audit"} <= set(state)
        assert c.get("/v1/dashboard/state").json() == state  # cached between polls


def test_dashboard_on_a_real_quick_run(demo_quick_run: tuple[Path, dict[str, Any], str], tmp_path: Path) -> None:
    from fedrisk.serving import create_app

    run = tmp_path / "run"
    shutil.copytree(demo_quick_run[0], run)
    with TestClient(create_app(run), raise_server_exceptions=False) as c:
        assert "fedrisk dashboard" in c.get("/").text
