"""`fedrisk privacy` commands through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from fedrisk.errors import ConfigError
from fedrisk.privacy.ledger import BudgetPolicy, PrivacyBudget, open_ledger


def _root_app() -> tuple[typer.Typer, list[str]]:
    """The whole ``fedrisk`` tree when it imports; else the privacy group alone (other groups in progress)."""
    try:
        from fedrisk.cli.app import app
    except ImportError:
        from fedrisk.cli.privacy import app as privacy_app

        return privacy_app, []
    return app, ["privacy"]


APP, PREFIX = _root_app()
RUNNER = CliRunner()
KNOWN = ["--noise-multiplier", "1.0", "--sample-rate", "0.1", "--rounds", "50", "--delta", "1e-5"]


@pytest.mark.parametrize(("accountant", "expected"), [("pld", 5.148), ("rdp", 5.885)])
def test_epsilon_known_values_json(accountant: str, expected: float) -> None:
    # Act
    result = RUNNER.invoke(APP, [*PREFIX, "epsilon", *KNOWN, "--accountant", accountant, "--json"])
    # Assert
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["epsilon"] == pytest.approx(expected, abs=1e-3)
    assert payload["accountant"] == accountant


def test_epsilon_text_output() -> None:
    # Act
    result = RUNNER.invoke(APP, [*PREFIX, "epsilon", *KNOWN])
    # Assert
    assert result.exit_code == 0
    assert "ε = 5.1483" in result.output


def test_calibrate_json() -> None:
    # Act
    result = RUNNER.invoke(
        APP,
        [*PREFIX, "calibrate", "--target-epsilon", "3", *KNOWN[2:], "--accountant", "rdp", "--json"],
    )
    # Assert
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["noise_multiplier"] == pytest.approx(1.4532, abs=1e-3)
    assert payload["epsilon"] <= 3.0


def test_bad_argument_raises_config_error() -> None:
    # Act
    result = RUNNER.invoke(APP, [*PREFIX, "epsilon", *KNOWN[:-1], "2.0"])
    # Assert: fedrisk.cli.app.main turns this into a one-line message and exit code 2
    assert isinstance(result.exception, ConfigError)
    assert "delta must be in (0, 1)" in str(result.exception)


def test_ledger_shows_spend_against_budget(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "ledger.sqlite"
    book = open_ledger(path, BudgetPolicy(PrivacyBudget(8.0, 1e-5)))
    for member in ("bank-a", "bank-b", "bank-c"):
        book.commit(member, round=1, level="member", noise_multiplier=1.0, sample_rate=0.1, steps=50)
    # Act
    as_json = RUNNER.invoke(APP, [*PREFIX, "ledger", str(path), "--json"])
    as_text = RUNNER.invoke(APP, [*PREFIX, "ledger", str(path)])
    # Assert
    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.output)["members"]
    assert [r["member"] for r in rows] == ["bank-a", "bank-b", "bank-c"]
    assert rows[0]["epsilon_spent"] == pytest.approx(5.148, abs=1e-3)
    assert rows[0]["fraction_used"] == pytest.approx(5.148 / 8, abs=1e-3)
    assert as_text.exit_code == 0
    assert "bank-b" in as_text.output and "5.1483" in as_text.output and "64.4 %" in as_text.output


def test_ledger_missing_file_is_a_config_error(tmp_path: Path) -> None:
    # Act
    result = RUNNER.invoke(APP, [*PREFIX, "ledger", str(tmp_path / "nope.sqlite")])
    # Assert
    assert isinstance(result.exception, ConfigError)
    assert "no privacy ledger at" in str(result.exception)
