"""The results.json "contribution" section and `fedrisk contribution report`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from fedrisk.cli import contribution as contribution_cli
from fedrisk.contribution import (
    RewardRules,
    build_contribution_section,
    exact_shapley,
    parse_contribution_section,
    read_contribution_section,
)
from fedrisk.errors import DataNotFoundError, DataValidationError, QuorumError

from .conftest import data_like_game

SEVEN = [f"m{i}" for i in range(7)]
RULES = RewardRules(pool=1000.0, floor=0.02, cap=0.4, premium_top_k=2, premium_factor=1.5)


def section_for(players: list[str], **kwargs: Any) -> tuple[dict[str, Any], list[frozenset[str]]]:
    calls: list[frozenset[str]] = []
    game = data_like_game(SEVEN)

    def utility(s: frozenset[str]) -> float:
        calls.append(s)
        return game(s & frozenset(SEVEN))

    section = build_contribution_section(
        players, utility, RULES, sampled_permutations=8, rng=np.random.default_rng(0), **kwargs
    )
    return section, calls


def test_section_for_seven_members_has_exact_values_sampled_comparison_loo_and_rewards() -> None:
    # Arrange / Act
    section, calls = section_for(SEVEN)
    exact = exact_shapley(SEVEN, data_like_game(SEVEN))
    # Assert: the schema, JSON-safe
    json.dumps(section, allow_nan=False)
    assert section["schema_version"] == 1
    assert section["method"] == "exact"
    assert section["utility_metric"] == "auprc" and section["utility_mode"] == "private"
    rows = {r["member"]: r for r in section["members"]}
    assert {m: r["shapley"] for m, r in rows.items()} == pytest.approx(exact.values)
    assert sum(r["shapley"] for r in rows.values()) == pytest.approx(section["total_value"])
    # no coalition evaluated twice, across exact, sampled and leave-one-out
    assert len(calls) == len(set(calls)) == section["n_coalitions_evaluated"] == 128
    # leave-one-out: m0 and m1 hold the same data, so leaving either out costs nothing
    assert rows["m0"]["loo"] == pytest.approx(0.0) and rows["m1"]["loo"] == pytest.approx(0.0)
    assert rows["m6"]["loo"] < 0 and rows["m2"]["loo"] > 0
    # rewards
    assert sum(r["reward_share"] for r in rows.values()) == pytest.approx(1.0)
    assert sum(r["reward"] for r in rows.values()) == pytest.approx(1000.0)
    assert rows["m6"]["reward_share"] == pytest.approx(0.02)  # negative value -> 0 -> floor
    assert [m for m, r in rows.items() if r["premium"]] == ["m0", "m1"]
    # sampled estimate side by side with its cost and error
    evs = section["exact_vs_sampled"]
    assert evs["exact_evaluations"] == 128
    assert 0 < evs["sampled_evaluations"] <= 128
    assert evs["evaluation_fraction"] == pytest.approx(evs["sampled_evaluations"] / 128)
    assert evs["sampled_permutations"] == 8 and evs["antithetic"] is True
    errors = [abs(evs["sampled"][m] - exact.values[m]) for m in SEVEN]
    assert evs["max_abs_error"] == pytest.approx(max(errors))
    assert evs["max_error_pct_of_total"] == pytest.approx(100 * max(errors) / exact.total)


def test_three_members_withhold_leave_one_out() -> None:
    section, _ = section_for(["m0", "m2", "m3"])
    assert all(r["loo"] is None for r in section["members"])
    assert "fewer than 3" in section["loo_note"]


def test_above_the_exact_limit_the_sampled_estimate_is_reported() -> None:
    # Act
    section, calls = section_for(SEVEN, exact_max_players=6)
    # Assert
    assert section["method"] == "monte_carlo"
    assert section["exact_vs_sampled"] is None
    assert len(set(calls)) < 128
    assert all(r["std_error"] >= 0 for r in section["members"])


def test_fewer_than_three_members_are_refused() -> None:
    with pytest.raises(QuorumError, match="contribution values over 2 members"):
        section_for(["m0", "m1"])


def write_run(tmp_path: Path, section: object) -> Path:
    (tmp_path / "results.json").write_text(json.dumps({"other": {}, "contribution": section}))
    return tmp_path


def test_report_prints_a_table(tmp_path: Path) -> None:
    # Arrange
    section, _ = section_for(SEVEN)
    run = write_run(tmp_path, section)
    # Act
    result = CliRunner().invoke(contribution_cli.app, ["report", "--run", str(run)])
    # Assert
    assert result.exit_code == 0, result.output
    assert "method: exact" in result.output
    row = next(line for line in result.output.splitlines() if line.startswith("m2 "))
    m2 = next(r for r in section["members"] if r["member"] == "m2")
    assert f"{m2['shapley']:.4f}" in row and f"{100 * m2['reward_share']:.1f}%" in row
    assert "sampled vs exact:" in result.output and "of 128 coalitions" in result.output


def test_report_json_is_the_section(tmp_path: Path) -> None:
    # Arrange
    section, _ = section_for(SEVEN)
    run = write_run(tmp_path, section)
    # Act
    result = CliRunner().invoke(contribution_cli.app, ["report", "--run", str(run), "--json"])
    # Assert
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == json.loads(json.dumps(section))


def test_report_through_the_fedrisk_command_tree(tmp_path: Path) -> None:
    # Arrange
    try:
        from fedrisk.cli.app import app
    except ImportError as err:  # the lead wires the remaining command groups
        pytest.skip(f"fedrisk.cli.app is not importable yet: {err}")
    section, _ = section_for(["m0", "m2", "m3"])
    # Act
    result = CliRunner().invoke(app, ["contribution", "report", "--run", str(write_run(tmp_path, section))])
    # Assert
    assert result.exit_code == 0, result.output
    assert "leave-one-out withheld" in result.output


def test_missing_results_file_is_a_data_not_found_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(contribution_cli.app, ["report", "--run", str(tmp_path)])
    assert isinstance(result.exception, DataNotFoundError)
    assert "results.json not found" in str(result.exception)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"stress": {}}), "no 'contribution' section"),
    ],
)
def test_unreadable_results_are_rejected(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "results.json").write_text(content)
    with pytest.raises(DataValidationError, match=message):
        read_contribution_section(tmp_path)


def test_invalid_section_lists_every_problem() -> None:
    # Arrange
    bad = {
        "method": "guess",
        "utility_metric": "auprc",
        "n_coalitions_evaluated": -1,
        "members": [
            {"member": "a", "shapley": "high", "std_error": 0.0, "loo": None, "reward_share": 0.5},
            {"member": "b", "shapley": 0.1, "std_error": 0.0, "reward_share": 0.5, "premium": False},
        ],
    }
    # Act
    with pytest.raises(DataValidationError) as err:
        parse_contribution_section(bad)
    # Assert
    message = str(err.value)
    for fragment in (
        "method must be one of",
        "n_coalitions_evaluated",
        "members[0].shapley",
        "members[0].premium",
        "members[1].loo",
    ):
        assert fragment in message


def test_a_valid_section_over_two_members_is_not_reported() -> None:
    row = {"shapley": 0.1, "std_error": 0.0, "loo": None, "reward_share": 0.5, "premium": False}
    section = {
        "method": "exact",
        "utility_metric": "auprc",
        "n_coalitions_evaluated": 4,
        "members": [{"member": "a", **row}, {"member": "b", **row}],
    }
    with pytest.raises(QuorumError):
        parse_contribution_section(section)
