"""build_report without a browser: sections present or plainly absent, self-contained, clear errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tests.report.conftest import synthetic_results, write_run
from typer.testing import CliRunner

from fedrisk.cli.app import app
from fedrisk.errors import DataNotFoundError, DataValidationError
from fedrisk.report import build_report

SECTIONS = (
    "index",
    "quality",
    "onboarding",
    "rounds",
    "warning",
    "privacy",
    "governance",
    "contribution",
    "loo",
    "audit",
    "attacks",
)


def _present(html: str) -> dict[str, bool]:
    found = re.findall(r"data-section='(\w+)' data-present='(true|false)'", html)
    return {key: flag == "true" for key, flag in found}


def _external_refs(html: str) -> list[str]:
    return re.findall(r"(?:src|href)=['\"](?!data:|#)([^'\"]+)", html)


def test_minimal_run_says_what_is_absent(minimal_run: Path) -> None:
    # Act
    out = build_report(minimal_run)
    html = out.read_text(encoding="utf-8")
    # Assert
    assert out == minimal_run / "report.html"
    present = _present(html)
    assert set(present) == {"summary", *SECTIONS}
    assert present["quality"] and present["summary"]
    for key in ("index", "onboarding", "rounds", "warning", "privacy", "governance", "contribution", "loo", "audit"):
        assert not present[key], key
    assert not present["attacks"]
    assert "no stress_index.csv" in html
    assert "no privacy section" in html and "no audit trail" in html and "no attack results" in html
    assert "Federation paid for every member" in html
    assert _external_refs(html) == []


def test_full_run_shows_every_optional_section(full_run: Path, tmp_path: Path) -> None:
    # Act
    out = build_report(full_run, tmp_path / "sub" / "r.html")
    html = out.read_text(encoding="utf-8")
    # Assert
    present = _present(html)
    assert all(present[k] for k in ("privacy", "contribution", "loo", "audit", "attacks"))
    assert "NOT VERIFIED" in html and "signature does not verify" in html
    assert "data-figure='epsilon'" in html and "data-figure='contribution'" in html and "data-figure='loo'" in html
    assert "membership inference" in html and "DP + SecAgg" in html
    assert "45.0 %" in html  # alpha's reward share
    assert _external_refs(html) == []


def test_quick_run_report(quick_run: Path, tmp_path: Path) -> None:
    # Arrange
    results = json.loads((quick_run / "results.json").read_text())
    # Act
    html = build_report(quick_run, tmp_path / "report.html").read_text(encoding="utf-8")
    # Assert
    present = _present(html)
    assert all(present[k] for k in ("index", "quality", "onboarding", "rounds", "warning"))
    assert html.count("src='data:image/png;base64,") >= 5
    assert _external_refs(html) == []
    for member in results["stress"]["members"]:
        assert member["member"] in html
    gains = [m["auprc_federated"] - m["auprc_local"] for m in results["stress"]["members"]]
    if all(g <= 0 for g in gains):
        assert "Federation did not pay in this run" in html
    assert "Withheld: XRP" in html or "XRP" not in set(results["stress"]["index"]["warning"]["assets"])


def test_contribution_over_too_few_members_is_refused(tmp_path: Path) -> None:
    # Arrange
    results = synthetic_results(full=True)
    results["contribution"]["members"] = results["contribution"]["members"][:2]
    run = write_run(tmp_path / "two", results)
    # Act
    html = build_report(run).read_text(encoding="utf-8")
    # Assert
    assert _present(html)["contribution"] is False
    assert "absent error" in html and "at least 3" in html


def test_malformed_optional_sections_do_not_break_the_report(tmp_path: Path) -> None:
    # Arrange
    results = synthetic_results(full=False) | {"privacy": [1, 2], "audit": {"n_records": 3}, "attacks": {"x": 1}}
    results["stress"]["members"].append({"member": "nodata", "auprc_federated": None})
    run = write_run(tmp_path / "bad", results)
    # Act
    html = build_report(run).read_text(encoding="utf-8")
    # Assert
    present = _present(html)
    assert not present["privacy"] and not present["audit"] and not present["attacks"]
    assert html.count("absent error") == 3
    assert "No quality can be measured for nodata" in html


def test_missing_run_dir(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="not found"):
        build_report(tmp_path / "nope")


def test_missing_results_json(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"results\.json"):
        build_report(tmp_path)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", ""])
def test_corrupt_results_json(tmp_path: Path, text: str) -> None:
    # Arrange
    (tmp_path / "results.json").write_text(text)
    # Act / Assert
    with pytest.raises(DataValidationError, match=r"results\.json"):
        build_report(tmp_path)
    assert not (tmp_path / "report.html").exists()


def test_unreadable_index_is_reported_not_fatal(minimal_run: Path) -> None:
    # Arrange
    (minimal_run / "stress_index.csv").write_text("a,b\n1,2\n")
    # Act
    html = build_report(minimal_run).read_text(encoding="utf-8")
    # Assert
    assert "lacks the columns" in html


def test_cli_prints_the_path(minimal_run: Path, tmp_path: Path) -> None:
    # Act
    result = CliRunner().invoke(app, ["report", str(minimal_run), "--out", str(tmp_path / "x.html")])
    # Assert
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(tmp_path / "x.html")
    assert (tmp_path / "x.html").stat().st_size > 1000


def test_cli_missing_dir_raises_data_error(tmp_path: Path) -> None:
    # Act
    result = CliRunner().invoke(app, ["report", str(tmp_path / "nope")])
    # Assert
    assert result.exit_code != 0
    assert isinstance(result.exception, DataNotFoundError)
