"""dashboard_state / dashboard_html without a browser."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fedrisk.errors import DataNotFoundError
from fedrisk.report.dashboard import dashboard_html, dashboard_state


def test_state_of_a_minimal_run(minimal_run: Path) -> None:
    # Act
    state = dashboard_state(minimal_run)
    # Assert
    assert state["run_id"] == "synthetic-minimal"
    assert [m["member"] for m in state["members"]] == ["alpha", "beta", "gamma", "delta"]
    assert state["tiers_recorded"] is False
    for key in ("rounds", "budgets", "audit", "index"):
        assert state[key]["available"] is False and state[key]["note"]
    json.dumps(state, allow_nan=False)


def test_state_of_a_full_run(full_run: Path) -> None:
    # Act
    state = dashboard_state(full_run)
    # Assert
    budgets = {r["member"]: r for r in state["budgets"]["rows"]}
    assert budgets["alpha"]["epsilon_spent"] == pytest.approx(5.5)
    assert budgets["alpha"]["used"] == pytest.approx(5.5 / 8.0)
    assert state["audit"] == {
        "available": True,
        "ok": False,
        "summary": "FAILED at record 17 (line 18): signature does not verify",
        "n_records": 41,
        "source": "as recorded by the run in results.json",
    }


def test_tiers_come_from_a_governance_section(tmp_path: Path, minimal_run: Path) -> None:
    # Arrange
    results = json.loads((minimal_run / "results.json").read_text())
    results["governance"] = {"members": [{"id": "alpha", "tier": "founding", "status": "active"}]}
    (minimal_run / "results.json").write_text(json.dumps(results))
    # Act
    state = dashboard_state(minimal_run)
    # Assert
    assert state["members"] == [{"member": "alpha", "tier": "founding", "status": "active"}]
    assert state["tiers_recorded"] is True


def test_quick_run_state(quick_run: Path) -> None:
    # Act
    state = dashboard_state(quick_run)
    # Assert
    assert state["rounds"]["available"] and state["rounds"]["rows"][-1]["round"] == state["rounds"]["best_round"]
    assert state["index"]["available"] and "MARKET" in state["index"]["values"]
    json.dumps(state, allow_nan=False)


def test_page_embeds_state_safely(tmp_path: Path, minimal_run: Path) -> None:
    # Arrange: a run id that tries to close the script element
    results = json.loads((minimal_run / "results.json").read_text())
    results["run_id"] = "</script><script>alert(1)</script>"
    (minimal_run / "results.json").write_text(json.dumps(results))
    # Act
    page = dashboard_html(minimal_run, poll_seconds=1)
    # Assert
    assert "<script>alert(1)" not in page
    assert page.count("</script>") == 3
    for url in ("/v1/stress/index", "/v1/models", "/healthz", "/v1/dashboard/state"):
        assert url in page
    assert re.findall(r"(?:src|href)=['\"](?!data:)([^'\"]+)", page) == []


def test_missing_run_dir(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError):
        dashboard_state(tmp_path / "missing")


def test_audit_section_as_the_demo_writes_it(minimal_run: Path) -> None:
    # Arrange: the shape of fedrisk.jobs.trail.close_and_verify, without the log file beside it
    results = json.loads((minimal_run / "results.json").read_text())
    results["audit"] = {"log": "audit.jsonl", "ok": True, "records": 57, "reason": None, "countersignatures": 12}
    (minimal_run / "results.json").write_text(json.dumps(results))
    # Act
    audit = dashboard_state(minimal_run)["audit"]
    # Assert
    assert audit["ok"] is True and audit["n_records"] == 57
    assert "member countersignatures: 12" in audit["summary"]


def test_audit_log_is_verified_fresh_when_present(minimal_run: Path) -> None:
    # Arrange: a "log" that is not a valid audit trail, although results.json claims it verified
    results = json.loads((minimal_run / "results.json").read_text())
    results["audit"] = {"log": "audit.jsonl", "ok": True, "records": 1}
    (minimal_run / "results.json").write_text(json.dumps(results))
    (minimal_run / "audit.jsonl").write_text('{"seq": 0, "tampered": true}\n')
    # Act
    audit = dashboard_state(minimal_run)["audit"]
    # Assert
    assert audit["ok"] is False
    assert audit["source"].startswith("verified now from audit.jsonl")
